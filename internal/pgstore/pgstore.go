// Package pgstore is linkd's production store: every storage interface on
// PostgreSQL through pgx/v5, with bulk work done by COPY into a staging table
// and set-based SQL, never a round trip per row. Driver errors are mapped to
// internal/store's at this edge.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/linkd/linkd/internal/store"
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
		return nil, errors.New("pgstore: the database URL is not a valid PostgreSQL connection string")
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	// linkd's queries are short and their plans simple: compiling them
	// (JIT, which PostgreSQL starts on large estimates) costs more than
	// it saves, 130 ms on a join of 10,000 staged values.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok && !strings.Contains(url, "jit=") {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	// pgxpool's default (4 on this kind of machine) throttles requests
	// that mostly wait on commits; the URL's pool_max_conns still wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connecting: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connecting to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// PostgreSQL error codes mapped at the edge.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// mapErr turns driver errors into internal/store's.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return fmt.Errorf("%w: %s", store.ErrConflict, pe.ConstraintName)
		case codeForeignKeyViolation:
			return fmt.Errorf("%w: %s", store.ErrNotFound, pe.ConstraintName)
		}
	}
	return fmt.Errorf("pgstore: %w", err)
}

func utc(t time.Time) time.Time { return t.UTC() }

// tx runs fn in a transaction and maps its error.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	_, err := inTx(ctx, s.pool, func(tx pgx.Tx) (struct{}, error) { return struct{}{}, fn(tx) })
	return mapErr(err)
}

// execOne runs a statement that must touch a row: store.ErrNotFound if none.
func (s *Store) execOne(ctx context.Context, sql string, args ...any) error {
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
