package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/sha256"
	"io"

	xhkdf "golang.org/x/crypto/hkdf"
)

func init() {
	// Opening a key file costs a full argon2id run; tests use a cheap one.
	argonParams = kdfParams{Name: "argon2id", Time: 1, MemoryKiB: 64, Threads: 1}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestSecretIsRedacted(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw := s.Expose()
	holder := struct{ K Secret }{s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T"} {
		for _, v := range []any{s, &s, holder, []Secret{s}} {
			got := fmt.Sprintf(verb, v)
			if verb != "%T" && !strings.Contains(got, "[redacted]") {
				t.Errorf("Sprintf(%q, %T) = %q", verb, v, got)
			}
			for _, enc := range []string{fmt.Sprintf("%x", raw), fmt.Sprintf("%X", raw), base64.StdEncoding.EncodeToString(raw)} {
				if strings.Contains(got, enc[:16]) {
					t.Errorf("Sprintf(%q, %T) leaks the secret", verb, v)
				}
			}
		}
	}
	if _, err := json.Marshal(holder); err == nil {
		t.Error("json.Marshal of a secret succeeded")
	}
}

func TestSecretEqual(t *testing.T) {
	a, _ := NewSecret()
	b, _ := NewSecret()
	a2, err := SecretFromBytes(a.Expose())
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(a2) || a.Equal(b) || a.IsZero() || !(Secret{}).IsZero() {
		t.Fatal("Equal or IsZero wrong")
	}
	e := a.Expose()
	e[0] ^= 1
	if !a.Equal(a2) {
		t.Fatal("Expose returned the secret's own storage")
	}
	if _, err := SecretFromBytes(make([]byte, 31)); err == nil {
		t.Fatal("31-byte secret accepted")
	}
}

// The derivation is HKDF-SHA256 as the package documents it; check it
// against the independent x/crypto implementation.
func TestDeriveIsDocumentedHKDF(t *testing.T) {
	r, err := NewRing("social", t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Key(PurposeOPRF, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 32)
	rd := xhkdf.New(sha256.New, r.epochs[0].master.Expose(), []byte("linkd key derivation v1"), []byte("linkd/v1/oprf/epoch/1"))
	if _, err := io.ReadFull(rd, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Expose(), want) {
		t.Fatal("derived key is not the documented HKDF output")
	}
}

func TestDeriveSeparates(t *testing.T) {
	r, err := NewRing("social", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, p := range []Purpose{PurposeHashIndex, PurposeOPRF, PurposeLink, PurposeAuditChain, PurposeAuditSign} {
		for _, ep := range []uint32{1, 2} {
			k, err := r.Key(p, ep)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := r.Key(p, ep)
			if !k.Equal(again) {
				t.Fatalf("%s/%d not deterministic", p, ep)
			}
			name := fmt.Sprintf("%s/%d", p, ep)
			if prev, dup := seen[string(k.Expose())]; dup {
				t.Fatalf("%s and %s share a key", name, prev)
			}
			seen[string(k.Expose())] = name
		}
	}
	if _, err := r.Key(PurposeLink, 3); !errors.Is(err, ErrUnknownEpoch) {
		t.Fatalf("unknown epoch: %v", err)
	}
}

func TestRotate(t *testing.T) {
	r, _ := NewRing("messenger", t0)
	old, _ := r.CurrentKey(PurposeLink)
	id, err := r.Rotate(t0.Add(time.Hour))
	if err != nil || id != 2 || r.Current() != 2 {
		t.Fatalf("Rotate = %d, %v; current %d", id, err, r.Current())
	}
	cur, _ := r.CurrentKey(PurposeLink)
	if cur.Equal(old) {
		t.Fatal("rotation kept the key")
	}
	if k, _ := r.Key(PurposeLink, 1); !k.Equal(old) {
		t.Fatal("old epoch's key changed on rotation")
	}
	if got := r.EpochIDs(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("epochs after rotation = %v", got)
	}
	if s := fmt.Sprint(r); s != "keys.Ring{party: messenger, current: 2, epochs: [1 2]}" {
		t.Fatalf("ring prints %q", s)
	}
}

func sealedRing1(t *testing.T, u Unlock) (*Ring, []byte) {
	t.Helper()
	r, err := NewRing("social", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	data, err := Seal(r, u)
	if err != nil {
		t.Fatal(err)
	}
	return r, data
}

func TestSealOpen(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	for name, u := range map[string]Unlock{"passphrase": {Passphrase: []byte("correct horse")}, "kek": {KEK: kek}} {
		t.Run(name, func(t *testing.T) {
			r, data := sealedRing1(t, u)
			for _, e := range r.epochs {
				m := e.master.Expose()
				for _, enc := range [][]byte{m, []byte(base64.StdEncoding.EncodeToString(m)), []byte(fmt.Sprintf("%x", m))} {
					if bytes.Contains(data, enc) {
						t.Fatal("key file holds a master secret in the clear")
					}
				}
			}
			got, err := Open(data, u)
			if err != nil {
				t.Fatal(err)
			}
			if got.Party() != "social" || got.Current() != 2 || len(got.epochs) != 2 {
				t.Fatalf("opened %v", got)
			}
			for i := range r.epochs {
				if !got.epochs[i].master.Equal(r.epochs[i].master) || !got.epochs[i].Created.Equal(r.epochs[i].Created) {
					t.Fatalf("epoch %d changed in the round trip", i)
				}
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	u := Unlock{Passphrase: []byte("correct horse")}
	_, data := sealedRing1(t, u)
	if _, err := Open(data, Unlock{Passphrase: []byte("wrong horse")}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong passphrase: %v", err)
	}
	if _, err := Open(data, Unlock{}); !errors.Is(err, ErrNoUnlock) {
		t.Errorf("no passphrase: %v", err)
	}
	if _, err := Open(data, Unlock{KEK: make([]byte, 32)}); !errors.Is(err, ErrNoUnlock) {
		t.Errorf("kek for a passphrase file: %v", err)
	}
	// Changing the header in the clear breaks the seal.
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f["party"] = "messenger"
	forged, _ := json.Marshal(f)
	if _, err := Open(forged, u); !errors.Is(err, ErrWrongKey) {
		t.Errorf("forged party: %v", err)
	}
	// So does a flipped ciphertext bit.
	var fj fileJSON
	if err := json.Unmarshal(data, &fj); err != nil {
		t.Fatal(err)
	}
	fj.Sealed[3] ^= 0x40
	flipped, _ := json.Marshal(fj)
	if _, err := Open(flipped, u); !errors.Is(err, ErrWrongKey) {
		t.Errorf("flipped bit: %v", err)
	}
	for name, bad := range map[string]string{
		"not json":     "hello",
		"other format": `{"format":"age","party":"x","kdf":{"name":"kek"},"nonce":"","sealed":""}`,
		"huge argon":   `{"format":"linkd-keys-v1","party":"x","kdf":{"name":"argon2id","salt":"AAAAAAAAAAAAAAAAAAAAAA==","time":3,"memory_kib":4000000000,"threads":1},"nonce":"","sealed":""}`,
		"unknown kdf":  `{"format":"linkd-keys-v1","party":"x","kdf":{"name":"scrypt"},"nonce":"","sealed":""}`,
		"extra field":  `{"format":"linkd-keys-v1","party":"x","kdf":{"name":"kek"},"nonce":"","sealed":"","secret":"x"}`,
	} {
		if _, err := Open([]byte(bad), u); !errors.Is(err, ErrFileFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	u := Unlock{KEK: bytes.Repeat([]byte{1}, 32)}
	r, _ := NewRing("social", t0)
	if err := WriteFile(path, r, u, true); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if err := WriteFile(path, r, u, true); err == nil {
		t.Fatal("create replaced an existing key file")
	}
	if _, err := r.Rotate(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, r, u, false); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path, u)
	if err != nil || got.Current() != 2 {
		t.Fatalf("ReadFile = %v, %v", got, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// FuzzOpen: no input makes Open panic, and whatever opens seals and opens
// again to the same ring.
func FuzzOpen(f *testing.F) {
	u := Unlock{KEK: bytes.Repeat([]byte{9}, 32)}
	r, _ := NewRing("social", t0)
	good, _ := Seal(r, u)
	f.Add(good)
	f.Add([]byte(`{"format":"linkd-keys-v1","party":"x","kdf":{"name":"kek"},"nonce":"","sealed":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Open(data, u)
		if err != nil {
			return
		}
		again, err := Seal(got, u)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Open(again, u)
		if err != nil || back.Current() != got.Current() || len(back.epochs) != len(got.epochs) {
			t.Fatalf("round trip: %v, %v", back, err)
		}
	})
}
