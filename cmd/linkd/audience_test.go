package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/client"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// uploadWorld is a party with 1,000 accounts, an advertiser key and an
// audience, whose server records every request it gets.
type uploadWorld struct {
	st     *store.Store
	url    string
	key    string
	people []synth.Person
	mu     sync.Mutex
	seen   bytes.Buffer // every request's URL and body
}

func newUploadWorld(t *testing.T) *uploadWorld {
	t.Helper()
	w := &uploadWorld{st: pgtest.Store(t), people: synth.People(31, 1000)}
	ring, _ := keyring.NewRing("social", time.Now())
	d, _ := pseudonym.NewDeriver(ring, 1)
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,ads_consent\n")
	for i, p := range w.people {
		fmt.Fprintf(&b, "a%04d,%s,%s,false,granted\n", i, p.E164, p.Country)
	}
	im := &directory.Importer{Store: w.st, Deriver: d}
	if _, err := im.Import(context.Background(), strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	sec, k, _ := access.NewKey("acme", access.RoleAdvertiser, time.Now())
	_ = w.st.CreateAPIKey(context.Background(), k)
	w.key = sec
	_ = w.st.CreateAudience(context.Background(), audience.Audience{ID: "aud_1", Tenant: "acme", Name: "n", Purpose: "ads"})
	aud := audienceService(w.st, d)
	h := api.New(api.Config{Party: "social", Keys: w.st, Audit: w.st, AuditChain: storetest.Chain(t, 1), Usage: w.st, OPRF: d.OPRF(), Epoch: 1, Audiences: aud,
		Limits: api.Limits{RequestsPerMinute: 100000}}).Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.seen.WriteString(r.URL.String() + "\n")
		w.seen.Write(body)
		w.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// list writes a customer list of people[:n] in national format, and two
// lines that are not numbers.
func (w *uploadWorld) list(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("phone,country\n")
	for i, p := range w.people[:n] {
		if i == 10 {
			b.WriteString("12,TR\n")
		}
		fmt.Fprintf(&b, "%s,%s\n", p.National, p.Country)
	}
	path := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(path, []byte(b.String()+"not a number,GB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An upload stopped in the middle and run again ends with exactly the
// members of an uninterrupted upload, in the same session.
func TestUploadResumes(t *testing.T) {
	w := newUploadWorld(t)
	list := w.list(t, 600)
	state := list + ".upload-state.json"
	args := []string{"audience", "upload", "--server", w.url, "--key", w.key, "--audience", "aud_1", "--batch", "10", list}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, ctx: ctx, getenv: func(string) string { return "" }}, args)
	}()
	for {
		var st client.UploadState
		if b, err := os.ReadFile(state); err == nil && json.Unmarshal(b, &st) == nil && st.Done >= 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-done; code == 0 {
		t.Fatalf("the interrupted upload says it finished:\n%s", out.String())
	}
	var st client.UploadState
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil || st.Done == 0 || st.Done >= 61 {
		t.Fatalf("state after the interruption: %s", b)
	}
	for _, p := range w.people[:600] {
		if strings.Contains(string(b), p.E164[1:]) {
			t.Fatal("the state file holds a number")
		}
	}
	code, sout, serr := runCmd(t, nil, args...)
	if code != 1 || !strings.Contains(serr, "resuming session "+st.SessionID) ||
		!strings.Contains(sout, "uploaded 602 lines in 61 batches (hash mode, session "+st.SessionID+")") ||
		!strings.Contains(sout, "2 invalid here") || !strings.Contains(serr, "line 603: not a phone number") {
		t.Fatalf("resumed: exit %d\n%s%s", code, sout, serr)
	}
	m, _ := w.st.Members(context.Background(), "aud_1")
	if len(m) != 600 {
		t.Fatalf("%d members, want 600", len(m))
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatal("the state file is left after a finished upload")
	}
}

// In private mode the server gets neither numbers nor their hashes: only
// blinded elements and OPRF outputs.
func TestUploadPrivateSendsNoNumber(t *testing.T) {
	w := newUploadWorld(t)
	list := w.list(t, 1000) // more than one part per core
	code, out, errs := runCmd(t, nil, "audience", "upload", "--mode", "private", "--server", w.url, "--key", w.key, "--audience", "aud_1", list)
	if code != 1 || !strings.Contains(out, "1000 received, 0 invalid at the server, 2 invalid here") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	m, _ := w.st.Members(context.Background(), "aud_1")
	if len(m) != 1000 {
		t.Fatalf("%d members, want 1000", len(m))
	}
	seen := w.seen.String()
	if !strings.Contains(seen, "/v1/oprf/evaluate") || !strings.Contains(seen, `"PHONE_OPRF"`) {
		t.Fatal("the upload did not go through the OPRF")
	}
	for _, p := range w.people {
		n, _ := phone.Normalize(p.E164, "")
		for _, form := range []string{n.E164(), n.Digits(), p.National, n.Hash(phone.SchemaSHA256).Encode(phone.SchemaSHA256),
			n.Hash(phone.SchemaE164SHA256).Encode(phone.SchemaE164SHA256), n.Hash(phone.SchemaE164SHA256B64).Encode(phone.SchemaE164SHA256B64)} {
			if strings.Contains(seen, form) {
				t.Fatalf("the server saw a number in some form")
			}
		}
	}
}

func TestUploadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"audience", "upload", "--server", "http://x", "--key", "k", "f"}, "missing flags: --audience"},
		{[]string{"audience", "upload", "--audience", "a", "f"}, "--server"},
		{[]string{"audience", "upload", "--server", "http://x", "--key", "k", "--audience", "a", "--mode", "fast", "f"}, "--mode"},
		{[]string{"audience", "upload", "--server", "http://x", "--key", "k", "--audience", "a", "--batch", "20000", "f"}, "--batch"},
		{[]string{"audience", "upload", "--server", "http://x", "--key", "k", "--audience", "a", "--schema", "EMAIL", "f"}, "--schema"},
	} {
		if code, _, errs := runCmd(t, nil, tc.args...); code != 2 || !strings.Contains(errs, tc.msg) {
			t.Errorf("%v: exit %d %s", tc.args, code, errs)
		}
	}
}

// A list of nothing but bad lines: the server is sent one entry that is
// no one's, to end the session, and the count says none was received.
func TestUploadNothingValid(t *testing.T) {
	w := newUploadWorld(t)
	list := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(list, []byte("not a number\n12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "audience", "upload", "--server", w.url, "--key", w.key, "--audience", "aud_1", "--country", "GB", list)
	if code != 1 || !strings.Contains(out, "0 received, 0 invalid at the server, 2 invalid here") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	csv := filepath.Join(t.TempDir(), "nophone.csv")
	if err := os.WriteFile(csv, []byte("name,tel\nann,+447911123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, nil, "audience", "upload", "--server", w.url, "--key", w.key, "--audience", "aud_1", csv)
	if code == 0 || !strings.Contains(errs, `names no phone column`) {
		t.Fatalf("a CSV without a phone column: exit %d\n%s%s", code, out, errs)
	}
}
