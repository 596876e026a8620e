package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
)

// servedParty is one party of a two-serve test: its store, the
// environment of its commands and its address.
type servedParty struct {
	name    string
	st      *store.Store
	environ map[string]string
	addr    string
	srv     *running
	peer    string
}

func (p *servedParty) start(t *testing.T) {
	t.Helper()
	p.srv = startCmd(p.environ, "serve", "--party", p.name, "--addr", p.addr, "--metrics-addr", "off", "--peer", "http://"+p.peer,
		"--link-batch", strconv.Itoa(linkTestBatch))
	for range 200 {
		if resp, err := http.Get("http://" + p.addr + "/readyz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s did not start: %s", p.name, p.srv.logs.String())
}

// linkTestBatch is the elements a message of the tests' link runs.
const linkTestBatch = 1000

// lastLine is a command's last line of output (where apikey create puts
// the key).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// servedParties sets up the social network and the messenger on
// PostgreSQL, each with its keys, its directory of the people given (ids:
// the party's initial and the index in width digits; each consented to
// ads data reaching the other service) and the party key the
// other issued to it, and starts both serves (stopped when the test ends).
// It returns them and an admin key of the social network.
func servedParties(t *testing.T, social, messenger []synth.Person, width int) ([]*servedParty, string) {
	t.Helper()
	ps := []*servedParty{{name: "social"}, {name: "messenger"}}
	for i, p := range ps {
		p.st, p.environ = schemaEnv(t)
		p.addr = freeAddr(t)
		for _, args := range [][]string{{"migrate"}, {"keys", "init", "--party", p.name}} {
			if code, _, errs := runCmd(t, p.environ, args...); code != 0 {
				t.Fatalf("%s %v: %s", p.name, args, errs)
			}
		}
		var b strings.Builder
		b.WriteString("account_id,phone,country,ad_opt_out,ads_consent\n")
		for k, q := range [][]synth.Person{social, messenger}[i] {
			fmt.Fprintf(&b, "%s%0*d,%s,%s,false,true\n", p.name[:1], width, k, q.National, q.Country)
		}
		file := filepath.Join(t.TempDir(), "dir.csv")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := runCmd(t, p.environ, "directory", "import", "--party", p.name, file); code != 0 {
			t.Fatalf("%s import: %s", p.name, errs)
		}
	}
	for i, p := range ps {
		_, out, _ := runCmd(t, ps[1-i].environ, "apikey", "create", "--tenant", p.name, "--role", "party")
		p.environ["LINKD_PEER_KEY"] = lastLine(out)
		p.peer = ps[1-i].addr
	}
	for _, p := range ps {
		p.start(t)
		t.Cleanup(func() { p.srv.stop(t) }) // the serve running when the test ends
	}
	_, out, _ := runCmd(t, ps[0].environ, "apikey", "create", "--tenant", "ops", "--role", "admin")
	return ps, lastLine(out)
}

// send makes one request with c: key as a bearer token if set, body with
// its content type (application/json unless ctype says) if set; it
// returns the status, the headers and the body.
func send(t testing.TB, c *http.Client, method, url, key, ctype, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" && ctype == "" {
		ctype = "application/json"
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// keyedRequest sends a request with key to the server at addr (a JSON
// body, if not empty) and decodes its JSON answer into into; it returns
// the status.
func keyedRequest(t *testing.T, addr, key, method, path, body string, into any) int {
	t.Helper()
	st, _, b := send(t, http.DefaultClient, method, "http://"+addr+path, key, "", body)
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, st, b, err)
	}
	return st
}

