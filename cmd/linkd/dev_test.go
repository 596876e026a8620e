package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDev starts linkd dev with small directories, uses a printed demo key
// on one party and the printed refusal on the other, and stops it.
func TestDev(t *testing.T) {
	social, messenger := freeAddr(t), freeAddr(t)
	dev := startCmd(nil, "dev", "--size", "200", "--social-addr", social, "--messenger-addr", messenger)
	defer dev.cancel()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(dev.out.String(), "is ready") {
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s\n%s", dev.out.String(), dev.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	o := dev.out.String()
	if !strings.Contains(o, "200 accounts each, 120 on both") {
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
	// The printed compliance example explains that refusal, entry 1.
	cmd := "bin/linkd policy explain --server http://" + social + " --key " + keyOf("social", "compliance") + " --audit 1"
	if !strings.Contains(o, cmd) {
		t.Fatalf("the explain example is not printed:\n%s", o)
	}
	code, out, errs := runCmd(t, nil, strings.Fields(cmd)[1:]...)
	if code != 0 || !strings.Contains(out, "audit entry 1: deny") || !strings.Contains(out, "because: forbid compliance-read-only (roles.cedar:") {
		t.Fatalf("%s: exit %d\n%s%s", cmd, code, out, errs)
	}
	dev.stop(t)
}
