package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/linking/pseudonym"
)

// keysCmd manages a party's key file.
type keysCmd struct {
	Init   keysInitCmd   `cmd:"" help:"Create a key file with epoch 1 (never replaces a file)."`
	Show   keysShowCmd   `cmd:"" help:"Print the party, the epochs and their public keys; never a secret."`
	Rotate keysRotateCmd `cmd:"" help:"Add a new epoch and make it current; older epochs stay."`
}

func (keysCmd) Help() string {
	return `Manages a party's key file: the master secret of each key epoch, encrypted
at rest. The file is sealed with a passphrase (argon2id and
XChaCha20-Poly1305): from --passphrase-file FILE, LINKD_PASSPHRASE, or a
prompt when standard input is a terminal; or with a 32-byte
key-encryption key, base64, in LINKD_KEK.`
}

// keyFileFlags name the key file and how it is sealed.
type keyFileFlags struct {
	Keys string `env:"LINKD_KEYS" placeholder:"FILE" help:"The key file."`
	passphraseFlag
	outputFlag
}

func (f keyFileFlags) check(e *env, cmd string) error {
	if f.Keys == "" {
		return usage(e, cmd, "--keys (or LINKD_KEYS) is required")
	}
	return nil
}

type keysInitCmd struct {
	keyFileFlags
	Party                string `required:"" enum:"messenger,social" placeholder:"PARTY" help:"The party the keys belong to: messenger or social."`
	AllowShortPassphrase bool   `help:"Accept a passphrase of fewer than 12 characters."`
}

type keysShowCmd struct{ keyFileFlags }

type keysRotateCmd struct{ keyFileFlags }

// minPassphrase is the fewest characters keys init takes in a passphrase.
const minPassphrase = 12

// maxPassphrase bounds a passphrase read from a file or a terminal.
const maxPassphrase = 1024

// unlock finds how the key file is sealed: a passphrase from the file
// the flag names, LINKD_PASSPHRASE or LINKD_KEK (one of them), else a
// passphrase typed at the terminal.
func (f passphraseFlag) unlock(e *env) (keys.Unlock, error) {
	pass, kek := e.getenv("LINKD_PASSPHRASE"), e.getenv("LINKD_KEK")
	set := 0
	for _, v := range []string{pass, kek, f.PassphraseFile} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return keys.Unlock{}, errors.New("give one of --passphrase-file, LINKD_PASSPHRASE and LINKD_KEK, not several")
	case f.PassphraseFile != "":
		b, err := readPassphraseFile(f.PassphraseFile)
		if err != nil {
			return keys.Unlock{}, err
		}
		return keys.Unlock{Passphrase: b}, nil
	case pass != "":
		return keys.Unlock{Passphrase: []byte(pass)}, nil
	case kek != "":
		b, err := keys.DecodeKEK(kek)
		if err != nil {
			return keys.Unlock{}, fmt.Errorf("LINKD_KEK: %w", err)
		}
		return keys.Unlock{KEK: b}, nil
	}
	if in, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(e.stderr, "key file passphrase: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return keys.Unlock{}, fmt.Errorf("reading the passphrase: %w", err)
		}
		if len(b) == 0 {
			return keys.Unlock{}, errors.New("the passphrase is empty")
		}
		return keys.Unlock{Passphrase: b}, nil
	}
	return keys.Unlock{}, errors.New("the key file's passphrase comes from --passphrase-file FILE, LINKD_PASSPHRASE or a prompt at a terminal (or a key-encryption key from LINKD_KEK); none is given")
}

// readPassphraseFile reads the first line of path, without its line end.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--passphrase-file: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, maxPassphrase+2).ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) && len(line) == 0 {
		return nil, fmt.Errorf("--passphrase-file %s is empty", path)
	}
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxPassphrase+1 {
		return nil, fmt.Errorf("--passphrase-file %s: the first line is longer than %d bytes", path, maxPassphrase)
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, fmt.Errorf("--passphrase-file %s: the first line is empty", path)
	}
	return bytes.Clone(line), nil
}

