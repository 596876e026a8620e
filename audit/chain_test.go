package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testChain(t testing.TB, epoch uint32, seed byte) *Chain {
	t.Helper()
	k := bytes.Repeat([]byte{seed}, 32)
	c, err := NewChain(epoch, k, k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewChainRefuses(t *testing.T) {
	k := make([]byte, 32)
	for _, c := range []struct {
		epoch     uint32
		mac, sign []byte
	}{{0, k, k}, {1, k[:31], k}, {1, k, k[:31]}, {1, nil, nil}} {
		if _, err := NewChain(c.epoch, c.mac, c.sign); err == nil {
			t.Errorf("NewChain(%d, %d bytes, %d bytes) accepted", c.epoch, len(c.mac), len(c.sign))
		}
	}
}

// The chain's keys never print.
func TestChainRedacted(t *testing.T) {
	c := testChain(t, 3, 0xab)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if out := fmt.Sprintf(verb, c); strings.Contains(out, "abab") || strings.Contains(out, "\xab") || !strings.Contains(out, "redacted") {
			t.Errorf("%s printed %q", verb, out)
		}
	}
}

// Every field of an entry, and the key, is in its hash.
func TestChainHashCoversEverything(t *testing.T) {
	c := testChain(t, 1, 1)
	e := Entry{Seq: 7, Time: time.Unix(1700000000, 123000), Actor: "a", Tenant: "t", Role: "r", Action: "x", Resource: "/p",
		Decision: "allow", Rule: "rule", BundleHash: "b", RequestID: "q", Request: "{}", KeyEpoch: 1}
	var prev [32]byte
	h := c.Hash(prev, e)
	changes := []func(*Entry){
		func(e *Entry) { e.Seq++ }, func(e *Entry) { e.Time = e.Time.Add(time.Microsecond) }, func(e *Entry) { e.Actor += "x" },
		func(e *Entry) { e.Tenant += "x" }, func(e *Entry) { e.Role += "x" }, func(e *Entry) { e.Action += "x" },
		func(e *Entry) { e.Resource += "x" }, func(e *Entry) { e.Decision = "deny" }, func(e *Entry) { e.Rule += "x" },
		func(e *Entry) { e.BundleHash += "x" }, func(e *Entry) { e.RequestID += "x" }, func(e *Entry) { e.Request += " " },
		func(e *Entry) { e.KeyEpoch++ },
		// Length prefixes: moving a byte from one field to the next shows.
		func(e *Entry) { e.Actor, e.Tenant = "at", "" },
	}
	for i, change := range changes {
		f := e
		change(&f)
		if c.Hash(prev, f) == h {
			t.Errorf("change %d leaves the hash as it was", i)
		}
	}
	if testChain(t, 1, 2).Hash(prev, e) == h {
		t.Error("another key gives the same hash")
	}
	prev[0] = 1
	if c.Hash(prev, e) == h {
		t.Error("another previous hash gives the same hash")
	}
}

// A checkpoint survives its file; one changed, or under another key or
// epoch, does not verify.
func TestCheckpointRoundTrip(t *testing.T) {
	c := testChain(t, 2, 5)
	cp := c.Sign(Entry{Seq: 41, Hash: [32]byte{9, 9}}, time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC))
	path := filepath.Join(t.TempDir(), "cp")
	for range 2 {
		if err := AppendCheckpoint(path, cp); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v", fi.Mode(), err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	cps, err := ReadCheckpoints(f)
	if err != nil || len(cps) != 2 || cps[1].Seq != 41 || cps[1].Hash != cp.Hash || !c.VerifyCheckpoint(cps[1]) {
		t.Fatalf("read back %+v, %v", cps, err)
	}
	for name, bad := range map[string]Checkpoint{
		"seq":       {Seq: 42, Hash: cp.Hash, At: cp.At, KeyEpoch: 2, Signature: cp.Signature},
		"hash":      {Seq: 41, Hash: [32]byte{9}, At: cp.At, KeyEpoch: 2, Signature: cp.Signature},
		"time":      {Seq: 41, Hash: cp.Hash, At: cp.At.Add(time.Second), KeyEpoch: 2, Signature: cp.Signature},
		"epoch":     {Seq: 41, Hash: cp.Hash, At: cp.At, KeyEpoch: 3, Signature: cp.Signature},
		"signature": {Seq: 41, Hash: cp.Hash, At: cp.At, KeyEpoch: 2, Signature: append([]byte{cp.Signature[0] ^ 1}, cp.Signature[1:]...)},
	} {
		if c.VerifyCheckpoint(bad) {
			t.Errorf("a checkpoint with another %s verifies", name)
		}
	}
	if testChain(t, 2, 6).VerifyCheckpoint(cp) {
		t.Error("a checkpoint verifies under another key")
	}
}

func TestReadCheckpointsRefuses(t *testing.T) {
	good, _ := json.Marshal(testChain(t, 1, 1).Sign(Entry{Seq: 1}, time.Now()))
	for in, want := range map[string]string{
		"":                                     "holds no checkpoint",
		string(good) + "\nnot json\n":          "line 2: not a checkpoint",
		`{"seq":1,"hash":"00","signature":""}`: "line 1: not a checkpoint",
		strings.Repeat("x", 5000):              "checkpoint file",
	} {
		if _, err := ReadCheckpoints(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadCheckpoints(%.30q) = %v, want %q", in, err, want)
		}
	}
}

// Whatever a checkpoint file holds, reading it never panics, and what it
// returns marshals back to what it read.
func FuzzReadCheckpoints(f *testing.F) {
	good, _ := json.Marshal(testChain(f, 1, 1).Sign(Entry{Seq: 1}, time.Unix(0, 0)))
	f.Add(string(good) + "\n")
	f.Add("{}\n")
	f.Add(`{"seq":-1,"hash":"` + strings.Repeat("0", 64) + `","at":"2026-01-01T00:00:00Z","key_epoch":0,"signature":"` + strings.Repeat("0", 128) + `"}`)
	f.Fuzz(func(t *testing.T, in string) {
		cps, err := ReadCheckpoints(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, cp := range cps {
			b, err := json.Marshal(cp)
			if err != nil {
				t.Fatal(err)
			}
			var back Checkpoint
			if err := json.Unmarshal(b, &back); err != nil || back.Seq != cp.Seq || back.Hash != cp.Hash || !bytes.Equal(back.Signature, cp.Signature) {
				t.Fatalf("%+v does not survive its JSON: %v", cp, err)
			}
		}
	})
}