// stopMidRun starts a full run on the serve at addr and, once the run is
// under way (some batches sent or received, not all), stops the victim's
// serve and starts it again (calling stopped, if not nil, in between); it
// returns the job's id.
func stopMidRun(t *testing.T, addr, admin string, victim *servedParty, stopped func()) string {
	t.Helper()
	var started struct{ ID string }
	if st := keyedRequest(t, addr, admin, "POST", "/v1/link/jobs", `{"full":true}`, &started); st != http.StatusAccepted {
		t.Fatalf("start: %d", st)
	}
	jobID := started.ID
	deadline := time.Now().Add(60 * time.Second)
	for {
		var j struct {
			State    string
			Progress struct{ Sent, Received int64 }
		}
		keyedRequest(t, addr, admin, "GET", "/v1/link/jobs/"+jobID, "", &j)
		if j.Progress.Sent >= linkTestBatch || j.Progress.Received >= linkTestBatch {
			break
		}
		if j.State == "done" || time.Now().After(deadline) {
			t.Fatalf("job %s was not caught under way: %+v", jobID, j)
		}
		time.Sleep(5 * time.Millisecond)
	}
	victim.srv.stop(t)
	if stopped != nil {
		stopped()
	}
	victim.start(t)
	return jobID
}

// TestLinkServesStopMidRun stops each party's serve in the middle of a
// link run on PostgreSQL, starts it again and resumes the job: the links
// are exactly the common people's, the same ids on both sides.
func TestLinkServesStopMidRun(t *testing.T) {
	t.Parallel()
	const n, common, added = 2500, 500, 100 // three batches a side
	people := synth.People(91, 2*n-common+added/2)
	ps, admin := servedParties(t, people[:n], people[n-common:2*n-common], 5)
	ctx := context.Background()
	for round, victim := range ps {
		// Full runs: the second would otherwise build on the first and
		// have nothing to send.
		jobID := stopMidRun(t, ps[0].addr, admin, victim, nil)
		code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin, "--job", jobID)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("matched %d of %d", common, n)) {
			t.Fatalf("round %d (%s stopped): resume: exit %d\n%s%s\nsocial: %s", round, victim.name, code, out, errs, ps[0].srv.logs.String())
		}
		for _, p := range ps {
			if got, err := p.st.CountLinks(ctx); err != nil || got != common {
				t.Fatalf("round %d: %s holds %d links, %v", round, p.name, got, err)
			}
		}
		for k := range common {
			ls, err := ps[0].st.LinkOf(ctx, fmt.Sprintf("s%05d", n-common+k))
			if err != nil {
				t.Fatal(err)
			}
			lm, err := ps[1].st.LinkOf(ctx, fmt.Sprintf("m%05d", k))
			if err != nil || lm.ID != ls.ID {
				t.Fatalf("round %d, person %d: the parties' link ids differ", round, k)
			}
		}
	}

	// Then the social network imports new accounts, half of them people
	// the messenger has, and erases a linked one: the next run builds on
	// the last, sends only the new accounts, and the erased person's
	// link goes on both sides.
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out\n")
	for j := range added / 2 {
		for _, q := range []synth.Person{people[n+j], people[2*n-common+j]} {
			fmt.Fprintf(&b, "new%s,%s,%s,false\n", q.E164[1:], q.National, q.Country)
		}
	}
	file := filepath.Join(t.TempDir(), "new.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(t, ps[0].environ, "directory", "import", "--party", "social", file); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	if err := ps[0].st.EraseAccount(ctx, fmt.Sprintf("s%05d", n-common)); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin)
	want := fmt.Sprintf("built on the last run: %d sent, 0 received", added)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("matched %d of %d", common-1+added/2, n-1+added)) {
		t.Fatalf("the incremental run: exit %d\n%s%s\nwant %q", code, out, errs, want)
	}
	for _, p := range ps {
		if got, err := p.st.CountLinks(ctx); err != nil || got != common-1+added/2 {
			t.Fatalf("after the incremental run, %s holds %d links, %v", p.name, got, err)
		}
	}
	if _, err := ps[1].st.LinkOf(ctx, "m00000"); err == nil {
		t.Fatal("the messenger kept the link of a person the social network erased")
	}
	for j := range added / 2 {
		ls, err := ps[0].st.LinkOf(ctx, "new"+people[n+j].E164[1:])
		if err != nil {
			t.Fatal(err)
		}
		lm, err := ps[1].st.LinkOf(ctx, fmt.Sprintf("m%05d", common+j))
		if err != nil || lm.ID != ls.ID {
			t.Fatalf("new person %d: the parties' link ids differ", j)
		}
	}
}