func (c *keysInitCmd) Run(e *env) error {
	const cmd = "keys init"
	if err := c.check(e, cmd); err != nil {
		return err
	}
	u, err := c.unlock(e)
	if err != nil {
		return usage(e, cmd, "%v", err)
	}
	if n := utf8.RuneCount(u.Passphrase); len(u.Passphrase) > 0 && n < minPassphrase && !c.AllowShortPassphrase {
		return usage(e, cmd, "the passphrase has %d characters: a key file's passphrase needs at least %d (or --allow-short-passphrase)", n, minPassphrase)
	}
	r, err := keys.NewRing(c.Party, time.Now())
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if err := keys.WriteFile(c.Keys, r, u, true); err != nil {
		return failed(e, cmd, "%v", err)
	}
	return printRing(e, c.Output, fmt.Sprintf("created %s for party %s, epoch 1", c.Keys, c.Party), c.Keys, r)
}

func (c *keysShowCmd) Run(e *env) error {
	const cmd = "keys show"
	if err := c.check(e, cmd); err != nil {
		return err
	}
	u, err := c.unlock(e)
	if err != nil {
		return usage(e, cmd, "%v", err)
	}
	r, err := keys.ReadFile(c.Keys, u)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	return printRing(e, c.Output, "key file "+c.Keys, c.Keys, r)
}

func (c *keysRotateCmd) Run(e *env) error {
	const cmd = "keys rotate"
	if err := c.check(e, cmd); err != nil {
		return err
	}
	u, err := c.unlock(e)
	if err != nil {
		return usage(e, cmd, "%v", err)
	}
	r, err := keys.ReadFile(c.Keys, u)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	id, err := r.Rotate(time.Now())
	if err == nil {
		err = keys.WriteFile(c.Keys, r, u, false)
	}
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	return printRing(e, c.Output, fmt.Sprintf("rotated %s: epoch %d is current", c.Keys, id), c.Keys, r)
}

// ringView is what may be shown of a ring: party, epochs, and each
// epoch's OPRF public key, which advertisers verify evaluations against.
type ringView struct {
	File    string      `json:"file"`
	Party   string      `json:"party"`
	Current uint32      `json:"current_epoch"`
	Suite   string      `json:"oprf_suite"`
	Epochs  []epochView `json:"epochs"`
}

type epochView struct {
	Epoch     uint32    `json:"epoch"`
	CreatedAt time.Time `json:"created_at"`
	PublicKey string    `json:"oprf_public_key"`
	Current   bool      `json:"current"`
}

// printRing prints the ring after the line head (table), or as JSON.
func printRing(e *env, output, head, file string, r *keys.Ring) error {
	v := ringView{File: file, Party: r.Party(), Current: r.Current(), Suite: oprf.Suite}
	for _, ep := range r.Epochs() {
		d, err := pseudonym.NewDeriver(r, ep.ID)
		if err != nil {
			return failed(e, "keys", "%v", err)
		}
		v.Epochs = append(v.Epochs, epochView{Epoch: ep.ID, CreatedAt: ep.Created, Current: ep.ID == r.Current(),
			PublicKey: base64.StdEncoding.EncodeToString(d.OPRF().PublicKey())})
	}
	if output == outputJSON {
		return writeJSON(e, v)
	}
	fmt.Fprintf(e.stdout, "%s\nparty %s\ncurrent epoch %d\n", head, v.Party, v.Current)
	t := newTable(e, "epoch", "created", "OPRF public key ("+oprf.Suite+", base64)")
	for _, ep := range v.Epochs {
		mark := ""
		if ep.Current {
			mark = "  (current)"
		}
		t.row(ep.Epoch, ep.CreatedAt.Format(time.RFC3339), ep.PublicKey+mark)
	}
	return t.flush()
}
