package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Held is what the party holds about one account, for the person behind
// it: never a number, a pseudonym, a link id or an account of the other
// party.
type Held struct {
	AccountID string
	Country   string
	AdOptOut  bool
	// AdsConsent is the consent, imported with the directory, to ads data
	// reaching the other service.
	AdsConsent        bool
	BlockedBusinesses int
	UpdatedAt         time.Time
	// Linked says the account has a link to an account of the other
	// party, since LinkedAt.
	Linked   bool
	LinkedAt time.Time
	// Audiences are the audiences it is in, counted by tenant and purpose.
	Audiences []HeldAudiences
	// Signals are the open, unexpired signals about it.
	Signals []HeldSignal
	// Requests are the data-subject requests made for it, oldest first.
	Requests []SubjectRequest
}

// SubjectRequest is a data-subject request's receipt.
type SubjectRequest struct {
	ID        string
	AccountID string
	Kind      string // objection
	Purpose   string
	At        time.Time
	// AcknowledgedAt is when the other party acknowledged it (zero: not
	// yet).
	AcknowledgedAt time.Time
	// Removed is how many audience memberships the request ended here.
	Removed int64
}

// Object records the objection r of the person behind r.AccountID to
// r.Purpose and, in the same transaction, takes the account out of every
// audience of that purpose; an objection to ads also opts the account
// out of ads, which later imports keep. storeerr.ErrNotFound if there is
// no such account.
func (s *Store) Object(ctx context.Context, r SubjectRequest) (SubjectRequest, error) {
	r.Kind, r.At = "objection", r.At.UTC()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, r.AccountID).Scan(&one); err != nil {
			return err // pgx.ErrNoRows: no such account
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subject_requests (id, account_id, kind, purpose, requested_at) VALUES ($1, $2, $3, $4, $5)`,
			r.ID, r.AccountID, r.Kind, r.Purpose, r.At); err != nil {
			return err
		}
		if r.Purpose == "ads" {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET ad_opt_out = true WHERE id = $1`, r.AccountID); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audience_members m USING audiences a
			WHERE m.audience_id = a.id AND a.purpose = $2 AND m.account_id = $1`, r.AccountID, r.Purpose)
		r.Removed = tag.RowsAffected()
		return err
	})
	return r, mapErr(err)
}

// HeldAudiences counts an account's audiences of one tenant and purpose.
type HeldAudiences struct {
	Tenant, Purpose string
	Audiences       int
}

// HeldSignal is an open signal about an account.
type HeldSignal struct {
	Direction            Direction
	Type                 string
	CreatedAt, ExpiresAt time.Time
}

// HeldFor reads what the party holds about account id at now, in one
// snapshot; storeerr.ErrNotFound if there is no such account.
func (s *Store) HeldFor(ctx context.Context, id string, now time.Time) (Held, error) {
	var h Held
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var linkedAt *time.Time
		if err := tx.QueryRow(ctx, `SELECT a.id, a.country, a.ad_opt_out, a.ads_consent, cardinality(a.blocked_businesses), a.updated_at, l.created_at
			FROM accounts a LEFT JOIN links l ON l.account_id = a.id WHERE a.id = $1`, id).
			Scan(&h.AccountID, &h.Country, &h.AdOptOut, &h.AdsConsent, &h.BlockedBusinesses, &h.UpdatedAt, &linkedAt); err != nil {
			return err
		}
		h.UpdatedAt = h.UpdatedAt.UTC()
		if linkedAt != nil {
			h.Linked, h.LinkedAt = true, linkedAt.UTC()
		}
		rows, err := tx.Query(ctx, `SELECT a.tenant, a.purpose, count(*) FROM audience_members m JOIN audiences a ON a.id = m.audience_id
			WHERE m.account_id = $1 GROUP BY a.tenant, a.purpose ORDER BY a.tenant, a.purpose`, id)
		if err != nil {
			return err
		}
		if h.Audiences, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HeldAudiences, error) {
			var a HeldAudiences
			return a, r.Scan(&a.Tenant, &a.Purpose, &a.Audiences)
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT id, account_id, kind, purpose, requested_at, acknowledged_at FROM subject_requests
			WHERE account_id = $1 ORDER BY requested_at, id`, id)
		if err != nil {
			return err
		}
		if h.Requests, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectRequest, error) {
			var q SubjectRequest
			var ack *time.Time
			err := r.Scan(&q.ID, &q.AccountID, &q.Kind, &q.Purpose, &q.At, &ack)
			q.At = q.At.UTC()
			if ack != nil {
				q.AcknowledgedAt = ack.UTC()
			}
			return q, err
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT direction, type, created_at, expires_at FROM signals
			WHERE account_id = $1 AND status = 'open' AND expires_at > $2 ORDER BY created_at, id`, id, utc(now))
		if err != nil {
			return err
		}
		h.Signals, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HeldSignal, error) {
			var g HeldSignal
			var dir string
			err := r.Scan(&dir, &g.Type, &g.CreatedAt, &g.ExpiresAt)
			g.Direction, g.CreatedAt, g.ExpiresAt = Direction(dir), g.CreatedAt.UTC(), g.ExpiresAt.UTC()
			return g, err
		})
		return err
	})
	return h, mapErr(err)
}
