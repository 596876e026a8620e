package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd/linkd/audit"
)

// AppendAudit implements audit.Store. Appends take a transaction-level
// advisory lock that only other appends take, so the chain is built one
// entry at a time across every replica (a table lock would need
// privileges the serving role does not have on audit_log). Appends that arrive while another is being
// written go together in the next transaction (group commit): one lock and
// one commit for all of them, each answered once it is durable.
func (s *Store) AppendAudit(ctx context.Context, e audit.Entry, c *audit.Chain) (audit.Entry, error) {
	if c == nil {
		return audit.Entry{}, errors.New("store: an audit entry needs the chain key")
	}
	w := &auditWait{e: e, chain: c, done: make(chan struct{})}
	s.audit.mu.Lock()
	s.audit.pending = append(s.audit.pending, w)
	lead := !s.audit.writing
	s.audit.writing = true
	s.audit.mu.Unlock()
	if lead {
		go s.writeAudit() // until no append waits; no caller waits for others
	}
	select {
	case <-w.done:
		return w.e, w.err
	case <-ctx.Done():
		// The entry may still be written: the writer does not use the
		// caller's context, so that one caller leaving does not fail the
		// others of its group.
		return audit.Entry{}, ctx.Err()
	}
}

// auditWait is an append waiting for its group's commit.
type auditWait struct {
	e     audit.Entry
	chain *audit.Chain
	err   error
	done  chan struct{}
}

// auditGroup collects appends for the writer.
type auditGroup struct {
	mu      sync.Mutex
	pending []*auditWait
	writing bool
	// last is the last entry this store wrote (the writer's only): the
	// next append refuses a log whose head is no longer it or after it.
	last     audit.Entry
	wroteAny bool
}

// ErrAuditRolledBack is an append refused because the log no longer holds
// the last entry this process wrote as it wrote it.
var ErrAuditRolledBack = errors.New("store: the audit log no longer holds the entries this server wrote: refusing to append")

// maxAuditGroup bounds the entries of one transaction.
const maxAuditGroup = 500

// writeAudit writes pending appends, a group a transaction, until none
// is left.
func (s *Store) writeAudit() {
	for {
		s.audit.mu.Lock()
		n := min(len(s.audit.pending), maxAuditGroup)
		if n == 0 {
			s.audit.writing = false
			s.audit.mu.Unlock()
			return
		}
		group := s.audit.pending[:n:n]
		s.audit.pending = s.audit.pending[n:]
		s.audit.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.appendGroup(ctx, group)
		cancel()
		if err == nil {
			// Only the writer goroutine, one at a time, touches last.
			s.audit.last, s.audit.wroteAny = group[len(group)-1].e, true
		}
		for _, w := range group {
			w.err = err
			close(w.done)
		}
	}
}

func (s *Store) appendGroup(ctx context.Context, group []*auditWait) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLock); err != nil {
			return err
		}
		var seq int64
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if s.audit.wroteAny {
			// The log must still hold what this server wrote last, as it
			// wrote it: an entry deleted, or dropped as it was written (a
			// trigger), would otherwise be chained over unseen.
			last := s.audit.last
			var h []byte
			err := tx.QueryRow(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, last.Seq).Scan(&h)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && !bytes.Equal(h, last.Hash[:])) {
				return fmt.Errorf("%w: entry %d is gone or changed (the head is entry %d)", ErrAuditRolledBack, last.Seq, seq)
			}
			if err != nil {
				return err
			}
		}
		var last [32]byte
		copy(last[:], prev)
		rows := make([][]any, len(group))
		for i, w := range group {
			e := &w.e
			seq++
			e.Seq = seq
			e.Time = e.Time.UTC().Truncate(time.Microsecond) // as stored
			w.chain.Link(last, e)
			last = e.Hash
			rows[i] = []any{e.Seq, e.Time, e.Actor, e.Tenant, e.Role, e.Action, e.Resource, e.Decision, e.Rule,
				e.BundleHash, e.RequestID, e.Request, int32(e.KeyEpoch), e.PrevHash[:], e.Hash[:]}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, []string{"seq", "time", "actor", "tenant", "role", "action", "resource",
			"decision", "rule", "bundle_hash", "request_id", "request", "key_epoch", "prev_hash", "hash"}, pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("%w: %d of %d entries were stored", ErrAuditRolledBack, n, len(rows))
		}
		return nil
	})
}

