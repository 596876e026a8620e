package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/audit"
)

// AppendAudit implements audit.Store. Appends take a table lock that
// conflicts only with other appends, so the chain is built one entry at a
// time across every replica.
func (s *Store) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&e.Seq, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		e.Seq++
		e.PrevHash = [32]byte{}
		copy(e.PrevHash[:], prev)
		e.Time = e.Time.UTC().Truncate(time.Microsecond) // as stored
		e.Hash = audit.ChainHash(e.PrevHash, e)
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (seq, time, actor, tenant, role, action, resource, decision, rule,
				bundle_hash, request_id, request, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			e.Seq, e.Time, e.Actor, e.Tenant, e.Role, e.Action, e.Resource, e.Decision, e.Rule,
			e.BundleHash, e.RequestID, e.Request, e.PrevHash[:], e.Hash[:])
		return err
	})
	if err != nil {
		return audit.Entry{}, err
	}
	return e, nil
}

// AuditEntries implements audit.Store.
func (s *Store) AuditEntries(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, time, actor, tenant, role, action, resource, decision, rule,
			bundle_hash, request_id, request, prev_hash, hash
		FROM audit_log
		WHERE seq > $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR tenant = $3)
		  AND ($4 = '' OR action = $4) AND ($5 = '' OR decision = $5)
		ORDER BY seq LIMIT $6`, f.After, f.Actor, f.Tenant, f.Action, f.Decision, f.Limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Entry, error) {
		var e audit.Entry
		var prev, h []byte
		if err := r.Scan(&e.Seq, &e.Time, &e.Actor, &e.Tenant, &e.Role, &e.Action, &e.Resource, &e.Decision,
			&e.Rule, &e.BundleHash, &e.RequestID, &e.Request, &prev, &h); err != nil {
			return e, err
		}
		e.Time = e.Time.UTC()
		// A stored hash of the wrong length is left short: Verify reports
		// the entry as broken.
		copy(e.PrevHash[:], prev)
		copy(e.Hash[:], h)
		return e, nil
	})
	return out, mapErr(err)
}