// TestLinkJobWait reads a link job with wait: the read answers when the
// run ends, not when the wait is up, and at once for a job that is not
// running; a bad wait is refused, the parameter named.
func TestLinkJobWait(t *testing.T) {
	t.Parallel()
	const n, common = 3000, 1000
	people := synth.People(17, 2*n-common)
	ps, admin := servedParties(t, people[:n], people[n-common:2*n-common], 4)
	do := func(method, path string, body ...string) (int, map[string]any) {
		t.Helper()
		var out map[string]any
		return keyedRequest(t, ps[0].addr, admin, method, path, strings.Join(body, ""), &out), out
	}
	for _, w := range []string{"forever", "-1s", "31s"} {
		st, out := do("GET", "/v1/link/jobs/nope?wait="+w)
		if st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out), "parameter:wait") {
			t.Errorf("wait=%s: %d %v, want 422 naming wait", w, st, out)
		}
	}
	if st, _ := do("GET", "/v1/link/jobs/nope?wait=30s"); st != http.StatusNotFound {
		t.Errorf("an unknown job with wait: %d, want 404", st)
	}
	// job_id resumes a job: one this party never ran is not found.
	if st, out := do("POST", "/v1/link/jobs", `{"job_id":"waited"}`); st != http.StatusNotFound || !strings.Contains(fmt.Sprint(out), "field:job_id") {
		t.Fatalf("an unknown job_id: %d %v, want 404 naming job_id", st, out)
	}
	st, out := do("POST", "/v1/link/jobs")
	if st != http.StatusAccepted {
		t.Fatalf("start: %d %v", st, out)
	}
	waited := out["id"].(string)
	start := time.Now()
	st, out = do("GET", "/v1/link/jobs/"+waited+"?wait=30s")
	took := time.Since(start)
	if st != http.StatusOK || out["state"] != "done" {
		t.Fatalf("after the wait: %d %v, want the job done", st, out)
	}
	if took >= 25*time.Second {
		t.Errorf("the read waited %v: it should answer when the run ends", took)
	}
	start = time.Now()
	if st, out = do("GET", "/v1/link/jobs/"+waited+"?wait=30s"); st != http.StatusOK || out["state"] != "done" {
		t.Fatalf("a done job: %d %v", st, out)
	}
	if took := time.Since(start); took >= 25*time.Second {
		t.Errorf("a done job's read waited %v: it should answer at once", took)
	}
}

// TestLinkSupersededJob: a run stopped and never resumed is superseded
// by the next run to finish: both parties mark it so and drop its
// staging, and resuming it is refused, by the API and by the command.
func TestLinkSupersededJob(t *testing.T) {
	t.Parallel()
	const n, common = 2500, 500 // three batches a side
	people := synth.People(93, 2*n-common)
	ps, admin := servedParties(t, people[:n], people[n-common:2*n-common], 5)
	ctx := context.Background()
	abandoned := stopMidRun(t, ps[0].addr, admin, ps[1], nil)
	staged := func() (n int) {
		for _, p := range ps {
			rows, err := p.st.OwnBatch(ctx, abandoned, 1)
			if err != nil {
				t.Fatal(err)
			}
			n += len(rows)
		}
		return n
	}
	if staged() == 0 {
		t.Fatal("the stopped run staged nothing: the test stopped it too early")
	}
	// The stopped run is left; a new one runs to its end.
	if code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("matched %d of %d", common, n)) {
		t.Fatalf("the new run: exit %d\n%s%s", code, out, errs)
	}
	for _, p := range ps {
		j, err := p.st.Job(ctx, abandoned)
		if err != nil || j.State != store.JobSuperseded {
			t.Errorf("%s: the stopped job is %q (%v), want superseded", p.name, j.State, err)
		}
	}
	if n := staged(); n != 0 {
		t.Errorf("%d rows of the superseded job still staged", n)
	}
	var refused struct {
		Error struct{ Code, Message string }
	}
	if st := keyedRequest(t, ps[0].addr, admin, "POST", "/v1/link/jobs", `{"job_id":"`+abandoned+`"}`, &refused); st != http.StatusConflict ||
		refused.Error.Code != "superseded" || !strings.Contains(refused.Error.Message, "start a new run") {
		t.Errorf("resuming the superseded job: %d %+v, want 409 superseded", st, refused)
	}
	code, _, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin, "--job", abandoned)
	if code == 0 || !strings.Contains(errs, "start a new run") {
		t.Errorf("link run --job of the superseded job: exit %d\n%s", code, errs)
	}
	for _, p := range ps {
		if got, err := p.st.CountLinks(ctx); err != nil || got != common {
			t.Errorf("%s holds %d links, %v", p.name, got, err)
		}
	}
}