// auditLock is the advisory lock key of appends to the audit log.
const auditLock int64 = 0x6c696e6b64_a0d1

const auditColumns = `seq, time, actor, tenant, role, action, resource, decision, rule,
	bundle_hash, request_id, request, key_epoch, prev_hash, hash`

func scanAudit(r pgx.CollectableRow) (audit.Entry, error) {
	var e audit.Entry
	var prev, h []byte
	var epoch int32
	if err := r.Scan(&e.Seq, &e.Time, &e.Actor, &e.Tenant, &e.Role, &e.Action, &e.Resource, &e.Decision,
		&e.Rule, &e.BundleHash, &e.RequestID, &e.Request, &epoch, &prev, &h); err != nil {
		return e, err
	}
	e.Time = e.Time.UTC()
	e.KeyEpoch = uint32(max(epoch, 0))
	// A stored hash of the wrong length is left short: Verify reports
	// the entry as broken.
	copy(e.PrevHash[:], prev)
	copy(e.Hash[:], h)
	return e, nil
}

// AuditEntries implements audit.Store.
func (s *Store) AuditEntries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	where, order := `seq > $1`, `seq`
	bound := f.After
	if f.Newest {
		where, order, bound = `seq < $1`, `seq DESC`, f.Before
		if bound <= 0 {
			bound = math.MaxInt64
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+`
		FROM audit_log
		WHERE `+where+` AND ($2 = '' OR actor = $2) AND ($3 = '' OR tenant = $3)
		  AND ($4 = '' OR action = $4) AND ($5 = '' OR decision = $5)
		  AND ($7::timestamptz IS NULL OR time >= $7) AND ($8::timestamptz IS NULL OR time < $8)
		ORDER BY `+order+` LIMIT $6`, bound, f.Actor, f.Tenant, f.Action, f.Decision, f.Limit, optTime(f.Since), optTime(f.Until))
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanAudit)
	return out, mapErr(err)
}

// LastAudit implements audit.Store.
func (s *Store) LastAudit(ctx context.Context) (audit.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return audit.Entry{}, mapErr(err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanAudit)
	return e, mapErr(err)
}

// SecureAudit hands the pool's current schema, its audit_log and the
// log's append-only trigger function to the role owner, and leaves app
// only SELECT and INSERT on the log (and USAGE and CREATE on the schema):
// app, the role linkd serves as, then owns every other table (its runtime
// needs that) but cannot change, delete, truncate or drop entries, nor
// disable the triggers (only an owner of the table or the schema, or a
// superuser, can). It needs a superuser's connection.
func SecureAudit(ctx context.Context, pool *pgxpool.Pool, app, owner string) error {
	a, o := pgx.Identifier{app}.Sanitize(), pgx.Identifier{owner}.Sanitize()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return mapErr(err)
		}
		sc := pgx.Identifier{schema}.Sanitize()
		for _, q := range []string{
			`ALTER SCHEMA ` + sc + ` OWNER TO ` + o,
			`GRANT USAGE, CREATE ON SCHEMA ` + sc + ` TO ` + a,
			`ALTER TABLE audit_log OWNER TO ` + o,
			`ALTER FUNCTION audit_log_append_only() OWNER TO ` + o,
			`REVOKE ALL ON audit_log FROM PUBLIC, ` + a,
			`GRANT SELECT, INSERT ON audit_log TO ` + a,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
}
