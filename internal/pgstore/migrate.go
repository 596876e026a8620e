package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one schema change, applied and reverted in a transaction:
// SQL from the embedded files, or a function (the job queue's tables,
// which River migrates itself).
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
	up      func(context.Context, pgx.Tx) error
	down    func(context.Context, pgx.Tx) error
}

func (m Migration) apply(ctx context.Context, tx pgx.Tx, up bool) error {
	switch {
	case up && m.up != nil:
		return m.up(ctx, tx)
	case !up && m.down != nil:
		return m.down(ctx, tx)
	case up:
		_, err := tx.Exec(ctx, m.Up)
		return err
	default:
		_, err := tx.Exec(ctx, m.Down)
		return err
	}
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
			return fmt.Errorf("pgstore: migration file %s: want NNNN_name.up.sql or .down.sql", base)
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
			return fmt.Errorf("pgstore: migration file %s: want .up.sql or .down.sql", base)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range riverMigrations() {
		if _, dup := byVersion[m.Version]; dup {
			return nil, fmt.Errorf("pgstore: migration %d is the job queue's", m.Version)
		}
		byVersion[m.Version] = &m
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.up == nil && (m.Up == "" || m.Down == "") {
			return nil, fmt.Errorf("pgstore: migration %d lacks its up or down file", m.Version)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version integer PRIMARY KEY,
	name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// lockMigrations serializes migrators of one schema for the transaction.
const lockMigrations = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.linkd.migrate'))`

// MigrateUp applies every migration not applied yet, each in its own
// transaction, and returns the versions it applied.
func MigrateUp(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("pgstore: creating schema_migrations: %w", err)
	}
	var applied []int
	for _, m := range ms {
		did, err := inTx(ctx, pool, func(tx pgx.Tx) (bool, error) {
			if _, err := tx.Exec(ctx, lockMigrations); err != nil {
				return false, err
			}
			if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '`+bulkTimeout+`'`); err != nil {
				return false, err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return false, err
			}
			if n > 0 {
				return false, nil
			}
			if err := m.apply(ctx, tx, true); err != nil {
				return false, err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return true, err
		})
		if err != nil {
			return applied, fmt.Errorf("pgstore: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if did {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

// MigrateDown reverts the latest `steps` applied migrations, each in its
// own transaction, and returns the versions it reverted.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, steps int) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, migrationsTable); err != nil {
		return nil, fmt.Errorf("pgstore: creating schema_migrations: %w", err)
	}
	var reverted []int
	for i := len(ms) - 1; i >= 0 && len(reverted) < steps; i-- {
		m := ms[i]
		did, err := inTx(ctx, pool, func(tx pgx.Tx) (bool, error) {
			if _, err := tx.Exec(ctx, lockMigrations); err != nil {
				return false, err
			}
			if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = '`+bulkTimeout+`'`); err != nil {
				return false, err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version)
			if err != nil || tag.RowsAffected() == 0 {
				return false, err
			}
			return true, m.apply(ctx, tx, false)
		})
		if err != nil {
			return reverted, fmt.Errorf("pgstore: reverting migration %d (%s): %w", m.Version, m.Name, err)
		}
		if did {
			reverted = append(reverted, m.Version)
		}
	}
	return reverted, nil
}

// inTx runs fn in a transaction, committing if it returns no error.
func inTx[T any](ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := pool.Begin(ctx)
	if err != nil {
		return zero, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	v, err := fn(tx)
	if err != nil {
		return zero, err
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, err
	}
	return v, nil
}
