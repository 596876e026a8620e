package directory_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/store"
)

// TestNoNumberAtRest imports a directory into PostgreSQL, dumps every table,
// and searches the dump and the import's logs for every input number in
// every form: none may be there.
func TestNoNumberAtRest(t *testing.T) {
	pool, _ := pgtest.Database(t)
	ctx := context.Background()
	people := synth.People(11, 500)
	var logs bytes.Buffer
	im := &directory.Importer{Store: store.New(pool), Deriver: deriver(t), BatchSize: 100,
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var reports []string
	st, err := im.Import(ctx, strings.NewReader(csvFile(people, map[int]string{3: "bad,0932 123 45 67,TR,false,"})),
		func(e *directory.RowError) { reports = append(reports, e.Error()) })
	if err != nil || st.Imported != 500 {
		t.Fatalf("import: %+v, %v", st, err)
	}
	d := pgtest.Dump(t, pool)
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
		for _, f := range p.Forms() {
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
