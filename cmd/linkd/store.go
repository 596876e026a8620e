package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
)

// stateFlags are the flags of every command that touches a party's state.
type stateFlags struct {
	databaseURL *string
	keysPath    *string
}

func addStateFlags(e *env, fs *flag.FlagSet) stateFlags {
	return stateFlags{
		databaseURL: envString(e, fs, "database-url", "DATABASE_URL", "PostgreSQL `url` (default $DATABASE_URL)"),
		keysPath:    fs.String("keys", e.getenv("LINKD_KEYS"), "key `file` (default $LINKD_KEYS)"),
	}
}

// envString is a string flag whose default comes from the environment
// variable env, never shown by --help: a URL may carry a password.
func envString(e *env, fs *flag.FlagSet, name, env, usage string) *string {
	v := fs.String(name, e.getenv(env), usage)
	fs.Lookup(name).DefValue = ""
	return v
}

// logLevel adds --log-level (debug, info, warn or error; default def);
// levelFromEnv, after parsing, takes $LINKD_LOG_LEVEL unless the flag was
// given.
func logLevel(fs *flag.FlagSet, def slog.Level) *slog.Level {
	level := new(slog.Level)
	fs.TextVar(level, "log-level", def, "the least `level` logged: debug, info, warn or error (default $LINKD_LOG_LEVEL, else "+strings.ToLower(def.String())+")")
	return level
}

func levelFromEnv(e *env, fs *flag.FlagSet, level *slog.Level) error {
	v := e.getenv("LINKD_LOG_LEVEL")
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "log-level" })
	if v == "" || given {
		return nil
	}
	if err := level.UnmarshalText([]byte(v)); err != nil {
		return errors.New("LINKD_LOG_LEVEL: want debug, info, warn or error")
	}
	return nil
}

// openRing reads the key file named by the flags.
func (sf stateFlags) openRing(e *env) (*keys.Ring, error) {
	if *sf.keysPath == "" {
		return nil, fmt.Errorf("--keys (or LINKD_KEYS) is required")
	}
	u, err := unlockFromEnv(e)
	if err != nil {
		return nil, err
	}
	return keys.ReadFile(*sf.keysPath, u)
}

// openStore opens the PostgreSQL store the flags name; close releases it.
func (sf stateFlags) openStore(ctx context.Context) (s *store.Store, close func(), err error) {
	if *sf.databaseURL == "" {
		return nil, nil, errors.New("--database-url (or DATABASE_URL) is required: a party keeps its state in PostgreSQL")
	}
	pool, err := store.Connect(ctx, *sf.databaseURL, "")
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
