package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ConsentEntry is one entry of the consent ledger.
type ConsentEntry struct {
	Consent
	// Source is where the entry came from: "directory" (an import) or
	// "objection" (a data-subject request, RequestID).
	Source    string
	RequestID string
}

// Consent sources.
const (
	ConsentDirectory = "directory"
	ConsentObjection = "objection"
)

// latestSQL is the expression of whether the latest ledger entry of the
// account (an SQL expression of its id) for the purpose (an SQL
// expression) grants consent: NULL without an entry.
func latestSQL(account, purpose string) string {
	return `(SELECT c.granted FROM consents c WHERE c.account_id = ` + account + ` AND c.purpose = ` + purpose + `
		ORDER BY c.given_at DESC, c.seq DESC LIMIT 1)`
}

// grantedSQL is latestSQL, false without an entry.
func grantedSQL(account, purpose string) string {
	return `coalesce(` + latestSQL(account, purpose) + `, false)`
}

// consents is the latest entry of each purpose of the account's ledger,
// by purpose.
func (s *Store) consents(ctx context.Context, account string) ([]Consent, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (purpose) purpose, granted, notice, given_at FROM consents
		WHERE account_id = $1 ORDER BY purpose, given_at DESC, seq DESC`, account)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Consent, error) {
		var c Consent
		err := r.Scan(&c.Purpose, &c.Granted, &c.Notice, &c.At)
		c.At = c.At.UTC()
		return c, err
	})
	if len(out) == 0 {
		out = nil
	}
	return out, mapErr(err)
}

// maxConsentHistory bounds the ledger entries a subject's answer lists.
const maxConsentHistory = 100

// consentHistory is the account's ledger, latest first (at most
// maxConsentHistory entries).
func consentHistory(ctx context.Context, tx pgx.Tx, account string) ([]ConsentEntry, error) {
	rows, err := tx.Query(ctx, `SELECT purpose, granted, notice, given_at, source, coalesce(request_id, '') FROM consents
		WHERE account_id = $1 ORDER BY given_at DESC, seq DESC LIMIT $2`, account, maxConsentHistory)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConsentEntry, error) {
		var e ConsentEntry
		err := r.Scan(&e.Purpose, &e.Granted, &e.Notice, &e.At, &e.Source, &e.RequestID)
		e.At = e.At.UTC()
		return e, err
	})
}