// TestLinkAfterADatabaseCrash: a run under way whose party's database
// crashed (its unlogged tables emptied, as recovery leaves them, while
// that party's serve is down) is refused when resumed, whichever party
// it was, with the reason; a new run links as if nothing had happened.
func TestLinkAfterADatabaseCrash(t *testing.T) {
	t.Parallel()
	const n, common = 2500, 500 // three batches a side
	people := synth.People(94, 2*n-common)
	ps, admin := servedParties(t, people[:n], people[n-common:2*n-common], 5)
	ctx := context.Background()
	for _, victim := range ps {
		jobID := stopMidRun(t, ps[0].addr, admin, victim, func() {
			if tables := pgtest.Crash(t, victim.st.Pool()); !slices.Contains(tables, "link_staging_own") {
				t.Fatalf("unlogged tables %v", tables)
			}
		})
		code, _, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin, "--job", jobID)
		// Refused at once (409) by the party asked, if it lost it;
		// failed with the peer's word of it, if the other did.
		refusal := "409 staging_lost"
		if victim != ps[0] {
			refusal = "the peer says: job " + jobID
		}
		if code == 0 || !strings.Contains(errs, refusal) || !strings.Contains(errs, "start a new run") || strings.Contains(errs, "resume with") {
			t.Errorf("%s crashed: link run --job %s: exit %d\n%s", victim.name, jobID, code, errs)
		}
		if code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin); code != 0 ||
			!strings.Contains(out, fmt.Sprintf("matched %d of %d", common, n)) {
			t.Fatalf("%s crashed: the new run: exit %d\n%s%s", victim.name, code, out, errs)
		}
		for _, p := range ps {
			if got, err := p.st.CountLinks(ctx); err != nil || got != common {
				t.Errorf("%s crashed: %s holds %d links, %v", victim.name, p.name, got, err)
			}
		}
	}
}

