package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// The key file is JSON: a header in the clear (format, party, how the
// key-encryption key is obtained) and the epochs sealed with
// XChaCha20-Poly1305 under that key, the header bound as additional data so
// that no field of it can be changed without the file failing to open.
//
// The key-encryption key is either derived from a passphrase with argon2id
// (RFC 9106), or given directly (32 bytes, for a KMS or secret manager that
// hands one out).

const fileFormat = "linkd-keys-v1"

// Argon2id parameters for new files: RFC 9106's second recommended option
// with the parallelism of a small machine.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
)

// Bounds on the parameters a file may ask for, so a crafted file cannot make
// opening it take unbounded memory or time.
const (
	maxArgonTime   = 16
	maxArgonMemory = 1024 * 1024 // KiB: 1 GiB
	maxFileSize    = 1 << 20
)

// Errors of opening a key file.
var (
	ErrWrongKey   = errors.New("keys: the key file cannot be opened: wrong passphrase or key, or the file was altered")
	ErrFileFormat = errors.New("keys: not a linkd key file")
	ErrNoUnlock   = errors.New("keys: no passphrase or key-encryption key given")
)

// Unlock is how a key file's key-encryption key is obtained: a passphrase,
// or a 32-byte key. Exactly one is set.
type Unlock struct {
	Passphrase []byte
	KEK        []byte
}

type kdfParams struct {
	Name      string `json:"name"` // "argon2id" or "kek"
	Salt      []byte `json:"salt,omitempty"`
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
}

type fileHeader struct {
	Format string    `json:"format"`
	Party  string    `json:"party"`
	KDF    kdfParams `json:"kdf"`
}

type fileJSON struct {
	fileHeader
	Nonce  []byte `json:"nonce"`
	Sealed []byte `json:"sealed"`
}

type sealedEpoch struct {
	ID      uint32    `json:"id"`
	Created time.Time `json:"created"`
	Master  []byte    `json:"master"`
}

type sealedRing struct {
	Current uint32        `json:"current"`
	Epochs  []sealedEpoch `json:"epochs"`
}

// argonParams are the parameters used for new files; tests lower them.
var argonParams = kdfParams{Name: "argon2id", Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}

// Seal encodes the ring as a key file encrypted under u.
func Seal(r *Ring, u Unlock) ([]byte, error) {
	h := fileHeader{Format: fileFormat, Party: r.party}
	switch {
	case len(u.Passphrase) > 0 && len(u.KEK) == 0:
		h.KDF = argonParams
		h.KDF.Salt = make([]byte, 16)
		if _, err := rand.Read(h.KDF.Salt); err != nil {
			return nil, fmt.Errorf("keys: reading random bytes: %w", err)
		}
	case len(u.KEK) > 0 && len(u.Passphrase) == 0:
		h.KDF = kdfParams{Name: "kek"}
	default:
		return nil, ErrNoUnlock
	}
	kek, err := h.KDF.key(u)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	plain := sealedRing{Current: r.current}
	for _, e := range r.epochs {
		plain.Epochs = append(plain.Epochs, sealedEpoch{ID: e.ID, Created: e.Created, Master: e.master.Expose()})
	}
	pt, err := json.Marshal(plain)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding key ring: %w", err)
	}
	defer clear(pt)
	for _, e := range plain.Epochs {
		clear(e.Master)
	}
	aad, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding header: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: reading random bytes: %w", err)
	}
	out, err := json.MarshalIndent(fileJSON{fileHeader: h, Nonce: nonce, Sealed: aead.Seal(nil, nonce, pt, aad)}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keys: encoding key file: %w", err)
	}
	return append(out, '\n'), nil
}

