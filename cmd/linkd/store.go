package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
)

// stateFlags are the flags of every command that touches a party's state.
type stateFlags struct {
	DatabaseURL string `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL of the party's database."`
	Keys        string `env:"LINKD_KEYS" placeholder:"FILE" help:"The party's key file."`
	passphraseFlag
}

// passphraseFlag is where a key file's passphrase comes from besides
// LINKD_PASSPHRASE and LINKD_KEK: a file, or a prompt at a terminal.
type passphraseFlag struct {
	PassphraseFile string `env:"LINKD_PASSPHRASE_FILE" placeholder:"FILE" help:"Read the key file's passphrase from FILE (its first line); else LINKD_PASSPHRASE, LINKD_KEK, or a prompt at a terminal."`
}

// serverFlags name a running party's API and the key to call it with.
type serverFlags struct {
	Server string `env:"LINKD_SERVER" placeholder:"URL" help:"The party's API, as http(s)://host:port."`
	Key    string `env:"LINKD_KEY" placeholder:"KEY" help:"The API key to call it with."`
}

// client is a client of the server, or a usage error naming what is missing.
func (f serverFlags) client(e *env, cmd string, timeout time.Duration) (*client.Client, error) {
	if f.Server == "" || f.Key == "" {
		return nil, usage(e, cmd, "--server (or LINKD_SERVER) and --key (or LINKD_KEY) are required")
	}
	return client.New(f.Server, f.Key, timeout), nil
}

// openRing reads the key file named by the flags.
func (sf stateFlags) openRing(e *env) (*keys.Ring, error) {
	if sf.Keys == "" {
		return nil, fmt.Errorf("--keys (or LINKD_KEYS) is required")
	}
	u, err := sf.unlock(e)
	if err != nil {
		return nil, err
	}
	return keys.ReadFile(sf.Keys, u)
}

// openStore opens the PostgreSQL store the flags name; close releases it.
func (sf stateFlags) openStore(ctx context.Context) (s *store.Store, close func(), err error) {
	if sf.DatabaseURL == "" {
		return nil, nil, errors.New("--database-url (or DATABASE_URL) is required: a party keeps its state in PostgreSQL")
	}
	pool, err := store.Connect(ctx, sf.DatabaseURL, "")
	if err != nil {
		return nil, nil, err
	}
	return store.New(pool), pool.Close, nil
}

// audienceService builds the audience service of a party from its store
// and its keys of the current epoch.
func audienceService(st *store.Store, d *pseudonym.Deriver) *audience.Service {
	return &audience.Service{Store: st, Index: d.IndexKey(), Epoch: d.Epoch, Budget: st}
}

// auditKeys finds the audit chain of each key epoch of the ring.
func auditKeys(ring *keys.Ring) audit.Keys {
	return func(epoch uint32) (*audit.Chain, error) {
		mac, err := ring.Key(keys.PurposeAuditChain, epoch)
		if err != nil {
			return nil, err
		}
		sign, err := ring.Key(keys.PurposeAuditSign, epoch)
		if err != nil {
			return nil, err
		}
		return audit.NewChain(epoch, mac.Expose(), sign.Expose())
	}
}

// auditChain is the audit chain of the ring's current epoch.
func auditChain(ring *keys.Ring) (*audit.Chain, error) { return auditKeys(ring)(ring.Current()) }

// statusOf reports what a party's operators read at GET /v1/status
// beyond what the API knows: the ring's epochs, the relay's backlog and
// a refused policy reload.
func statusOf(st *store.Store, ring *keys.Ring, pol *policies.Live) func(ctx context.Context) (api.Status, error) {
	return func(ctx context.Context) (api.Status, error) {
		b, err := st.OutboxBacklog(ctx)
		if err != nil {
			return api.Status{}, err
		}
		s := api.Status{Relay: api.RelayBacklog{Pending: b.Pending, Retried: b.Retried, MaxAttempts: b.MaxAttempts}}
		for _, e := range ring.Epochs() {
			s.KeyEpochs = append(s.KeyEpochs, api.KeyEpoch{Epoch: e.ID, CreatedAt: e.Created})
		}
		if f := pol.Failure(); f != nil {
			s.PolicyReloadFailure = &api.ReloadFailure{At: f.At, Problems: f.Problems}
		}
		return s, nil
	}
}

// verifierOf walks a party's audit log under its key ring and, if file is
// set, against the checkpoints written there (none yet is no failure: a
// server writes its first at start).
func verifierOf(st *store.Store, ring *keys.Ring, file string) func(ctx context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		var cps []audit.Checkpoint
		if file != "" {
			f, err := os.Open(file)
			switch {
			case errors.Is(err, os.ErrNotExist):
			case err != nil:
				return 0, err
			default:
				cps, err = audit.ReadCheckpoints(f)
				f.Close()
				if err != nil {
					return 0, err
				}
			}
		}
		return audit.Verify(ctx, st, auditKeys(ring), cps)
	}
}