// TestPeerResponderIsBounded plays a holder of the party key who wants
// the other party's key as an oracle, through the real peer routes: a job
// that ended refuses every batch, a job re-blinds no batch beyond the set
// its opening declared, and the party key's daily budget of elements
// answers 429 beyond it.
func TestPeerResponderIsBounded(t *testing.T) {
	people := synth.People(23, 40)
	ps, admin := servedParties(t, people[:30], people[10:], 2)
	social, messenger := ps[0], ps[1]
	partyKey := social.environ["LINKD_PEER_KEY"] // what social presents to the messenger
	var out map[string]any
	if st := keyedRequest(t, social.addr, admin, "POST", "/v1/link/jobs", ``, &out); st != http.StatusAccepted {
		t.Fatalf("start: %d %v", st, out)
	}
	ended := out["id"].(string)
	if st := keyedRequest(t, social.addr, admin, "GET", "/v1/link/jobs/"+ended+"?wait=30s", "", &out); st != 200 || out["state"] != "done" {
		t.Fatalf("the run: %d %v", st, out)
	}
	k, err := psi.NewKey(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	elements := func(n int) string {
		els := make([]psi.Element, n)
		for i := range els {
			els[i] = k.Blind([]byte(fmt.Sprint("+1202555", 1000+i)))
		}
		b, _ := json.Marshal(peer.Elements{Elements: linkjob.EncodeElements(els)})
		return string(b)
	}
	reblind := func(job string, seq, n int) (int, map[string]any) {
		var out map[string]any
		st := keyedRequest(t, messenger.addr, partyKey, "POST", fmt.Sprintf("/v1/peer/link/jobs/%s/batches/%d/reblind", job, seq), elements(n), &out)
		return st, out
	}
	// The run that ended: no batch, whatever its number.
	for _, seq := range []int{1, 10, 1000} {
		if st, out := reblind(ended, seq, 4); st != http.StatusConflict || !strings.Contains(fmt.Sprint(out), "job_ended") {
			t.Errorf("batch %d of a job that ended: %d %v, want 409 job_ended", seq, st, out)
		}
	}
	if st := keyedRequest(t, messenger.addr, partyKey, "GET", "/v1/peer/link/jobs/"+ended+"/batches/1", "", &out); st != http.StatusConflict {
		t.Errorf("the responder's batch of a job that ended: %d %v", st, out)
	}
	// A job opened for 80 elements in batches of 10 (no max_elements):
	// eight full batches and an empty ninth, nothing past them.
	open := `{"job_id":"probe","link_epoch":2,"link_group":"x25519-ell2","set_size":80,"batch_size":10}`
	if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", open, &out); st != 200 {
		t.Fatalf("open: %d %v", st, out)
	}
	if st, out := reblind("probe", 1, 10); st != 200 {
		t.Fatalf("batch 1: %d %v", st, out)
	}
	for _, c := range []struct{ seq, n int }{{9, 1}, {10, 0}, {1000, 1}, {1, 11}} {
		if st, out := reblind("probe", c.seq, c.n); st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out), "protocol_error") {
			t.Errorf("batch %d of %d elements: %d %v, want 422", c.seq, c.n, st, out)
		}
	}
	if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", `{"job_id":"small","link_epoch":2,"link_group":"x25519-ell2","set_size":10,"max_elements":9,"batch_size":10}`, &out); st != http.StatusUnprocessableEntity {
		t.Errorf("an opening declaring fewer elements than its set: %d %v", st, out)
	}
	// A job declared for 15 elements: whatever batch numbers, re-sendings
	// and openings the holder of the party key tries, it gets no more
	// than 15 distinct elements raised to the messenger's key.
	const declared = `{"job_id":"resent","link_epoch":2,"link_group":"x25519-ell2","set_size":12,"max_elements":15,"batch_size":10}`
	if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", declared, &out); st != 200 {
		t.Fatalf("open: %d %v", st, out)
	}
	answered := map[string]bool{}
	next := 0
	send := func(seq int, els []psi.Element) (int, map[string]any) {
		b, _ := json.Marshal(peer.Elements{Elements: linkjob.EncodeElements(els)})
		var out map[string]any
		st := keyedRequest(t, messenger.addr, partyKey, "POST", fmt.Sprintf("/v1/peer/link/jobs/resent/batches/%d/reblind", seq), string(b), &out)
		if st == 200 {
			vals, _ := out["elements"].([]any)
			for _, v := range vals {
				answered[v.(string)] = true
			}
		}
		return st, out
	}
	fresh := func(n int) []psi.Element {
		els := make([]psi.Element, n)
		for i := range els {
			els[i] = k.Blind([]byte(fmt.Sprint("+1202556", next)))
			next++
		}
		return els
	}
	first := fresh(10)
	if st, out := send(1, first); st != 200 {
		t.Fatalf("batch 1: %d %v", st, out)
	}
	// The same batch again, as a resumed attempt sends it, costs nothing,
	// however often, and after opening the job again.
	for i := range 5 {
		if i == 3 {
			if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", declared, &out); st != 200 {
				t.Fatalf("opening again: %d %v", st, out)
			}
		}
		if st, out := send(1, first); st != 200 {
			t.Fatalf("batch 1 sent again (%d): %d %v", i, st, out)
		}
	}
	// Five new elements in the second batch are the last the job takes.
	if st, out := send(2, fresh(5)); st != 200 {
		t.Fatalf("batch 2 of 5: %d %v", st, out)
	}
	// Every way of asking for one more is refused: batch 1 again with one
	// element changed, batch 2 again with one more, batch 2 again with
	// batch 1's elements (new to batch 2), and all of it again after
	// opening the job again.
	for round := range 2 {
		if round == 1 {
			if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", declared, &out); st != 200 {
				t.Fatalf("opening again: %d %v", st, out)
			}
		}
		changed := append(append([]psi.Element{}, first[:9]...), fresh(1)...)
		for i, c := range []struct {
			seq int
			els []psi.Element
		}{{1, changed}, {2, fresh(5)}, {2, first[:5]}, {2, fresh(6)}, {3, fresh(1)}} {
			if st, out := send(c.seq, c.els); st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out), "declared") {
				t.Errorf("round %d, attempt %d (batch %d of %d): %d %v, want 422 naming what the opening declared", round, i, c.seq, len(c.els), st, out)
			}
		}
	}
	if len(answered) != 15 {
		t.Errorf("the job raised %d distinct elements to the messenger's key, want the 15 it declared", len(answered))
	}
	// The daily budget of a party key, from a bundle that sets it to 25
	// elements: with a key that has used none, two batches of 10, then
	// 429.
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.DefaultFS()); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, policies.CatalogueFile)
	orig, _ := os.ReadFile(cat)
	low := strings.Replace(string(orig), "peer_reblinds_per_day: 50000000", "peer_reblinds_per_day: 25", 1)
	low = strings.Replace(low, "peer_link_jobs_per_day: 24", "peer_link_jobs_per_day: 1", 1)
	if !strings.Contains(low, "peer_reblinds_per_day: 25") || !strings.Contains(low, "peer_link_jobs_per_day: 1\n") {
		t.Fatal("the catalogue has no peer_reblinds_per_day of 50000000 or peer_link_jobs_per_day of 24")
	}
	if err := os.WriteFile(cat, []byte(low), 0o600); err != nil {
		t.Fatal(err)
	}
	messenger.srv.stop(t)
	messenger.environ["LINKD_POLICIES"] = dir
	messenger.start(t)
	_, created, _ := runCmd(t, messenger.environ, "apikey", "create", "--tenant", "social", "--role", "party")
	partyKey = lastLine(created)
	for seq := 2; seq <= 3; seq++ {
		if st, out := reblind("probe", seq, 10); st != 200 {
			t.Fatalf("batch %d, within the budget: %d %v", seq, st, out)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+messenger.addr+"/v1/peer/link/jobs/probe/batches/4/reblind", strings.NewReader(elements(10)))
	req.Header.Set("Authorization", "Bearer "+partyKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "peer_reblinds") {
		t.Fatalf("batch 4, past the budget: %d %s", resp.StatusCode, body)
	}
	// No job declares more than a day's budget; a party key opens one new
	// job a day under this bundle (opening one again is not new).
	if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", `{"job_id":"big","link_epoch":2,"link_group":"x25519-ell2","set_size":26,"batch_size":10}`, &out); st != http.StatusUnprocessableEntity {
		t.Fatalf("a set of 26 against a budget of 25: %d %v", st, out)
	}
	for i, c := range []struct {
		id   string
		want int
	}{{"first", 200}, {"first", 200}, {"second", http.StatusTooManyRequests}} {
		body := `{"job_id":"` + c.id + `","link_epoch":2,"link_group":"x25519-ell2","set_size":10,"batch_size":10}`
		if st := keyedRequest(t, messenger.addr, partyKey, "POST", "/v1/peer/link/jobs", body, &out); st != c.want {
			t.Fatalf("open %d (%s): %d %v, want %d", i, c.id, st, out, c.want)
		}
	}
}
