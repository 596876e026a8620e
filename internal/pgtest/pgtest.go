// Package pgtest gives each test a PostgreSQL store of its own on the
// server named by TEST_DATABASE_URL, gone when the test ends: a database
// copied from a template migrated once (Database, Store), or an empty
// schema for tests that migrate it themselves (Schema).
//
// Tests connect as AppRole, a role without superuser rights that owns its
// schema, as linkd is run: it cannot skip triggers, and once SecureAudit
// hands audit_log to AuditRole it cannot change, delete, truncate or
// un-trigger the audit log either.
//
// Without a reachable server the test is skipped with a loud message, except
// when CI is set: then it fails, so that CI never passes on skipped database
// tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/linkd/linkd/store"
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

// The roles tests connect as and hand the audit log to.
const (
	AppRole   = "linkd_test_app"
	AuditRole = "linkd_test_audit"
)

var rolesOnce sync.Once

// roles creates AppRole and AuditRole on the server if they are missing.
func roles(t testing.TB, a *pgxpool.Pool) {
	t.Helper()
	var err error
	rolesOnce.Do(func() {
		for _, q := range []string{"CREATE ROLE " + AppRole + " LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB",
			"CREATE ROLE " + AuditRole + " NOLOGIN NOSUPERUSER"} {
			// Another test process may create them at the same time.
			_, err = a.Exec(context.Background(), `DO $$ BEGIN EXECUTE '`+q+`';
				EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
			if err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatalf("pgtest: creating the test roles: %v", err)
	}
}

// AppURL is TEST_DATABASE_URL as AppRole, with schema as its search path.
func AppURL(t testing.TB, schema string) string {
	t.Helper()
	return appURL(t, "", schema)
}

// appURL is TEST_DATABASE_URL as AppRole, to database (if set) with
// schema (if set) as its search path.
func appURL(t testing.TB, database, schema string) string {
	t.Helper()
	u, err := url.Parse(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.User(AppRole)
	if database != "" {
		u.Path = "/" + database
	}
	if schema != "" {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// appPool opens a pool of AppRole's connections to url, closed when the
// test ends, before drop (a statement of the administrator's that drops
// what the pool used).
func appPool(t testing.TB, a *pgxpool.Pool, url, drop string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Tests of two packages run at once, each with a few stores: their
	// pools together stay under the server's default 100 connections.
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		if _, err := a.Exec(context.Background(), drop); err != nil {
			t.Errorf("pgtest: %s: %v", drop, err)
		}
	})
	return pool
}

// Schema creates an empty schema for the test, owned by AppRole, and
// returns a pool of AppRole's connections that use it as their
// search_path, and the schema's name. The schema and the pool go away
// when the test ends.
func Schema(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	a := adminPool(t)
	roles(t, a)
	name := "linkd_test_" + randomHex(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize()+" AUTHORIZATION "+AppRole); err != nil {
		t.Fatalf("pgtest: creating schema: %v", err)
	}
	return appPool(t, a, AppURL(t, name), "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"), name
}

// Admin returns a pool of the server's administrator (TEST_DATABASE_URL's
// role) whose connections use schema: for tests that play someone who
// controls the database.
func Admin(t testing.TB, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
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

// SecureAudit hands the schema and its audit log to AuditRole, as linkd
// migrate --audit-owner does (store.SecureAudit), from the
// administrator's connection.
func SecureAudit(t testing.TB, schema string) {
	t.Helper()
	if err := store.SecureAudit(context.Background(), Admin(t, schema), AppRole, AuditRole); err != nil {
		t.Fatalf("pgtest: securing the audit log: %v", err)
	}
}

// Store returns a store on a migrated database of the test's own
// (Database).
func Store(t testing.TB) *store.Store {
	t.Helper()
	pool, _ := Database(t)
	return store.New(pool)
}

// Database creates a database for the test, owned by AppRole and holding
// the schema store.MigrateUp makes (a copy of a template migrated once
// for every test of the same migrations), and returns a pool of AppRole's
// connections to it and its name. The database and the pool go away when
// the test ends.
func Database(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	a := adminPool(t)
	tmpl := template(t, a)
	name := "linkd_test_" + randomHex(t)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()+" OWNER "+AppRole); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	return appPool(t, a, appURL(t, name, ""), "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"), name
}

func randomHex(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// template returns the name of the migrated template database, making
// it if no test process has: one per set of migrations (their hash is in
// the name), made under an advisory lock, marked a template (no
// connections) once whole. Templates of other migrations go.
func template(t testing.TB, a *pgxpool.Pool) string {
	t.Helper()
	roles(t, a)
	templateOnce.Do(func() { templateName, templateErr = makeTemplate(t, a) })
	if templateErr != nil {
		t.Fatalf("pgtest: the template database: %v", templateErr)
	}
	return templateName
}

func makeTemplate(t testing.TB, a *pgxpool.Pool) (string, error) {
	ms, err := store.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%d %s %d:%s\n", m.Version, m.Name, len(m.Up), m.Up)
	}
	fmt.Fprintf(h, "river %d\n", queueVersion())
	name := "linkd_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]
	ctx := context.Background()
	conn, err := a.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('linkd pgtest template'))`); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext('linkd pgtest template'))`) //nolint:errcheck // the session ends with the test binary
	var ready bool
	err = conn.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&ready)
	if err == nil && ready {
		return name, nil
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if err := dropStale(ctx, conn.Conn(), name, time.Now()); err != nil {
		return "", err
	}
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+id+" OWNER "+AppRole); err != nil {
		return "", err
	}
	pool, err := pgxpool.New(ctx, appURL(t, name, ""))
	if err != nil {
		return "", err
	}
	_, err = store.MigrateUp(ctx, pool)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrating: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+id+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+id+" IS "+quote(templateComment+time.Now().UTC().Format(time.RFC3339))); err != nil {
		return "", err
	}
	return name, nil
}

// dropStale drops, before name is made, the templates of other
// migrations once they are templateLife old (another checkout may be
// testing on one), those without a comment saying when they were made,
// and name itself, left half made.
func dropStale(ctx context.Context, conn *pgx.Conn, name string, now time.Time) error {
	rows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE datname LIKE 'linkd\_tmpl\_%'`)
	if err != nil {
		return err
	}
	type tmpl struct{ Name, Comment string }
	old, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tmpl])
	if err != nil {
		return err
	}
	for _, o := range old {
		made, err := time.Parse(time.RFC3339, strings.TrimPrefix(o.Comment, templateComment))
		if o.Name != name && err == nil && now.Sub(made) < templateLife {
			continue
		}
		id := pgx.Identifier{o.Name}.Sanitize()
		_, _ = conn.Exec(ctx, "ALTER DATABASE "+id+" IS_TEMPLATE false")
		if _, err := conn.Exec(ctx, "DROP DATABASE "+id+" WITH (FORCE)"); err != nil && o.Name == name {
			return err
		}
	}
	return nil
}

// A template's comment says when it was made; templates of other
// migrations are dropped after templateLife.
const (
	templateComment = "linkd pgtest template, made "
	templateLife    = 24 * time.Hour
)

// quote is a SQL string literal of s (COMMENT takes no parameter).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// queueVersion is the latest version of River's tables that the River
// linked in installs.
func queueVersion() int {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return 0
	}
	all := m.AllVersions()
	return all[len(all)-1].Version
}
