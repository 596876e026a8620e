package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDev starts linkd dev with small directories, uses a printed demo key
// on one party and the printed refusal on the other, and stops it.
func TestDev(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // where dev writes its sample customer list
	social, messenger := freeAddr(t), freeAddr(t)
	dev := startCmd(nil, "dev", "--size", "400", "--social-addr", social, "--messenger-addr", messenger)
	defer dev.cancel()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(dev.out.String(), "is ready") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s\n%s", dev.out.String(), dev.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	o := dev.out.String()
	if !strings.Contains(o, "400 accounts each, 240 on both") {
		t.Fatalf("output:\n%s", o)
	}
	keyOf := func(party, role string) string {
		_, after, _ := strings.Cut(o, party+" on http://")
		for _, line := range strings.Split(after, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == role {
				return f[1]
			}
		}
		t.Fatalf("no %s key for %s", role, party)
		return ""
	}
	get := func(addr, key string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/oprf/config", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(messenger, keyOf("messenger", "advertiser")); st != 200 {
		t.Fatalf("messenger advertiser: %d", st)
	}
	if st := get(social, keyOf("messenger", "advertiser")); st != 401 {
		t.Fatalf("a messenger key on social: %d", st)
	}
	if st := get(social, keyOf("social", "compliance")); st != 403 {
		t.Fatalf("compliance on oprf config: %d", st)
	}
	// The printed compliance example explains that refusal, entry 1 here.
	cmd := "bin/linkd policy explain --server http://" + social + " --key " + keyOf("social", "compliance") + " --audit SEQ"
	if !strings.Contains(o, cmd) {
		t.Fatalf("the explain example is not printed:\n%s", o)
	}
	code, out, errs := runCmd(t, nil, strings.Fields(strings.Replace(cmd, "SEQ", "1", 1))[1:]...)
	if code != 0 || !strings.Contains(out, "audit entry 1: deny") || !strings.Contains(out, "because: forbid compliance-read-only (roles.cedar:") {
		t.Fatalf("%s: exit %d\n%s%s", cmd, code, out, errs)
	}

	// The operator's printed link command: PSI between the two parties
	// finds the 240 people on both.
	linkCmd := "bin/linkd link run --server http://" + social + " --key " + keyOf("social", "admin")
	if !strings.Contains(o, linkCmd) {
		t.Fatalf("the link command is not printed:\n%s", o)
	}
	code, out, errs = runCmd(t, nil, strings.Fields(linkCmd)[1:]...)
	if code != 0 || !strings.Contains(out, "this party has 400 accounts, the other 400") || !strings.Contains(out, "matched 240 of 400") {
		t.Fatalf("%s: exit %d\n%s%s", linkCmd, code, out, errs)
	}

	// The metrics are an operator's: refused without the admin key.
	resp, err := http.Get("http://" + social + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a key: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+social+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+keyOf("social", "admin"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `linkd_matches_total{kind="link"} 240`) {
		t.Fatal("the matches metric does not count the link run")
	}
	// The same metrics as serve's: the policy bundle, the retention
	// janitor, the relay and its backlog, the process's own.
	for _, name := range []string{"linkd_policy_bundle_info", "linkd_retention_purged_total", "linkd_relay_failures_total",
		"linkd_signal_outbox_pending", "linkd_signal_outbox_oldest_seconds", "linkd_subject_outbox_pending",
		"linkd_subject_outbox_oldest_seconds", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(metrics), "# TYPE "+name+" ") {
			t.Errorf("dev's metrics lack %s", name)
		}
	}

	// The advertiser's printed commands: an audience, the sample list
	// uploaded in both modes. 300 of the list are social's users, 34 of
	// them opted out of ads (every ninth); 100 are no one's.
	m := regexp.MustCompile(`customer list \((\S+customers\.csv): numbers`).FindStringSubmatch(o)
	if m == nil {
		t.Fatalf("no sample customer list printed:\n%s", o)
	}
	sample := m[1]
	adv := keyOf("social", "advertiser")
	for _, want := range []string{"bin/linkd audience create --server http://" + social + " --key " + adv + " --name 'Spring buyers'",
		"bin/linkd audience upload --server http://" + social + " --key " + adv + " --audience ID " + sample,
		"bin/linkd audience upload --mode private --server http://" + social + " --key " + adv + " --audience ID2 " + sample} {
		if !strings.Contains(o, want) {
			t.Fatalf("not printed: %s\n%s", want, o)
		}
	}
	var hashed string // the audience uploaded in hash mode
	for _, mode := range []string{"hash", "private"} {
		req, _ := http.NewRequest("POST", "http://"+social+"/v1/audiences", strings.NewReader(`{"name":"Spring buyers","purpose":"ads"}`))
		req.Header.Set("Authorization", "Bearer "+adv)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %v %v", resp, err)
		}
		var a struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		code, out, errs := runCmd(t, nil, "audience", "upload", "--mode", mode, "--batch", "64", "--server", "http://"+social, "--key", adv, "--audience", a.ID, sample)
		m := regexp.MustCompile(`audience \S+: (?:ready, between (\d+) and (\d+) members|too_small) \(privacy budget: [0-9.]+ of 1 left today\)`).FindStringSubmatch(out)
		if code != 0 || !strings.Contains(out, "uploaded 400 lines in 7 batches ("+mode+" mode") || !strings.Contains(out, ": 400 received, 0 invalid at the server, 0 invalid here") || m == nil {
			t.Fatalf("%s upload: exit %d\n%s%s", mode, code, out, errs)
		}
		// A release: 266 members with noise of scale 20 (epsilon 0.05)
		// and its margin of 60; noise beyond 200 comes once in 10,000.
		if lo, _ := strconv.Atoi(m[1]); m[1] != "" && lo > 266+200 {
			t.Fatalf("%s: lower bound %d far above the 266 members", mode, lo)
		}
		if hi, _ := strconv.Atoi(m[2]); m[2] != "" && hi < 266-200 {
			t.Fatalf("%s: upper bound %d far below the 266 members", mode, hi)
		}
		if mode == "hash" {
			hashed = a.ID
		}
	}

	// Extension to the messenger (linked above): the members with a link,
	// whose consent both parties' policies find, and who are not opted out
	// at the messenger. Social's person i is the messenger's 160+i.
	want := 0
	for i := range 300 {
		if j := 160 + i; i%9 != 0 && j < 400 && i%10 != 0 && j%10 != 0 && j%9 != 0 {
			want++
		}
	}
	req, _ = http.NewRequest("POST", "http://"+social+"/v1/audiences/"+hashed+"/extend", nil)
	req.Header.Set("Authorization", "Bearer "+adv)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ext struct {
		Other string `json:"other_audience_id"`
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &ext); err != nil || resp.StatusCode != 202 || ext.Other == "" || holdsNumber(body, want) {
		t.Fatalf("extend: %d %s", resp.StatusCode, body)
	}
	// The extension ends in the background: the mirror shows at the
	// messenger once its session is complete.
	var mirror struct {
		Status string `json:"status"`
		Lower  int    `json:"approximate_count_lower_bound"`
		Upper  int    `json:"approximate_count_upper_bound"`
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		req, _ = http.NewRequest("GET", "http://"+messenger+"/v1/audiences/"+ext.Other, nil)
		req.Header.Set("Authorization", "Bearer "+keyOf("messenger", "advertiser"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(body, &mirror); err == nil && resp.StatusCode == 200 && mirror.Status != "empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror at the messenger: %d %s", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A release of the mirror's size: too small, or a range near the truth
	// (as above).
	if (mirror.Status != "ready" && mirror.Status != "too_small") ||
		mirror.Status == "ready" && (mirror.Lower > want+200 || mirror.Upper < want-200) {
		t.Fatalf("the mirror at the messenger (%d members): %s", want, body)
	}
	// Trust and safety: the printed flag of a linked account crosses.
	if !strings.Contains(o, "bin/linkd signal flag --server http://"+social+" --key "+keyOf("social", "trust_safety")+" --account s-000001 --type malicious_link --confidence 0.9") {
		t.Fatalf("the flag example is not printed:\n%s", o)
	}
	flag := `{"account_id":"s-000001","type":"malicious_link","confidence":0.9,"evidence_ref":"case-1","expires_at":"` +
		time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339) + `"}`
	req, _ = http.NewRequest("POST", "http://"+social+"/v1/signals", strings.NewReader(flag))
	req.Header.Set("Authorization", "Bearer "+keyOf("social", "trust_safety"))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var flagged struct {
		ID      string `json:"id"`
		Crosses bool   `json:"crosses"`
	}
	if err := json.Unmarshal(body, &flagged); err != nil || resp.StatusCode != 201 || !flagged.Crosses {
		t.Fatalf("flag: %d %s", resp.StatusCode, body)
	}
	// The relay brings it to the messenger's review queue, on its own
	// account; its decision, and the social network's revocation, as
	// printed.
	for _, want := range []string{"bin/linkd signal inbound --server http://" + messenger, "--status open",
		"bin/linkd signal decide --server http://" + messenger, "SIGNAL_ID disable --reason", "bin/linkd signal revoke --server http://" + social} {
		if !strings.Contains(o, want) {
			t.Fatalf("not printed: %s\n%s", want, o)
		}
	}
	fetch := func(url, key string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	mts := keyOf("messenger", "trust_safety")
	deadline = time.Now().Add(10 * time.Second)
	for q := ""; !strings.Contains(q, `"id":"`+flagged.ID+`"`); q = fetch("http://"+messenger+"/v1/signals/inbound?status=open", mts) {
		if time.Now().After(deadline) {
			t.Fatalf("the flag did not reach the messenger's queue: %s", q)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q := fetch("http://"+messenger+"/v1/signals/inbound/", mts); strings.Contains(q, "s-000001") || strings.Contains(q, "case-1") {
		t.Fatalf("the sender's account or evidence crossed: %s", q)
	}
	req, _ = http.NewRequest("POST", "http://"+social+"/v1/signals/"+flagged.ID+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+keyOf("social", "trust_safety"))
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	for q := ""; !strings.Contains(q, `"id":"`+flagged.ID+`"`); q = fetch("http://"+messenger+"/v1/signals/inbound?status=revoked", mts) {
		if time.Now().After(deadline) {
			t.Fatalf("the revocation did not reach the messenger: %s", q)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dev.stop(t)
}

// holdsNumber reports whether a JSON object answer has n as the value of
// one of its fields (an exact count it must not give), whatever digits its
// random ids happen to hold.
func holdsNumber(body []byte, n int) bool {
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return true
	}
	for _, v := range fields {
		if f, ok := v.(float64); ok && f == float64(n) {
			return true
		}
	}
	return false
}
