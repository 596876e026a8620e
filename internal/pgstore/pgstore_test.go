package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/internal/pgstore"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/storetest"
)

// newStore returns a migrated store on a fresh schema.
func newStore(t *testing.T) *pgstore.Store {
	t.Helper()
	pool, _ := pgtest.Schema(t)
	if _, err := pgstore.MigrateUp(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pgstore.New(pool)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t) })
}

func tables(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestMigrateUpDownUp: every migration applies, reverts to an empty schema,
// and applies again; applying twice is a no-op.
func TestMigrateUpDownUp(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Schema(t)
	ms, err := pgstore.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("Migrations = %v, %v", ms, err)
	}
	up, err := pgstore.MigrateUp(ctx, pool)
	if err != nil || len(up) != len(ms) {
		t.Fatalf("MigrateUp = %v, %v", up, err)
	}
	first := tables(t, pool)
	if len(first) == 0 {
		t.Fatal("no tables after MigrateUp")
	}
	again, err := pgstore.MigrateUp(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second MigrateUp = %v, %v", again, err)
	}
	down, err := pgstore.MigrateDown(ctx, pool, len(ms))
	if err != nil || len(down) != len(ms) {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	if left := tables(t, pool); len(left) != 0 {
		t.Fatalf("tables left after MigrateDown: %v", left)
	}
	if _, err := pgstore.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if second := tables(t, pool); !slices.Equal(first, second) {
		t.Fatalf("tables differ after up, down, up: %v vs %v", first, second)
	}
}

// TestAuditTamper: the audit log refuses updates and deletes; an owner who
// disables that and edits a row is caught by audit.Verify, which names the
// entry.
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i := range 5 {
		if _, err := s.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "cli", Action: "a", Resource: fmt.Sprint(i), Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE audit_log SET resource = 'x' WHERE seq = 3`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of the audit log: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM audit_log WHERE seq = 3`); err == nil {
		t.Fatal("delete from the audit log succeeded")
	}
	if n, err := audit.Verify(ctx, s); err != nil || n != 5 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		UPDATE audit_log SET resource = 'x' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	_, err := audit.Verify(ctx, s)
	var be *audit.BrokenError
	if !errors.As(err, &be) || be.Seq != 3 {
		t.Fatalf("Verify after tampering = %v", err)
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM audit_log WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, err = audit.Verify(ctx, s)
	if !errors.As(err, &be) || be.Seq != 2 {
		t.Fatalf("Verify after deletion = %v", err)
	}
}
