package directory_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/store"
)

// BenchmarkImport imports a synthetic directory into PostgreSQL (a fresh
// schema each time) and, in the same run, measures the cryptographic floor
// before and after it:
// a full OPRF evaluation plus hash to group and one multiplication per
// account, on all cores, for the same numbers. It reports both per account
// and their ratio.
//
// The size is LINKD_BENCH_IMPORT_N accounts (default 20,000); the figure of
// BENCHMARKS.md is for a million:
//
//	LINKD_BENCH_IMPORT_N=1000000 go test -run '^$' -bench Import -benchtime 1x ./linking/directory
func BenchmarkImport(b *testing.B) {
	n := 20000
	if s := os.Getenv("LINKD_BENCH_IMPORT_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("LINKD_BENCH_IMPORT_N=%q", s)
		}
		n = v
	}
	people := synth.People(42, n)
	file := csvFile(people, nil)
	inputs := make([][]byte, n)
	for i, p := range people {
		inputs[i] = []byte(p.E164)
	}
	d := deriver(b)
	ctx := context.Background()
	// The floor is measured right before and right after each import and
	// the two averaged: the machine's speed drifts over the minutes an
	// import of a million takes. Each floor is measured after a
	// CHECKPOINT, so that PostgreSQL is not writing out the last import
	// on the same cores meanwhile, and each import starts from one, so
	// that it does not pay for the writes of the one before.
	floor := func() time.Duration {
		start := time.Now()
		if _, err := d.OPRF().FullEvaluateBatch(inputs); err != nil {
			b.Fatal(err)
		}
		_ = d.LinkKey().BlindBatch(inputs)
		return time.Since(start)
	}
	var importTime, before, after time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pool, schema := pgtest.Schema(b)
		if _, err := store.MigrateUp(ctx, pool); err != nil {
			b.Fatal(err)
		}
		// CHECKPOINT is the server administrator's; the tests' own role
		// may not run it.
		admin := pgtest.Admin(b, schema)
		im := &directory.Importer{Store: store.New(pool), Deriver: d}
		checkpoint(b, admin)
		before += floor()
		b.StartTimer()

		start := time.Now()
		st, err := im.Import(ctx, strings.NewReader(file), func(e *directory.RowError) { b.Fatal(e) })
		if err != nil || st.Imported != n {
			b.Fatalf("import: %+v, %v", st, err)
		}
		importTime += time.Since(start)

		b.StopTimer()
		checkpoint(b, admin)
		after += floor()
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
	b.ReportMetric(per(importTime), "ns/account")
	b.ReportMetric(per(before), "floor-before-ns/account")
	b.ReportMetric(per(after), "floor-after-ns/account")
	b.ReportMetric(float64(importTime)/(float64(before+after)/2), "x-floor")
}

// checkpoint has PostgreSQL write out everything dirty and waits for it.
func checkpoint(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), `CHECKPOINT`); err != nil {
		b.Fatalf("CHECKPOINT: %v", err)
	}
}