// Open decrypts a key file. A wrong passphrase or key and any change to the
// file give ErrWrongKey; a file that is not a key file gives ErrFileFormat.
func Open(data []byte, u Unlock) (*Ring, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFileFormat, maxFileSize)
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFileFormat, errors.Unwrap(err))
	}
	if f.Format != fileFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrFileFormat, f.Format, fileFormat)
	}
	if f.Party == "" {
		return nil, fmt.Errorf("%w: no party", ErrFileFormat)
	}
	if err := f.KDF.check(); err != nil {
		return nil, err
	}
	kek, err := f.KDF.key(u)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(f.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrFileFormat, len(f.Nonce))
	}
	aad, err := json.Marshal(f.fileHeader)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding header: %w", err)
	}
	pt, err := aead.Open(nil, f.Nonce, f.Sealed, aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	defer clear(pt)
	var sr sealedRing
	if err := json.Unmarshal(pt, &sr); err != nil {
		return nil, fmt.Errorf("%w: sealed content: %v", ErrFileFormat, err)
	}
	r := &Ring{party: f.Party, current: sr.Current}
	for _, e := range sr.Epochs {
		m, err := SecretFromBytes(e.Master)
		clear(e.Master)
		if err != nil || m.IsZero() {
			return nil, fmt.Errorf("%w: epoch %d has no valid secret", ErrFileFormat, e.ID)
		}
		if n := len(r.epochs); e.ID == 0 || (n > 0 && r.epochs[n-1].ID >= e.ID) {
			return nil, fmt.Errorf("%w: epochs out of order", ErrFileFormat)
		}
		r.epochs = append(r.epochs, Epoch{ID: e.ID, Created: e.Created, master: m})
	}
	if _, ok := r.find(r.current); !ok {
		return nil, fmt.Errorf("%w: current epoch %d is missing", ErrFileFormat, r.current)
	}
	return r, nil
}

func (k kdfParams) check() error {
	switch k.Name {
	case "kek":
		if len(k.Salt) != 0 || k.Time != 0 || k.MemoryKiB != 0 || k.Threads != 0 {
			return fmt.Errorf("%w: kek files take no KDF parameters", ErrFileFormat)
		}
	case "argon2id":
		if len(k.Salt) < 16 || k.Time < 1 || k.Time > maxArgonTime ||
			k.MemoryKiB < 8*uint32(max(k.Threads, 1)) || k.MemoryKiB > maxArgonMemory || k.Threads < 1 {
			return fmt.Errorf("%w: argon2id parameters out of bounds", ErrFileFormat)
		}
	default:
		return fmt.Errorf("%w: unknown KDF %q", ErrFileFormat, k.Name)
	}
	return nil
}

func (k kdfParams) key(u Unlock) ([]byte, error) {
	switch k.Name {
	case "kek":
		if len(u.KEK) == 0 {
			return nil, fmt.Errorf("%w: this key file is sealed with a key-encryption key", ErrNoUnlock)
		}
		if len(u.KEK) != chacha20poly1305.KeySize {
			return nil, fmt.Errorf("keys: a key-encryption key is %d bytes, got %d", chacha20poly1305.KeySize, len(u.KEK))
		}
		return u.KEK, nil
	default:
		if len(u.Passphrase) == 0 {
			return nil, fmt.Errorf("%w: this key file is sealed with a passphrase", ErrNoUnlock)
		}
		return argon2.IDKey(u.Passphrase, k.Salt, k.Time, k.MemoryKiB, k.Threads, chacha20poly1305.KeySize), nil
	}
}

// ReadFile opens the key file at path.
func ReadFile(path string, u Unlock) (*Ring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	return Open(data, u)
}

// WriteFile seals the ring and writes it to path atomically, readable by its
// owner only. With create set it refuses to replace an existing file.
func WriteFile(path string, r *Ring, u Unlock, create bool) error {
	data, err := Seal(r, u)
	if err != nil {
		return err
	}
	if create {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("keys: %s exists; it is not replaced", path)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".linkd-keys-*")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if create {
		// Link fails if the file appeared meanwhile: never replace a key file
		// that keys init did not write.
		if err := os.Link(tmp.Name(), path); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

// DecodeKEK reads a key-encryption key given as standard base64.
func DecodeKEK(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != chacha20poly1305.KeySize {
		return nil, fmt.Errorf("keys: a key-encryption key is %d bytes in standard base64", chacha20poly1305.KeySize)
	}
	return b, nil
}
