package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Chain holds a key epoch's two audit keys: the HMAC key of the hash chain
// and the Ed25519 key that signs checkpoints. It prints as [redacted].
type Chain struct {
	epoch uint32
	mac   []byte
	sign  ed25519.PrivateKey
}

// NewChain makes the chain of key epoch epoch (from 1) from a 32-byte HMAC
// key and a 32-byte Ed25519 seed, both derived from the key file.
func NewChain(epoch uint32, macKey, signSeed []byte) (*Chain, error) {
	if epoch == 0 || len(macKey) != 32 || len(signSeed) != ed25519.SeedSize {
		return nil, errors.New("audit: a chain needs a key epoch from 1, a 32-byte HMAC key and a 32-byte signing seed")
	}
	return &Chain{epoch: epoch, mac: append([]byte(nil), macKey...), sign: ed25519.NewKeyFromSeed(signSeed)}, nil
}

// Epoch is the key epoch of the chain's keys.
func (c *Chain) Epoch() uint32 { return c.epoch }

// Format keeps the keys out of every fmt verb.
func (c *Chain) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "audit.Chain{epoch %d, keys [redacted]}", c.epoch)
}

// PublicKey is the key checkpoints are verified with.
func (c *Chain) PublicKey() ed25519.PublicKey { return c.sign.Public().(ed25519.PublicKey) }

// Hash computes the keyed hash of e following prev.
func (c *Chain) Hash(prev [32]byte, e Entry) [32]byte {
	h := hmac.New(sha256.New, c.mac)
	h.Write([]byte("linkd audit v2"))
	h.Write(prev[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UTC().UnixMicro()))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.KeyEpoch))
	h.Write(n[:])
	for _, f := range []string{e.Actor, e.Tenant, e.Role, e.Action, e.Resource, e.Decision, e.Rule, e.BundleHash, e.RequestID, e.Request} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Link fills in e's chain fields after prev (the last entry's hash) under
// c: the store calls it with the sequence number already assigned.
func (c *Chain) Link(prev [32]byte, e *Entry) {
	e.PrevHash, e.KeyEpoch = prev, c.epoch
	e.Hash = c.Hash(prev, *e)
}

// Check reports, in constant time, whether e's stored hash is its keyed
// hash after prev.
func (c *Chain) Check(prev [32]byte, e Entry) bool {
	want := c.Hash(prev, e)
	return hmac.Equal(want[:], e.Hash[:])
}

// Checkpoint is a signed statement of the log's head: entry Seq had hash
// Hash at At. Kept outside the database, it shows a log cut short or
// rewritten since.
type Checkpoint struct {
	Seq       int64
	Hash      [32]byte
	At        time.Time
	KeyEpoch  uint32
	Signature []byte
}

type checkpointJSON struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	KeyEpoch  uint32    `json:"key_epoch"`
	Signature string    `json:"signature"`
}

// MarshalJSON writes the checkpoint as one JSON object, hashes in hex.
func (cp Checkpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointJSON{Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash[:]), At: cp.At.UTC(), KeyEpoch: cp.KeyEpoch,
		Signature: hex.EncodeToString(cp.Signature)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (cp *Checkpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	h, err := hex.DecodeString(j.Hash)
	if err != nil || len(h) != 32 {
		return errors.New("audit: a checkpoint's hash is 64 hexadecimal characters")
	}
	sig, err := hex.DecodeString(j.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("audit: a checkpoint's signature is 128 hexadecimal characters")
	}
	*cp = Checkpoint{Seq: j.Seq, At: j.At.UTC(), KeyEpoch: j.KeyEpoch, Signature: sig}
	copy(cp.Hash[:], h)
	return nil
}

func (cp Checkpoint) message() []byte {
	m := []byte("linkd audit checkpoint v1\x00")
	m = binary.BigEndian.AppendUint64(m, uint64(cp.Seq))
	m = append(m, cp.Hash[:]...)
	m = binary.BigEndian.AppendUint64(m, uint64(cp.At.UTC().UnixMicro()))
	m = binary.BigEndian.AppendUint32(m, cp.KeyEpoch)
	return m
}

// Sign makes the checkpoint of entry e, the log's head, at time at.
func (c *Chain) Sign(e Entry, at time.Time) Checkpoint {
	cp := Checkpoint{Seq: e.Seq, Hash: e.Hash, At: at.UTC().Truncate(time.Microsecond), KeyEpoch: c.epoch}
	cp.Signature = ed25519.Sign(c.sign, cp.message())
	return cp
}

// VerifyCheckpoint reports whether cp was signed under c's key.
func (c *Chain) VerifyCheckpoint(cp Checkpoint) bool {
	return cp.KeyEpoch == c.epoch && ed25519.Verify(c.PublicKey(), cp.message(), cp.Signature)
}

// AppendCheckpoint appends cp to the checkpoint file at path, one JSON
// line, creating it with mode 0600; the write is synced before it returns.
// Keep the file where the database's operators cannot rewrite it (another
// machine, a WORM bucket): its lines are what Verify is given.
func AppendCheckpoint(path string, cp Checkpoint) error {
	line, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: the checkpoint file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("audit: the checkpoint file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: the checkpoint file: %w", err)
	}
	return f.Close()
}

// ReadCheckpoints reads a checkpoint file: every checkpoint in it, in the
// file's order; a line that is not a checkpoint is an error naming its
// line.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 4096)
	var out []Checkpoint
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var cp Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return nil, fmt.Errorf("audit: checkpoint file, line %d: not a checkpoint: %s", line, strconv.Quote(trim(err.Error())))
		}
		out = append(out, cp)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("audit: the checkpoint file holds no checkpoint")
	}
	return out, nil
}

// Newest is the checkpoint of the highest entry (the zero Checkpoint for
// none).
func Newest(cps []Checkpoint) Checkpoint {
	var newest Checkpoint
	for _, cp := range cps {
		if cp.Seq > newest.Seq {
			newest = cp
		}
	}
	return newest
}

func trim(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// WriteCheckpoint anchors the log: it first checks that the log still
// holds the newest checkpoint in the file at path (a log rolled back past
// it is refused, not signed), then appends an entry of action
// audit.checkpoint (through the store's own checks that the log still
// holds what this process wrote), signs that entry, the log's new head,
// and appends the checkpoint to the file.
func WriteCheckpoint(ctx context.Context, s Store, c *Chain, path string, now time.Time) (Checkpoint, error) {
	f, err := os.Open(path)
	switch {
	case err == nil:
		cps, rerr := ReadCheckpoints(f)
		f.Close()
		if rerr != nil {
			return Checkpoint{}, rerr
		}
		newest := Newest(cps)
		es, err := s.AuditEntries(ctx, Filter{After: newest.Seq - 1, Limit: 1})
		if err != nil {
			return Checkpoint{}, err
		}
		if len(es) == 0 || es[0].Seq != newest.Seq || es[0].Hash != newest.Hash {
			return Checkpoint{}, &BrokenError{newest.Seq, "the log no longer holds the newest checkpoint in " + path + ": refusing to sign its head"}
		}
	case !errors.Is(err, os.ErrNotExist):
		return Checkpoint{}, fmt.Errorf("audit: the checkpoint file: %w", err)
	}
	e, err := s.AppendAudit(ctx, Entry{Time: now, Actor: "linkd", Action: "audit.checkpoint", Resource: "audit_log", Decision: "allow",
		Rule: "checkpoint"}, c)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := c.Sign(e, now)
	if err := AppendCheckpoint(path, cp); err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}
