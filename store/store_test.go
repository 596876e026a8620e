package store_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// newStore returns a migrated store of the test's own.
func newStore(t *testing.T) *store.Store { return pgtest.Store(t) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t) })
}

func tables(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestMigrateUpDownUp: every migration applies, reverts to an empty schema,
// and applies again; applying twice is a no-op.
func TestMigrateUpDownUp(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Schema(t)
	ms, err := store.Migrations()
	if err != nil || len(ms) == 0 {
		t.Fatalf("Migrations = %v, %v", ms, err)
	}
	up, err := store.MigrateUp(ctx, pool)
	if err != nil || len(up) != len(ms) {
		t.Fatalf("MigrateUp = %v, %v", up, err)
	}
	first := tables(t, pool)
	if len(first) == 0 {
		t.Fatal("no tables after MigrateUp")
	}
	again, err := store.MigrateUp(ctx, pool)
	if err != nil || len(again) != 0 {
		t.Fatalf("second MigrateUp = %v, %v", again, err)
	}
	down, err := store.MigrateDown(ctx, pool, len(ms))
	if err != nil || len(down) != len(ms) {
		t.Fatalf("MigrateDown = %v, %v", down, err)
	}
	if left := tables(t, pool); len(left) != 0 {
		t.Fatalf("tables left after MigrateDown: %v", left)
	}
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if second := tables(t, pool); !slices.Equal(first, second) {
		t.Fatalf("tables differ after up, down, up: %v vs %v", first, second)
	}
	if !slices.Contains(first, "river_job") {
		t.Fatalf("River's tables are not installed: %v", first)
	}
	// A schema migrated by another linkd is refused, and left as it is.
	if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (99, 'later')`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.MigrateUp(ctx, pool); err == nil || !strings.Contains(err.Error(), "migration 99") {
		t.Fatalf("MigrateUp of a schema with an unknown migration = %v, want it refused", err)
	}
	if _, err := store.MigrateDown(ctx, pool, 1); err == nil {
		t.Fatal("MigrateDown of a schema with an unknown migration succeeded")
	}
	if after := tables(t, pool); !slices.Equal(first, after) {
		t.Fatalf("a refused migration changed the tables: %v", after)
	}
}

// TestAuditTamper: the audit log refuses updates and deletes; an owner who
// disables that and edits a row is caught by audit.Verify, which names the
// entry.
// auditedStore is a migrated schema whose audit log belongs to
// pgtest.AuditRole, with eight entries under the chain of epoch 1 and a
// checkpoint of entry 6; it returns the store (as the role linkd serves
// as), an administrator's pool of the schema, and the checkpoint.
func auditedStore(t *testing.T) (*store.Store, *pgxpool.Pool, audit.Checkpoint) {
	t.Helper()
	ctx := context.Background()
	pool, schema := pgtest.Schema(t)
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	pgtest.SecureAudit(t, schema)
	s := store.New(pool)
	c := storetest.Chain(t, 1)
	var cp audit.Checkpoint
	for i := range 8 {
		d := "allow"
		if i == 2 {
			d = "deny"
		}
		e, err := s.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "key_1", Action: "audience.create", Resource: fmt.Sprint(i), Decision: d}, c)
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq == 6 {
			cp = c.Sign(e, time.Now())
		}
	}
	return s, pgtest.Admin(t, schema), cp
}

// TestAuditTamper: the role linkd serves as can neither change, delete,
// truncate nor drop the log, nor disable its triggers; and whoever
// controls the database without the key file, who can do all of that,
// is found out by Verify given the newest checkpoint: a truncated log, a
// log whose last entries were deleted, and an entry flipped from deny to
// allow with every later hash recomputed (without the key) all fail.
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	keys := storetest.ChainKeys(t)
	t.Run("the serving role", func(t *testing.T) {
		s, _, cp := auditedStore(t)
		for _, q := range []string{
			`UPDATE audit_log SET decision = 'allow' WHERE seq = 3`,
			`DELETE FROM audit_log WHERE seq = 8`,
			`TRUNCATE audit_log`,
			`DROP TABLE audit_log`,
			`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
			`ALTER TABLE audit_log DISABLE TRIGGER ALL`,
			`SET session_replication_role = replica`,
			`CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$`,
			`ALTER TABLE audit_log OWNER TO ` + pgtest.AppRole,
			`CREATE RULE no_delete AS ON DELETE TO audit_log DO INSTEAD NOTHING`,
		} {
			if _, err := s.Pool().Exec(ctx, q); err == nil {
				t.Errorf("%s: allowed to the serving role", q)
			}
		}
		if n, err := audit.Verify(ctx, s, keys, []audit.Checkpoint{cp}); err != nil || n != 8 {
			t.Fatalf("Verify = %d, %v", n, err)
		}
	})
	attacks := []struct {
		name string
		sql  []string
		// edit, if set, rewrites the entries (as the attacker can, without
		// the key) and returns them to write back in place of all.
		edit    func([]audit.Entry) []audit.Entry
		at      int64
		without bool // caught even without a checkpoint
	}{
		{name: "truncated", sql: []string{`ALTER TABLE audit_log DISABLE TRIGGER ALL`, `TRUNCATE audit_log`}, at: 1},
		{name: "last entries deleted", sql: []string{`SET session_replication_role = replica`, `DELETE FROM audit_log WHERE seq >= 5`}, at: 5},
		{name: "flipped and recomputed", at: 3, without: true, edit: func(es []audit.Entry) []audit.Entry {
			// The attacker's best guess of the chain: the unkeyed form it
			// replaced (SHA-256), or any key but the key file's.
			forged := storetest.Chain(t, 9)
			prev := es[1].Hash // entries 1 and 2 are left as they are
			for i := 2; i < len(es); i++ {
				if es[i].Seq == 3 {
					es[i].Decision = "allow"
				}
				es[i].Hash = forged.Hash(prev, es[i])
				es[i].PrevHash = prev
				prev = es[i].Hash
			}
			return es
		}},
		{name: "flipped and marked unkeyed", at: 3, without: true, edit: func(es []audit.Entry) []audit.Entry {
			h := sha256.New
			prev := es[1].Hash
			for i := 2; i < len(es); i++ {
				if es[i].Seq == 3 {
					es[i].Decision = "allow"
				}
				es[i].KeyEpoch = 0
				sum := hmacless(h, prev, es[i])
				es[i].PrevHash, es[i].Hash = prev, sum
				prev = sum
			}
			return es
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			s, admin, cp := auditedStore(t)
			if a.edit != nil {
				es, err := s.AuditEntries(ctx, audit.Filter{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				es = a.edit(es)
				tx, err := admin.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					if _, err := tx.Exec(ctx, `UPDATE audit_log SET decision = $2, key_epoch = $3, prev_hash = $4, hash = $5 WHERE seq = $1`,
						e.Seq, e.Decision, int32(e.KeyEpoch), e.PrevHash[:], e.Hash[:]); err != nil {
						t.Fatal(err)
					}
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range a.sql {
				if _, err := admin.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err := audit.Verify(ctx, s, keys, []audit.Checkpoint{cp})
			var be *audit.BrokenError
			if !errors.As(err, &be) || be.Seq != a.at {
				t.Fatalf("Verify with the checkpoint = %v, want broken at entry %d", err, a.at)
			}
			_, err = audit.Verify(ctx, s, keys, nil)
			if a.without && (!errors.As(err, &be) || be.Seq != a.at) {
				t.Fatalf("Verify without a checkpoint = %v, want broken at entry %d", err, a.at)
			}
			if !a.without && err != nil {
				t.Fatalf("Verify without a checkpoint = %v: a log cut at its end shows only against a checkpoint", err)
			}
			// A checkpoint that is not the key file's is refused too.
			forged := storetest.Chain(t, 1).Sign(audit.Entry{Seq: 1}, time.Now())
			forged.Signature[0] ^= 1
			if _, err := audit.Verify(ctx, s, keys, []audit.Checkpoint{forged}); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("Verify with a forged checkpoint = %v", err)
			}
		})
	}
}

// TestAuditRollbackRefused: someone who controls the database deletes
// entries the server wrote, or makes a trigger drop entries as they are
// written, so that the server would chain new entries over the gap. The
// server refuses to append; and a log rolled back past an old checkpoint,
// then chained on by another server, fails Verify given every checkpoint.
func TestAuditRollbackRefused(t *testing.T) {
	ctx := context.Background()
	keys := storetest.ChainKeys(t)
	c := storetest.Chain(t, 1)
	entry := func(tenant string) audit.Entry {
		return audit.Entry{Time: time.Now(), Actor: "key_1", Tenant: tenant, Action: "audience.create", Decision: "allow"}
	}
	t.Run("deleted", func(t *testing.T) {
		s, admin, cp := auditedStore(t)
		if _, err := admin.Exec(ctx, `SET session_replication_role = replica; DELETE FROM audit_log WHERE seq >= 5`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudit(ctx, entry("after"), c); !errors.Is(err, store.ErrAuditRolledBack) {
			t.Fatalf("an append after the deletion = %v, want refused", err)
		}
		// A fresh server knows nothing of what was written, and chains
		// on: only the checkpoints show it.
		fresh := store.New(s.Pool())
		for range 4 {
			if _, err := fresh.AppendAudit(ctx, entry("after"), c); err != nil {
				t.Fatal(err)
			}
		}
		later, err := fresh.LastAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cps := []audit.Checkpoint{cp, c.Sign(later, time.Now())}
		if _, err := audit.Verify(ctx, s, keys, cps[1:]); err != nil {
			t.Fatalf("Verify with the later checkpoint alone = %v (it cannot see the rollback)", err)
		}
		var be *audit.BrokenError
		if _, err := audit.Verify(ctx, s, keys, cps); !errors.As(err, &be) || be.Seq != 6 {
			t.Fatalf("Verify with every checkpoint = %v, want broken at entry 6", err)
		}
	})
	t.Run("checkpoint after a deletion", func(t *testing.T) {
		// The entries after the newest checkpoint are cut; the server that
		// wrote them refuses to sign the shortened log.
		s, admin, _ := auditedStore(t)
		if _, err := admin.Exec(ctx, `SET session_replication_role = replica; DELETE FROM audit_log WHERE seq >= 7`); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "checkpoints")
		if _, err := audit.WriteCheckpoint(ctx, s, c, file, time.Now()); !errors.Is(err, store.ErrAuditRolledBack) {
			t.Fatalf("WriteCheckpoint after the deletion = %v, want refused", err)
		}
		if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the shortened log was signed: %v", err)
		}
	})
	t.Run("dropped as written", func(t *testing.T) {
		s, admin, _ := auditedStore(t)
		if _, err := admin.Exec(ctx, `CREATE FUNCTION drop_evil() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN IF NEW.tenant = 'evil' THEN RETURN NULL; END IF; RETURN NEW; END $$;
			CREATE TRIGGER drop_evil BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION drop_evil()`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudit(ctx, entry("ok"), c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendAudit(ctx, entry("evil"), c); !errors.Is(err, store.ErrAuditRolledBack) {
			t.Fatalf("an append the database dropped = %v, want refused", err)
		}
	})
}

// hmacless is the audit chain's hash as it was before it was keyed:
// SHA-256 of the same fields, which anyone can recompute.
func hmacless(h func() hash.Hash, prev [32]byte, e audit.Entry) [32]byte {
	d := h()
	d.Write([]byte("linkd audit v1"))
	d.Write(prev[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	d.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UTC().UnixMicro()))
	d.Write(n[:])
	for _, f := range []string{e.Actor, e.Tenant, e.Role, e.Action, e.Resource, e.Decision, e.Rule, e.BundleHash, e.RequestID, e.Request} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		d.Write(n[:])
		d.Write([]byte(f))
	}
	var out [32]byte
	d.Sum(out[:0])
	return out
}

// randomAccounts is n accounts, "a", "b" and on, with random pseudonyms.
func randomAccounts(t *testing.T, n int) []directory.Account {
	t.Helper()
	accts := make([]directory.Account, n)
	for i := range accts {
		accts[i] = directory.Account{ID: string(rune('a' + i)), Country: "TR", Epoch: 1, UpdatedAt: time.Now()}
		p := &accts[i].Pseudonyms
		for _, b := range [][]byte{p.IndexDigits[:], p.IndexE164[:], p.OPRF[:], p.Link[:]} {
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return accts
}

// TestUnkeptAccounts: while a run is kept, link_unkept holds exactly the
// accounts without a kept row of their element after imports and runs
// (NewElements would hide a kept account left in it, and read it every
// run); before any run imports leave it empty and the first full run fills
// it, also with an account imported while it kept its sets; and the
// migration that adds it fills it from the kept rows.
func TestUnkeptAccounts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	accts := randomAccounts(t, 6)
	unkept := func(what string, want ...string) {
		t.Helper()
		rows, err := s.Pool().Query(ctx, `SELECT account_id FROM link_unkept ORDER BY account_id`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("link_unkept %s = %v, %v, want %v", what, got, err, want)
		}
	}
	if err := s.PutAccounts(ctx, accts[:3]); err != nil {
		t.Fatal(err)
	}
	unkept("after an import before any run")
	stage := func(job string, ids ...int) {
		t.Helper()
		var rows []linkjob.Row
		for _, i := range ids {
			rows = append(rows, linkjob.Row{AccountID: accts[i].ID, Element: accts[i].Pseudonyms.Link, Value: psi.Element{byte(i + 1)}})
		}
		if err := s.StageOwn(ctx, job, 1, rows); err != nil {
			t.Fatal(err)
		}
	}
	stage("full", 0, 1)
	if err := s.PutAccounts(ctx, accts[3:4]); err != nil {
		t.Fatal(err)
	}
	if err := s.StartStaging(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, linkjob.Keep{JobID: "full", Epoch: 1, Full: true}); err != nil {
		t.Fatal(err)
	}
	unkept("after a full run", "c", "d")
	if err := s.PutAccounts(ctx, accts[4:5]); err != nil {
		t.Fatal(err)
	}
	unkept("after an import with a run kept", "c", "d", "e")
	stage("inc", 2)
	if err := s.StartStaging(ctx, "inc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, linkjob.Keep{JobID: "inc", Epoch: 1, Base: "full"}); err != nil {
		t.Fatal(err)
	}
	unkept("after an incremental run", "d", "e")
	// An import that begins while a full run keeps its sets with no run
	// kept before (retention ended it; the Keep's transaction is played
	// here by hand: the truncation, the table rebuilt, the run kept): it
	// waits for the Keep, then sees the run kept, so its account is listed.
	if _, err := s.Pool().Exec(ctx, `DELETE FROM link_kept`); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `TRUNCATE link_unkept`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO link_unkept SELECT account_id FROM (VALUES ('d'), ('e')) v(account_id)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO link_kept (job_id, link_epoch) VALUES ('again', 1)`); err != nil {
		t.Fatal(err)
	}
	imported := make(chan error, 1)
	go func() { imported <- s.PutAccounts(ctx, accts[5:]) }()
	select {
	case err := <-imported:
		t.Fatalf("the import did not wait for the run's Keep: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-imported; err != nil {
		t.Fatal(err)
	}
	unkept("after an import that waited for a full run", "d", "e", "f")
}

// TestAnalyze checks that the statistics an import refreshes are those of
// the accounts and of link_unkept, through which an incremental run reads
// the new accounts (a million-row scan where an index would do, planned
// without them).
func TestAnalyze(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	counted := func(what string, accounts, unkept float64) {
		t.Helper()
		for table, want := range map[string]float64{"accounts": accounts, "link_unkept": unkept} {
			var n float64
			if err := s.Pool().QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1::regclass`, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("%s: the planner counts %v rows of %s, want %v", what, n, table, want)
			}
		}
	}
	// A kept run, without which imports leave link_unkept alone.
	if err := s.StartStaging(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, linkjob.Keep{JobID: "full", Epoch: 1, Full: true}); err != nil {
		t.Fatal(err)
	}
	total := 0
	imported := func(n int) {
		t.Helper()
		accts := randomAccounts(t, n)
		for i := range accts {
			accts[i].ID = "acct-" + strconv.Itoa(total+i)
		}
		total += n
		if err := s.PutAccounts(ctx, accts); err != nil {
			t.Fatal(err)
		}
		if err := s.Analyze(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	imported(30)
	counted("the first import", 30, 30)
	// A tenth more: both.
	imported(4)
	counted("an import of more than a tenth", 34, 34)
	// Less than a tenth: link_unkept only.
	imported(3)
	counted("an import of less than a tenth", 34, 37)
}

// TestLinksCount checks the count of links the triggers keep against the
// table itself, after each kind of statement that writes links: a copy,
// an upsert that inserts some and updates others, deletes of one and of
// many, and a truncation; and that the migration fills it.
func TestLinksCount(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	check := func(what string) {
		t.Helper()
		var kept, counted int64
		if err := s.Pool().QueryRow(ctx, `SELECT (SELECT links FROM links_count), (SELECT count(*) FROM links)`).Scan(&kept, &counted); err != nil {
			t.Fatal(err)
		}
		if n, err := s.CountLinks(ctx); err != nil || n != counted || kept != counted {
			t.Fatalf("%s: CountLinks %d (%v), the count row %d, the table %d", what, n, err, kept, counted)
		}
	}
	put := func(ids ...int) {
		t.Helper()
		var accts []directory.Account
		var ls []store.Link
		for _, i := range ids {
			a := directory.Account{ID: fmt.Sprintf("a%03d", i), Country: "TR", Epoch: 1, UpdatedAt: time.Now()}
			a.Pseudonyms.OPRF[0], a.Pseudonyms.OPRF[1] = byte(i), byte(i>>8)
			a.Pseudonyms.Link[0], a.Pseudonyms.Link[1] = byte(i), byte(i>>8)
			accts = append(accts, a)
			var id psi.LinkID
			id[0], id[1] = byte(i), byte(i>>8)
			ls = append(ls, store.Link{AccountID: a.ID, ID: id, Epoch: 1, CreatedAt: time.Now()})
		}
		if err := s.PutAccounts(ctx, accts); err != nil {
			t.Fatal(err)
		}
		changes, err := s.Changes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutLinks(ctx, ls, changes); err != nil {
			t.Fatal(err)
		}
	}
	check("empty")
	put(1, 2, 3, 4, 5)
	check("a copy")
	put(4, 5, 6, 7)
	check("an upsert of two held and two new")
	var id psi.LinkID
	id[0] = 2
	if err := s.DeleteLink(ctx, id); err != nil {
		t.Fatal(err)
	}
	check("a link deleted")
	if err := s.EraseAccount(ctx, "a003"); err != nil {
		t.Fatal(err)
	}
	check("an account erased")
	if _, err := s.PurgeLinks(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	check("every link expired")
	put(8, 9)
	if _, err := s.Pool().Exec(ctx, `TRUNCATE links`); err != nil {
		t.Fatal(err)
	}
	check("truncated")
	put(10, 11, 12)
}

// TestKeptAfterACrash checks what a crash of PostgreSQL may take. The
// kept sets, link_kept with them, and the staging of the runs under way,
// link_staging_jobs with it, are the only unlogged tables (but River's
// leader election, which is elected again), and recovery empties them
// (played here by truncating each, which is what recovery leaves of an
// unlogged table): then no run is kept, so the next one is full, and a
// run under way is refused (its staging is lost), while the links and
// their confirmation by the last full run, which retention counts from,
// are logged and stay.
func TestKeptAfterACrash(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	accts := randomAccounts(t, 2)
	if err := s.PutAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	staged := []linkjob.Row{
		{AccountID: accts[0].ID, Element: accts[0].Pseudonyms.Link, Value: psi.Element{1}},
		{AccountID: accts[1].ID, Element: accts[1].Pseudonyms.Link, Value: psi.Element{2}},
	}
	if err := s.StageOwn(ctx, "full", 1, staged); err != nil {
		t.Fatal(err)
	}
	if err := s.StageTheirs(ctx, "full", 1, []psi.Element{{1}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	made := store.Link{AccountID: accts[0].ID, ID: psi.LinkID{1}, Epoch: 1, CreatedAt: now.Add(-48 * time.Hour)}
	if err := s.PutLinks(ctx, []store.Link{made}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.StartStaging(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, linkjob.Keep{JobID: "full", Epoch: 1, Full: true, Confirmed: now}); err != nil {
		t.Fatal(err)
	}
	if id, _, err := s.Kept(ctx); err != nil || id != "full" {
		t.Fatalf("Kept before the crash = %q, %v", id, err)
	}
	// A run under way, its staging started and a batch staged.
	if err := s.StartStaging(ctx, "under-way"); err != nil {
		t.Fatal(err)
	}
	if err := s.StageTheirs(ctx, "under-way", 1, []psi.Element{{3}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Staged(ctx, "under-way"); err != nil || !ok {
		t.Fatalf("Staged before the crash = %v, %v", ok, err)
	}
	if unlogged, want := pgtest.Crash(t, s.Pool()), []string{"import_ids", "link_kept", "link_own", "link_retired", "link_staging_jobs",
		"link_staging_own", "link_staging_theirs", "link_theirs", "link_unkept"}; !slices.Equal(unlogged, want) {
		t.Fatalf("unlogged tables %v, want %v", unlogged, want)
	}
	if id, _, err := s.Kept(ctx); err != nil || id != "" {
		t.Fatalf("Kept after the crash = %q, %v, want none (the next run is full)", id, err)
	}
	if ok, err := s.Staged(ctx, "under-way"); err != nil || ok {
		t.Fatalf("Staged after the crash = %v, %v, want false", ok, err)
	}
	if err := s.Keep(ctx, linkjob.Keep{JobID: "under-way", Epoch: 1, Full: true, Confirmed: now}); !errors.Is(err, store.ErrLost) {
		t.Fatalf("Keep of a run whose staging was lost = %v, want ErrLost", err)
	}
	if n, err := s.PurgeLinks(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("PurgeLinks of a link confirmed since = %d, %v, want 0", n, err)
	}
	if n, err := s.PurgeLinks(ctx, now.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PurgeLinks after the confirmation = %d, %v, want 1", n, err)
	}
}

// TestOlderLinkGroup: the accounts stored before migration 0003 hold
// ristretto255 link elements, which OlderLinkGroup counts through the
// partial index, until an import replaces them.
func TestOlderLinkGroup(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	accts := randomAccounts(t, 5)
	if err := s.PutAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OlderLinkGroup(ctx); err != nil || n != 0 {
		t.Fatalf("OlderLinkGroup after an import = %d, %v; want 0", n, err)
	}
	// The schema as an older linkd left it, migrated again.
	if _, err := store.MigrateDown(ctx, s.Pool(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := store.MigrateUp(ctx, s.Pool()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OlderLinkGroup(ctx); err != nil || n != 5 {
		t.Fatalf("OlderLinkGroup after the migration = %d, %v; want 5", n, err)
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN `+store.OlderLinkGroupSQL)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "accounts_older_link_group") {
		t.Fatalf("the count does not use the partial index:\n%s", plan)
	}
	_ = tx.Rollback(ctx)
	// Imported again: new elements, in this group.
	for i := range accts[:3] {
		accts[i].Pseudonyms.Link[0] ^= 1
	}
	if err := s.PutAccounts(ctx, accts[:3]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OlderLinkGroup(ctx); err != nil || n != 2 {
		t.Fatalf("OlderLinkGroup after importing 3 again = %d, %v; want 2", n, err)
	}
}

// TestMigrationStatus: a schema never migrated has every migration
// pending and is left as it was; after MigrateUp every one is applied;
// a version a newer linkd applied comes last, unknown.
func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.Schema(t)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	sts, err := store.MigrationStatus(ctx, pool)
	if err != nil || len(sts) != len(ms) {
		t.Fatalf("MigrationStatus of an empty schema = %v, %v", sts, err)
	}
	for i, st := range sts {
		if st.Applied || !st.Known || st.Version != ms[i].Version || st.Name != ms[i].Name {
			t.Fatalf("empty schema: %+v", st)
		}
	}
	if left := tables(t, pool); len(left) != 0 {
		t.Fatalf("MigrationStatus made tables: %v", left)
	}
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (99, 'later')`); err != nil {
		t.Fatal(err)
	}
	sts, err = store.MigrationStatus(ctx, pool)
	if err != nil || len(sts) != len(ms)+1 {
		t.Fatalf("MigrationStatus = %v, %v", sts, err)
	}
	for _, st := range sts[:len(ms)] {
		if !st.Applied || !st.Known || st.AppliedAt.IsZero() {
			t.Fatalf("migrated schema: %+v", st)
		}
	}
	if last := sts[len(ms)]; last.Version != 99 || last.Known || !last.Applied || last.Name != "later" {
		t.Fatalf("the unknown migration: %+v", last)
	}
}
