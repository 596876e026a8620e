// Package store is linkd's one store, on PostgreSQL through pgx/v5: the
// records every flow keeps (one file per area: the directory, links and
// the link staging, audiences, signals, jobs, API keys, usage, policy
// bundles, the audit log, retention), with bulk work done by COPY into a
// staging table and set-based SQL, never a round trip per row. Driver
// errors are mapped at this edge to package storeerr's, which callers
// above match. The schema is one embedded migration (migrations/), and
// River's job queue lives in the same database. Its conformance suite is
// package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/linkd/linkd/store/storeerr"
)

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	// queue inserts relay jobs in the store's transactions; the workers
	// run where StartRelay is called.
	queue    *river.Client[pgx.Tx]
	queueErr error
	audit    auditGroup
	nudges   nudges
	// keepEvents: a webhook is set, Receive writes events.
	keepEvents  atomic.Bool
	eventNudges nudges
	// subjectNudges: the data-subject relay's.
	subjectNudges nudges
}

// New returns a store on an open pool whose search_path names the schema
// that MigrateUp prepared.
func New(pool *pgxpool.Pool) *Store {
	s := &Store{pool: pool}
	s.queue, s.queueErr = river.NewClient(riverpgxv5.New(pool), &river.Config{SkipUnknownJobCheck: true})
	return s
}

// Pool returns the store's pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// defaultMaxConns is the pool size unless the database URL sets one.
const defaultMaxConns = 16

// Connect opens a pool for the database URL. With schema set, every
// connection uses it as its search_path.
func Connect(ctx context.Context, url, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may carry a password: say what is wrong without it.
		return nil, errors.New("store: the database URL is not a valid PostgreSQL connection string")
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	// linkd's queries are short and their plans simple: compiling them
	// (JIT, which PostgreSQL starts on large estimates) costs more than
	// it saves.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok && !strings.Contains(url, "jit=") {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	// Every statement has a deadline on the server too (the callers' own
	// contexts bound what they wait for): a request's statement that runs
	// away is stopped. Bulk work takes longer (bulkTx).
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok && !strings.Contains(url, "statement_timeout") {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = statementTimeout
	}
	// pgxpool's default (4 on this kind of machine) throttles requests
	// that mostly wait on commits; the URL's pool_max_conns still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connecting: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connecting to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// PostgreSQL error codes mapped at the edge.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeUndefinedTable      = "42P01"
)

// mapErr turns driver errors into storeerr's.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storeerr.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", storeerr.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%w: %s", storeerr.ErrConflict, pe.ConstraintName)
		case codeForeignKeyViolation:
			return fmt.Errorf("%w: %s", storeerr.ErrNotFound, pe.ConstraintName)
		case codeUndefinedTable:
			return fmt.Errorf("%w (%s)", storeerr.ErrNoSchema, pe.Message)
		}
	}
	if strings.HasPrefix(err.Error(), "store: ") {
		return err // mapped before
	}
	return fmt.Errorf("store: %w", err)
}

func utc(t time.Time) time.Time { return t.UTC() }

// unavailable reports whether err says the database did not answer: a
// connection that could not be made or broke, a deadline or a cancelled
// context, the server shutting down or refusing connections, a statement
// stopped by its timeout.
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		pgconn.Timeout(err), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.As(err, &pe):
		// Class 08 (connection exception), 53 (insufficient resources),
		// 57P01-57P03 (shutdown, cannot connect now), 57014 (a statement
		// timeout or a cancelled query).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || pe.Code == "57014" ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return false
}

// tx runs fn in a transaction and maps its error.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, fn))
}

// Statement deadlines on the server: statementTimeout for every statement
// of a connection Connect makes, bulkTimeout in the transactions of bulk
// work (imports, a link run's end, retention, migrations).
const (
	statementTimeout = "60s"
	bulkTimeout      = "2h"
)

// bulkTx is tx for bulk work: its statements may run for bulkTimeout.
func (s *Store) bulkTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '`+bulkTimeout+`'`); err != nil {
			return err
		}
		return fn(tx)
	})
}

// execOne runs a statement that must touch a row: storeerr.ErrNotFound if none.
func (s *Store) execOne(ctx context.Context, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return storeerr.ErrNotFound
	}
	return nil
}
