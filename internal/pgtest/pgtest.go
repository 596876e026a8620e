// Package pgtest gives each test its own PostgreSQL schema on the server
// named by TEST_DATABASE_URL, dropped when the test ends.
//
// Without a reachable server the test is skipped with a loud message, except
// when CI is set: then it fails, so that CI never passes on skipped database
// tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  string
)

// URL returns TEST_DATABASE_URL, or skips (fails under CI) without it.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		unavailable(t, "TEST_DATABASE_URL is not set")
	}
	return url
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "\n*** PostgreSQL TESTS NOT RUN: " + why + " ***\n" +
		"*** set TEST_DATABASE_URL (make test sets postgres://postgres@127.0.0.1:5432/test) ***"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "\n*** CI is set: database tests must run ***")
	}
	t.Skip(msg)
}

func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := URL(t)
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := pgxpool.New(ctx, url)
		if err == nil {
			err = p.Ping(ctx)
		}
		if err != nil {
			adminErr = "cannot reach the server: " + err.Error()
			return
		}
		admin = p
	})
	if admin == nil {
		unavailable(t, adminErr)
	}
	return admin
}

// Schema creates an empty schema for the test and returns a pool whose
// connections use it as their search_path, and the schema's name. The
// schema and the pool go away when the test ends.
func Schema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	a := adminPool(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "linkd_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := a.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating schema: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		if _, err := a.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", name, err)
		}
	})
	return pool, name
}

// Dump renders every row of every table of the connection's current
// schema as text (bytea columns print as hex), for tests that search what
// is at rest.
func Dump(t testing.TB, conn interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) string {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) < 5 {
		t.Fatalf("tables: %v, %v", names, err)
	}
	var b strings.Builder
	for _, name := range names {
		rows, err := conn.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{name}.Sanitize()+` t`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "-- %s: %d rows\n%s\n", name, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// Crash empties the unlogged tables of the pool's current schema (but
// River's leader election, which is elected again), which is what
// PostgreSQL's recovery after a crash leaves of them, and returns their
// names in order.
func Crash(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT relname::text FROM pg_class
		WHERE relkind = 'r' AND relpersistence = 'u' AND relnamespace = current_schema()::regnamespace
		  AND relname <> 'river_leader'
		ORDER BY relname`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if _, err := pool.Exec(ctx, `TRUNCATE `+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return tables
}
