package directory_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/internal/pgstore"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/phone"
)

// forms returns every way a number could be written at rest: as typed, in
// E.164, its digits, and each upload hash in hex (both cases) and base64,
// with the hashes also as the hex that PostgreSQL prints for bytea.
func forms(p synth.Person) []string {
	n, _ := phone.Normalize(p.E164, "")
	out := []string{p.National, strings.ReplaceAll(p.National, " ", ""), n.E164(), n.Digits()}
	for _, s := range []string{n.Digits(), n.E164()} {
		sum := sha256.Sum256([]byte(s))
		h := hex.EncodeToString(sum[:])
		out = append(out, h, strings.ToUpper(h), base64.StdEncoding.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	return out
}

// dump renders every row of every table of the test's schema as text;
// bytea columns print as hex.
func dump(t *testing.T, conn interface {
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

// TestNoNumberAtRest imports a directory into PostgreSQL, dumps every table,
// and searches the dump and the import's logs for every input number in
// every form: none may be there.
func TestNoNumberAtRest(t *testing.T) {
	pool, _ := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := pgstore.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	people := synth.People(11, 500)
	var logs bytes.Buffer
	im := &directory.Importer{Store: pgstore.New(pool), Deriver: deriver(t), BatchSize: 100,
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var reports []string
	st, err := im.Import(ctx, strings.NewReader(csvFile(people, map[int]string{3: "bad,0932 123 45 67,TR,false,"})),
		func(e *directory.RowError) { reports = append(reports, e.Error()) })
	if err != nil || st.Imported != 500 {
		t.Fatalf("import: %+v, %v", st, err)
	}
	d := dump(t, pool)
	if !strings.Contains(d, "-- accounts: 500 rows") {
		t.Fatalf("the dump does not hold the directory:\n%.500s", d)
	}
	all := d + logs.String() + strings.Join(reports, "\n")
	if logs.Len() == 0 {
		t.Fatal("the import logged nothing: the log check would prove nothing")
	}
	bad := synth.Person{National: "0932 123 45 67", E164: "+905321234567"}
	hits := 0
	for _, p := range append(people, bad) {
		for _, f := range forms(p) {
			if f != "" && strings.Contains(all, f) {
				hits++
				t.Errorf("found a form of an input number at rest: %.12s...", f)
			}
		}
	}
	if hits != 0 {
		t.Fatalf("%d hits", hits)
	}
}
