package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one change of linkd's schema, applied and reverted in a
// transaction. River's tables (the job queue) are not among them: River's
// own migrator installs them after linkd's and removes them once none of
// linkd's is left.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	byVersion := map[int]*Migration{}
	err := fs.WalkDir(migrationFiles, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		base := path.Base(p)
		num, rest, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("store: migration file %s: want NNNN_name.up.sql or .down.sql", base)
		}
		body, err := migrationFiles.ReadFile(p)
		if err != nil {
			return err
		}
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v}
			byVersion[v] = m
		}
		switch {
		case strings.HasSuffix(rest, ".up.sql"):
			m.Name, m.Up = strings.TrimSuffix(rest, ".up.sql"), string(body)
		case strings.HasSuffix(rest, ".down.sql"):
			m.Down = string(body)
		default:
			return fmt.Errorf("store: migration file %s: want .up.sql or .down.sql", base)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("store: migration %d lacks its up or down file", m.Version)
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

func queueMigrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	return rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// lockMigrations serializes the migrators of one schema: held by one
// connection for the whole run, released when it ends.
const (
	lockMigrations   = `SELECT pg_advisory_lock(hashtext(current_schema() || '.linkd.migrate'))`
	unlockMigrations = `SELECT pg_advisory_unlock(hashtext(current_schema() || '.linkd.migrate'))`
)

// migrating runs fn on a connection that holds the schema's migration
// lock, with the migrations table made and the versions applied read.
func migrating(ctx context.Context, pool *pgxpool.Pool, fn func(conn *pgxpool.Conn, ms []Migration, applied map[int]bool) error) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrating: %w", mapErr(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, lockMigrations); err != nil {
		return fmt.Errorf("store: taking the migration lock: %w", mapErr(err))
	}
	defer conn.Exec(context.WithoutCancel(ctx), unlockMigrations) //nolint:errcheck // a lost session releases it too
	if _, err := conn.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("store: reading schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	for _, v := range versions {
		if !slices.ContainsFunc(ms, func(m Migration) bool { return m.Version == int(v) }) {
			return fmt.Errorf("store: the schema has migration %d, which this linkd does not know: it was made by another version of linkd; migrate it with that one, or start from an empty database", v)
		}
		applied[int(v)] = true
	}
	return fn(conn, ms, applied)
}

// MigrateUp applies every migration not applied yet, each in its own
// transaction, then River's (each in its own transaction too), and
// returns the versions of linkd's it applied.
func MigrateUp(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	var done []int
	err := migrating(ctx, pool, func(conn *pgxpool.Conn, ms []Migration, applied map[int]bool) error {
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '`+bulkTimeout+`'`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, m.Up); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Name, err)
			}
			done = append(done, m.Version)
		}
		q, err := queueMigrator(pool)
		if err == nil {
			_, err = q.Migrate(ctx, rivermigrate.DirectionUp, nil)
		}
		if err != nil {
			return fmt.Errorf("store: the job queue's tables: %w", err)
		}
		return nil
	})
	return done, err
}

// MigrateDown reverts the latest `steps` applied migrations, each in its
// own transaction, and returns the versions it reverted. Once none of
// linkd's is left, River's tables go too.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, steps int) ([]int, error) {
	var done []int
	err := migrating(ctx, pool, func(conn *pgxpool.Conn, ms []Migration, applied map[int]bool) error {
		for i := len(ms) - 1; i >= 0 && len(done) < steps; i-- {
			m := ms[i]
			if !applied[m.Version] {
				continue
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '`+bulkTimeout+`'`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, m.Down)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: reverting migration %d (%s): %w", m.Version, m.Name, err)
			}
			done = append(done, m.Version)
			delete(applied, m.Version)
		}
		if len(applied) > 0 {
			return nil
		}
		q, err := queueMigrator(pool)
		if err == nil {
			_, err = q.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1})
		}
		if err != nil {
			return fmt.Errorf("store: removing the job queue's tables: %w", err)
		}
		return nil
	})
	return done, err
}

// MigrationState is a migration as a schema holds it: applied (and when),
// pending, or applied by a linkd that does not know it (Known false).
type MigrationState struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	Known     bool      `json:"known"`
}

// MigrationStatus reads which migrations the schema has, without taking
// the migration lock or changing anything: a schema never migrated has
// them all pending. Versions the schema has that this linkd does not know
// (a newer linkd's) come last, Known false.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool) ([]MigrationState, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("store: reading schema_migrations: %w", mapErr(err))
	}
	applied := map[int]MigrationState{}
	if exists {
		rows, err := pool.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			return nil, fmt.Errorf("store: reading schema_migrations: %w", mapErr(err))
		}
		var v int32
		var st MigrationState
		_, err = pgx.ForEachRow(rows, []any{&v, &st.Name, &st.AppliedAt}, func() error {
			applied[int(v)] = MigrationState{Version: int(v), Name: st.Name, Applied: true, AppliedAt: st.AppliedAt.UTC()}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: reading schema_migrations: %w", mapErr(err))
		}
	}
	out := make([]MigrationState, 0, len(ms)+len(applied))
	for _, m := range ms {
		st, ok := applied[m.Version]
		if !ok {
			st = MigrationState{Version: m.Version, Name: m.Name}
		}
		st.Known = true
		out = append(out, st)
		delete(applied, m.Version)
	}
	unknown := make([]MigrationState, 0, len(applied))
	for _, st := range applied {
		unknown = append(unknown, st)
	}
	slices.SortFunc(unknown, func(a, b MigrationState) int { return a.Version - b.Version })
	return append(out, unknown...), nil
}
