package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
)

const keysHelp = `
Manages a party's key file: the master secret of each key epoch, encrypted
at rest. The file is sealed with the passphrase in LINKD_PASSPHRASE (argon2id
and XChaCha20-Poly1305), or with a 32-byte key-encryption key, base64, in
LINKD_KEK.

  init     create a key file with epoch 1 (never replaces a file); a
           passphrase has at least 12 characters unless
           --allow-short-passphrase says otherwise
  show     print the party, the epochs and their public keys; never a secret
  rotate   add a new epoch and make it current; older epochs stay`

func runKeys(e *env, args []string) int {
	fs := newFlags(e, "keys", "keys init|show|rotate --keys FILE [--party NAME]", keysHelp)
	sub, code, ok := subcommand(e, fs, args, "init", "show", "rotate")
	if !ok {
		return code
	}
	usage := "keys " + sub + " --keys FILE"
	if sub == "init" {
		usage += " --party messenger|social"
	}
	fs = newFlags(e, "keys "+sub, usage, keysHelp)
	path := fs.String("keys", e.getenv("LINKD_KEYS"), "key `file` (default $LINKD_KEYS)")
	var party *string
	var short *bool
	if sub == "init" {
		party = fs.String("party", "", "the `party` the keys belong to: messenger or social")
		short = fs.Bool("allow-short-passphrase", false, "accept a passphrase of fewer than 12 characters")
	}
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		return usageError(e, fs, "--keys (or LINKD_KEYS) is required")
	}
	u, err := unlockFromEnv(e)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	switch sub {
	case "init":
		return keysInit(e, fs, *path, *party, u, *short)
	case "show":
		return keysShow(e, *path, u)
	}
	return keysRotate(e, *path, u)
}

// unlockFromEnv reads how the key file is sealed from the environment.
// minPassphrase is the fewest characters keys init takes in a passphrase.
const minPassphrase = 12

func unlockFromEnv(e *env) (keys.Unlock, error) {
	pass, kek := e.getenv("LINKD_PASSPHRASE"), e.getenv("LINKD_KEK")
	switch {
	case pass != "" && kek != "":
		return keys.Unlock{}, errors.New("set LINKD_PASSPHRASE or LINKD_KEK, not both")
	case pass != "":
		return keys.Unlock{Passphrase: []byte(pass)}, nil
	case kek != "":
		b, err := keys.DecodeKEK(kek)
		if err != nil {
			return keys.Unlock{}, fmt.Errorf("LINKD_KEK: %w", err)
		}
		return keys.Unlock{KEK: b}, nil
	}
	return keys.Unlock{}, errors.New("the key file's passphrase is read from LINKD_PASSPHRASE (or a key-encryption key from LINKD_KEK); neither is set")
}

func keysInit(e *env, fs *flag.FlagSet, path, name string, u keys.Unlock, short bool) int {
	if _, err := party.Parse(name); err != nil {
		return usageError(e, fs, "--party must be messenger or social")
	}
	if n := utf8.RuneCount(u.Passphrase); len(u.Passphrase) > 0 && n < minPassphrase && !short {
		return usageError(e, fs, "LINKD_PASSPHRASE has %d characters: a key file's passphrase needs at least %d (or --allow-short-passphrase)", n, minPassphrase)
	}
	r, err := keys.NewRing(name, time.Now())
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd keys init: %v\n", err)
		return exitInput
	}
	if err := keys.WriteFile(path, r, u, true); err != nil {
		fmt.Fprintf(e.stderr, "linkd keys init: %v\n", err)
		return exitInput
	}
	fmt.Fprintf(e.stdout, "created %s for party %s, epoch 1\n", path, name)
	return printRing(e, r)
}

func keysShow(e *env, path string, u keys.Unlock) int {
	r, err := keys.ReadFile(path, u)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd keys show: %v\n", err)
		return exitInput
	}
	fmt.Fprintf(e.stdout, "key file %s\n", path)
	return printRing(e, r)
}

func keysRotate(e *env, path string, u keys.Unlock) int {
	r, err := keys.ReadFile(path, u)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd keys rotate: %v\n", err)
		return exitInput
	}
	id, err := r.Rotate(time.Now())
	if err == nil {
		err = keys.WriteFile(path, r, u, false)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd keys rotate: %v\n", err)
		return exitInput
	}
	fmt.Fprintf(e.stdout, "rotated %s: epoch %d is current\n", path, id)
	return printRing(e, r)
}

// printRing prints what may be shown of a ring: party, epochs, and each
// epoch's OPRF public key, which advertisers verify evaluations against.
func printRing(e *env, r *keys.Ring) int {
	fmt.Fprintf(e.stdout, "party %s\ncurrent epoch %d\n", r.Party(), r.Current())
	fmt.Fprintf(e.stdout, "%-6s %-21s %s\n", "epoch", "created", "OPRF public key ("+oprf.Suite+", base64)")
	for _, ep := range r.Epochs() {
		d, err := pseudonym.NewDeriver(r, ep.ID)
		if err != nil {
			fmt.Fprintf(e.stderr, "linkd keys: %v\n", err)
			return exitInput
		}
		mark := ""
		if ep.ID == r.Current() {
			mark = "  (current)"
		}
		fmt.Fprintf(e.stdout, "%-6d %-21s %s%s\n", ep.ID, ep.Created.Format(time.RFC3339),
			base64.StdEncoding.EncodeToString(d.OPRF().PublicKey()), mark)
	}
	return exitOK
}
