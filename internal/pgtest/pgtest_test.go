package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Templates of other migrations stay while young, so that two checkouts
// testing on one server keep each other's; old ones, ones that do not say
// when they were made, and the one about to be made go.
func TestDropStale(t *testing.T) {
	a := adminPool(t)
	ctx := context.Background()
	conn, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('linkd pgtest template'))`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext('linkd pgtest template'))`) //nolint:errcheck
	now := time.Now()
	suffix := randomHex(t)[:8]
	dbs := map[string]string{
		"young": templateComment + now.Add(-time.Hour).UTC().Format(time.RFC3339),
		"old":   templateComment + now.Add(-templateLife-time.Hour).UTC().Format(time.RFC3339),
		"bare":  "",
		"self":  templateComment + now.UTC().Format(time.RFC3339),
	}
	name := func(k string) string { return "linkd_tmpl_test" + k + suffix }
	for k, comment := range dbs {
		id := pgx.Identifier{name(k)}.Sanitize()
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = a.Exec(context.Background(), "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)") })
		if comment != "" {
			if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+id+" IS "+quote(comment)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := dropStale(ctx, conn.Conn(), name("self"), now); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{"young": true, "old": false, "bare": false, "self": false} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name(k)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) != want {
			t.Errorf("%s: kept %v, want %v", k, n == 1, want)
		}
	}
}
