package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

func benchN(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q", name, s)
		}
		return v
	}
	return def
}

// benchParty is a party on PostgreSQL behind a real HTTP server, with an
// advertiser key.
type benchParty struct {
	st  *store.Store
	d   *pseudonym.Deriver
	url string
	key string
}

func newBenchParty(b *testing.B) *benchParty {
	b.Helper()
	pool, _ := pgtest.Schema(b)
	if _, err := store.MigrateUp(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	ring, _ := keyring.NewRing("social", time.Now())
	d, _ := pseudonym.NewDeriver(ring, 1)
	p := &benchParty{st: store.New(pool), d: d}
	sec, k, _ := access.NewKey("acme", access.RoleAdvertiser, time.Now())
	if err := p.st.CreateAPIKey(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	p.key = sec
	aud := audienceService(p.st, d)
	srv := httptest.NewServer(api.New(api.Config{Party: "social", Keys: p.st, Audit: p.st, AuditChain: storetest.Chain(b, 1), Usage: p.st, OPRF: d.OPRF(), Epoch: 1,
		Audiences: aud, Limits: api.Limits{RequestsPerMinute: 1 << 40, OPRFPerDay: 1 << 40, EntriesPerDay: 1 << 40, AudiencesPerDay: 1 << 40}}).Handler())
	b.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// digits is the i-th synthetic number's digits (no validity needed: the
// hash index is over the digits' SHA-256).
func digits(i int) string { return fmt.Sprintf("9053%08d", i) }

// putDirectory stores n accounts whose hash index is real (HMAC under the
// party's key of SHA-256 of the digits) and whose other pseudonyms are
// random or, with oprfOut, the given OPRF outputs.
func (p *benchParty) putDirectory(b *testing.B, n int, oprfOut [][]byte) {
	b.Helper()
	h := p.d.IndexKey().NewHasher()
	batch := make([]directory.Account, 0, 10000)
	flush := func() {
		if err := p.st.PutAccounts(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		a := directory.Account{ID: fmt.Sprintf("acct-%08d", i), Country: "TR", Epoch: p.d.Epoch, UpdatedAt: time.Now()}
		sum := sha256.Sum256([]byte(digits(i)))
		a.Pseudonyms.IndexDigits = h.Sum(&sum)
		e164 := sha256.Sum256([]byte("+" + digits(i)))
		a.Pseudonyms.IndexE164 = h.Sum(&e164)
		if oprfOut != nil {
			copy(a.Pseudonyms.OPRF[:], oprfOut[i])
		} else {
			_, _ = rand.Read(a.Pseudonyms.OPRF[:])
		}
		_, _ = rand.Read(a.Pseudonyms.Link[:])
		batch = append(batch, a)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := p.st.Analyze(context.Background(), n); err != nil {
		b.Fatal(err)
	}
}

func (p *benchParty) do(b *testing.B, method, path string, body []byte, out any) {
	b.Helper()
	if err := p.try(method, path, body, out); err != nil {
		b.Fatal(err)
	}
}

// try is do for goroutines: it returns the error.
func (p *benchParty) try(method, path string, body []byte, out any) error {
	req, _ := http.NewRequest(method, p.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// peakHeap samples the heap in use until stop is closed and returns the
// highest figure seen, in bytes.
func peakHeap(stop chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return &peak
}

// BenchmarkUploadHashed uploads a list of PHONE_SHA256 hashes over HTTP in
// batches of 10,000 into an audience of a PostgreSQL party whose directory
// holds every listed number, and checks every entry matched. The size is
// LINKD_BENCH_UPLOAD_N entries (default 100,000; BENCHMARKS.md has a
// million):
//
//	LINKD_BENCH_UPLOAD_N=1000000 go test -run '^$' -bench UploadHashed -benchtime 1x ./cmd/linkd
//
// It reports the wall time of the whole upload scaled to a million entries,
// and the peak heap in use of the process (client and server) during it:
// the same at 100,000 and 1,000,000 entries when memory is flat.
func BenchmarkUploadHashed(b *testing.B) {
	n := benchN(b, "LINKD_BENCH_UPLOAD_N", 100000)
	p := newBenchParty(b)
	p.putDirectory(b, n, nil)
	// Each batch's body is built when it is sent, as a client streaming a
	// file would: the process holds a few batches, not the list.
	batches := (n + audience.MaxBatch - 1) / audience.MaxBatch
	body := func(k int) []byte {
		start, end := k*audience.MaxBatch, min((k+1)*audience.MaxBatch, n)
		data := make([]string, 0, end-start)
		for i := start; i < end; i++ {
			sum := sha256.Sum256([]byte(digits(i)))
			data = append(data, hex.EncodeToString(sum[:]))
		}
		out, _ := json.Marshal(map[string]any{
			"payload": map[string]any{"schema": "PHONE_SHA256", "data": data},
			"session": map[string]any{"session_id": "s", "batch_seq": k + 1, "last_batch_flag": end == n},
		})
		return out
	}
	var total time.Duration
	var peak uint64
	for b.Loop() {
		var a struct{ ID string }
		p.do(b, "POST", "/v1/audiences", []byte(`{"name":"bench","purpose":"ads"}`), &a)
		runtime.GC()
		stop := make(chan struct{})
		pk := peakHeap(stop)
		start := time.Now()
		// Two uploaders, as a client may send a session's batches in
		// parallel; the last batch goes when the others are in.
		var wg sync.WaitGroup
		next := atomic.Int64{}
		errs := make(chan error, 2)
		for range 2 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= batches-1 {
						return
					}
					if err := p.try("POST", "/v1/audiences/"+a.ID+"/users", body(i), nil); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		p.do(b, "POST", "/v1/audiences/"+a.ID+"/users", body(batches-1), nil)
		total += time.Since(start)
		close(stop)
		peak = max(peak, pk.Load())
		b.StopTimer()
		m, err := p.st.Members(context.Background(), a.ID)
		if err != nil || len(m) != n {
			b.Fatalf("%d members of %d, %v", len(m), n, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N)*1e6/float64(n), "s/1M-entries")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkUploadPrivate runs the private-mode upload, client and server
// in this process over HTTP: blind, evaluate (POST /v1/oprf/evaluate),
// verify and finalize, upload PHONE_OPRF. In the same run it measures the
// OPRF floor: the same OPRF work (blind, evaluate, finalize) alone.
// LINKD_BENCH_PRIVATE_N entries (default 20,000; BENCHMARKS.md has 100,000).
func BenchmarkUploadPrivate(b *testing.B) {
	n := benchN(b, "LINKD_BENCH_PRIVATE_N", 20000)
	p := newBenchParty(b)
	inputs := make([][]byte, n)
	for i := range inputs {
		inputs[i] = []byte("+" + digits(i))
	}
	outs, err := p.d.OPRF().FullEvaluateBatch(inputs)
	if err != nil {
		b.Fatal(err)
	}
	p.putDirectory(b, n, outs)
	dir := b.TempDir()
	var list bytes.Buffer
	for i := range n {
		fmt.Fprintf(&list, "+%s\n", digits(i))
	}
	file := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(file, list.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	var upload, floor time.Duration
	for b.Loop() {
		var a struct{ ID string }
		p.do(b, "POST", "/v1/audiences", []byte(`{"name":"bench","purpose":"ads"}`), &a)
		start := time.Now()
		var out, errs bytes.Buffer
		code := run(&env{stdout: &out, stderr: &errs, getenv: func(string) string { return "" }},
			[]string{"audience", "upload", "--mode", "private", "--server", p.url, "--key", p.key, "--audience", a.ID, file})
		upload += time.Since(start)
		if code != 0 {
			b.Fatalf("upload: %s%s", out.String(), errs.String())
		}
		b.StopTimer()
		if m, _ := p.st.Members(context.Background(), a.ID); len(m) != n {
			b.Fatalf("%d members of %d", len(m), n)
		}
		// The floor: the OPRF alone for the same inputs, in the same
		// batches and parts per core as the upload, in process: blind,
		// evaluate with one proof a part, verify and finalize; no HTTP,
		// no JSON, no database.
		oc, err := oprf.NewClient(p.d.OPRF().PublicKey())
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for lo := 0; lo < n; lo += audience.MaxBatch {
			batch := inputs[lo:min(lo+audience.MaxBatch, n)]
			parts := min(runtime.GOMAXPROCS(0), (len(batch)+999)/1000)
			size := (len(batch) + parts - 1) / parts
			var wg sync.WaitGroup
			for q := range parts {
				part := batch[q*size : min((q+1)*size, len(batch))]
				wg.Go(func() {
					bl, blinded, err := oc.Blind(part)
					if err != nil {
						panic(err)
					}
					ev, proof, err := p.d.OPRF().Evaluate(blinded)
					if err != nil {
						panic(err)
					}
					if _, err := oc.Finalize(bl, ev, proof); err != nil {
						panic(err)
					}
				})
			}
			wg.Wait()
		}
		floor += time.Since(start)
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*n) }
	b.ReportMetric(per(upload), "µs/entry")
	b.ReportMetric(per(floor), "floor-µs/entry")
	b.ReportMetric(float64(upload)/float64(floor), "x-floor")
}
