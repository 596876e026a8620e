package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/store/storeerr"
)

// Audience is one advertiser's custom audience on this party.
type Audience struct {
	ID        string
	Tenant    string
	Name      string
	Purpose   string
	CreatedAt time.Time
	// Description is the advertiser's; FileSource, where the list came
	// from (USER_PROVIDED_ONLY and the other customer_file_source values),
	// or "" when not said.
	Description string
	FileSource  string
}

// UploadBatch is one applied upload batch: the accounts it matched, never what
// was uploaded.
type UploadBatch struct {
	AudienceID string
	SessionID  string
	Seq        int64
	Last       bool
	Add        []string // account ids to add
	Remove     []string // account ids to remove
	// Replace makes the session a replacement of the whole audience: when
	// its last batch is applied, the members that no batch of the session
	// added (or re-added) are removed.
	Replace bool
	// Match, if set, names the accounts by what was uploaded instead: the
	// store matches them against the directory in the same step and adds
	// them (or, with Match.Remove, removes them). Accounts that no longer
	// match are not an error.
	Match *UploadMatch
	// Received and Invalid are the counts answered to the uploader, kept so
	// that a retried batch gets the same answer.
	Received int
	Invalid  int
	// At is when the batch is applied (zero: now): members added or
	// re-added are kept from then for the catalogue's retention.
	At time.Time
}

// UploadMatch is an upload batch's entries as the directory indexes them: the
// keyed hash indexes of a hashed upload, or the OPRF outputs of a private
// one (exactly one of the two).
type UploadMatch struct {
	Hash   *HashMatch
	OPRF   *OPRFMatch
	Remove bool
}

// LinkedMember is an account with a link, as an extension sees it.
type LinkedMember struct {
	AccountID string
	Country   string
	Consent   bool
	LinkID    psi.LinkID
}

// BatchResult is what applying a batch did.
type BatchResult struct {
	// Applied is false when the batch had been applied before: nothing
	// changed, and the counts are the first application's.
	Applied  bool
	Received int
	Invalid  int
	// Matched is how many accounts a batch with Match added or removed
	// (for operators' metrics; never told to the uploader).
	Matched int
}

// UploadSession is an upload session's progress.
type UploadSession struct {
	AudienceID string
	ID         string
	Batches    int64
	Complete   bool
	UpdatedAt  time.Time
	StartedAt  time.Time // the first batch's time
}

// AudienceContent is what a size release is computed from.
type AudienceContent struct {
	// Version changes with every upload batch applied to the audience
	// (matched or not), and is 0 before the first; a mirror's (IsMirror)
	// changes when a session of batches is complete, not before.
	Version int64
	// People is the number of distinct numbers among the members.
	People int64
}

// Epsilon is a privacy loss parameter in thousandths (100 is ε = 0.1):
// exact, so that budgets add up without rounding.
type Epsilon int64

// Float returns ε as a number.
func (e Epsilon) Float() float64 { return float64(e) / 1000 }

// SizeRelease is a size released to an advertiser.
type SizeRelease struct {
	AudienceID string
	// Version is the content version it was computed from (see
	// Store.SizeContent).
	Version int64
	Status  string
	// Lower and Upper bound the size when Status is StatusReady.
	Lower, Upper int64
	Epsilon      Epsilon
	At           time.Time
}

// CreateAudience implements audience.Store.
func (s *Store) CreateAudience(ctx context.Context, a Audience) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audiences (id, tenant, name, purpose, created_at, description, file_source)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		a.ID, a.Tenant, a.Name, a.Purpose, utc(a.CreatedAt), a.Description, a.FileSource)
	return mapErr(err)
}

func scanAudience(r pgx.CollectableRow) (Audience, error) {
	var a Audience
	err := r.Scan(&a.ID, &a.Tenant, &a.Name, &a.Purpose, &a.CreatedAt, &a.Description, &a.FileSource)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

// Audience implements audience.Store.
func (s *Store) Audience(ctx context.Context, tenant, id string) (Audience, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, name, purpose, created_at, description, file_source FROM audiences WHERE id = $1 AND tenant = $2`, id, tenant)
	if err != nil {
		return Audience{}, mapErr(err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanAudience)
	return a, mapErr(err)
}

// ListAudiences implements audience.Store.
func (s *Store) ListAudiences(ctx context.Context, tenant, after string, limit int) ([]Audience, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, name, purpose, created_at, description, file_source FROM audiences
		WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanAudience)
	return out, mapErr(err)
}

// DeleteAudience implements audience.Store. Deleting the audience row
// waits for a batch that holds it (ApplyBatch locks it), so no membership
// is written after the memberships are deleted.
func (s *Store) DeleteAudience(ctx context.Context, tenant, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM audiences WHERE id = $1 AND tenant = $2`, id, tenant)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storeerr.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM audience_members WHERE audience_id = $1`, id)
		return err
	})
}

// errRaced is a batch that another transaction applied while this one ran.
var errRaced = errors.New("store: batch applied meanwhile")

// ApplyBatch implements audience.Store: the memberships, the batch record
// and the session change in one transaction; a replayed batch changes
// nothing and answers the first application's counts. Batches of one
// audience apply side by side: the audience row is held in SHARE mode (a
// deletion waits for them), memberships are written in account order (no
// deadlock between batches), and the session row is updated last, refusing
// a batch that arrives after the session's last one.
func (s *Store) ApplyBatch(ctx context.Context, b UploadBatch) (BatchResult, error) {
	var res BatchResult
	at := b.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	matched := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// The batches of one audience apply one at a time: a batch that
		// waited on another's locks of the members they share would time
		// which accounts are members.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM audiences WHERE id = $1 FOR UPDATE`, b.AudienceID).Scan(&one); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT received, invalid FROM upload_batches WHERE audience_id = $1 AND session_id = $2 AND seq = $3`,
			b.AudienceID, b.SessionID, b.Seq).Scan(&res.Received, &res.Invalid)
		if err == nil {
			return nil // applied before
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var complete bool
		err = tx.QueryRow(ctx, `SELECT complete FROM upload_sessions WHERE audience_id = $1 AND session_id = $2`,
			b.AudienceID, b.SessionID).Scan(&complete)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if complete {
			return storeerr.ErrConflict
		}
		// The session exists before its batch records (which refer to
		// it); an existing session row is not locked here.
		if _, err := tx.Exec(ctx, `INSERT INTO upload_sessions (audience_id, session_id, batches, complete, updated_at, started_at)
			VALUES ($1, $2, 0, false, $3, $3) ON CONFLICT DO NOTHING`, b.AudienceID, b.SessionID, at); err != nil {
			return err
		}
		if len(b.Add) > 0 {
			// One statement over an array of at most a batch of ids, joined
			// with the directory: an account erased before this statement
			// began is not found (and the batch is refused); one erased
			// after waits for this transaction (EraseAccount locks the
			// memberships in SHARE mode) and removes what it wrote.
			ids := slices.Clone(b.Add)
			slices.Sort(ids)
			ids = slices.Compact(ids)
			tag, err := tx.Exec(ctx, `INSERT INTO audience_members (audience_id, account_id, added_at)
				SELECT $1, a.id, $2::timestamptz FROM accounts a WHERE a.id = ANY ($3::text[]) ORDER BY a.id
				ON CONFLICT (audience_id, account_id) DO UPDATE SET added_at = excluded.added_at`, b.AudienceID, at, ids)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != int64(len(ids)) {
				return fmt.Errorf("%w: %d of the batch's accounts are not in the directory", storeerr.ErrNotFound, int64(len(ids))-tag.RowsAffected())
			}
		}
		if m := b.Match; m != nil {
			// Matched and applied in one statement: the uploaded keys
			// never come back to this process.
			first := 3 // $1 the audience, $2 the time
			if m.Remove {
				first = 2
			}
			var sql string
			var args []any
			switch {
			case m.Hash != nil:
				sql, args = hashMatchSQL(*m.Hash, first)
			case m.OPRF != nil:
				sql, args = oprfMatchSQL(*m.OPRF, first)
			default:
				return errors.New("store: a batch match names no keys")
			}
			var tag pgconn.CommandTag
			if m.Remove {
				tag, err = tx.Exec(ctx, `DELETE FROM audience_members m USING (`+sql+`) x
					WHERE m.audience_id = $1 AND m.account_id = x.id`, append([]any{b.AudienceID}, args...)...)
			} else {
				tag, err = tx.Exec(ctx, `INSERT INTO audience_members (audience_id, account_id, added_at)
					SELECT $1, x.id, $2::timestamptz FROM (`+sql+`) x ORDER BY x.id
					ON CONFLICT (audience_id, account_id) DO UPDATE SET added_at = excluded.added_at`, append([]any{b.AudienceID, at}, args...)...)
			}
			if err != nil {
				return err
			}
			matched = int(tag.RowsAffected())
		}
		if len(b.Remove) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM audience_members WHERE audience_id = $1 AND account_id = ANY ($2)`,
				b.AudienceID, b.Remove); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO upload_batches (audience_id, session_id, seq, received, invalid) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, b.AudienceID, b.SessionID, b.Seq, b.Received, b.Invalid)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errRaced
		}
		var started time.Time
		err = tx.QueryRow(ctx, `UPDATE upload_sessions SET batches = batches + 1, complete = $3,
				updated_at = greatest(updated_at, $4)
			WHERE audience_id = $1 AND session_id = $2 AND NOT complete
			RETURNING started_at`,
			b.AudienceID, b.SessionID, b.Last, at).Scan(&started)
		if errors.Is(err, pgx.ErrNoRows) {
			return storeerr.ErrConflict // the session's last batch came first
		}
		if err != nil {
			return err
		}
		if b.Replace && b.Last {
			// The replacement is complete: members no batch of the
			// session added or re-added go.
			if _, err := tx.Exec(ctx, `DELETE FROM audience_members WHERE audience_id = $1 AND added_at < $2`, b.AudienceID, started); err != nil {
				return err
			}
		}
		res = BatchResult{Applied: true, Received: b.Received, Invalid: b.Invalid, Matched: matched}
		return nil
	})
	if errors.Is(err, errRaced) {
		// The same batch, sent twice at once: the other one applied it.
		res = BatchResult{}
		err = s.pool.QueryRow(ctx, `SELECT received, invalid FROM upload_batches WHERE audience_id = $1 AND session_id = $2 AND seq = $3`,
			b.AudienceID, b.SessionID, b.Seq).Scan(&res.Received, &res.Invalid)
		return res, mapErr(err)
	}
	return res, err
}

// Session implements audience.Store.
func (s *Store) Session(ctx context.Context, audienceID, sessionID string) (UploadSession, error) {
	ss := UploadSession{AudienceID: audienceID, ID: sessionID}
	err := s.pool.QueryRow(ctx, `SELECT batches, complete, updated_at, started_at FROM upload_sessions WHERE audience_id = $1 AND session_id = $2`,
		audienceID, sessionID).Scan(&ss.Batches, &ss.Complete, &ss.UpdatedAt, &ss.StartedAt)
	ss.UpdatedAt, ss.StartedAt = ss.UpdatedAt.UTC(), ss.StartedAt.UTC()
	return ss, mapErr(err)
}

// Members implements audience.Store.
func (s *Store) Members(ctx context.Context, audienceID string) ([]string, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audiences WHERE id = $1)`, audienceID).Scan(&exists); err != nil {
		return nil, mapErr(err)
	}
	if !exists {
		return nil, storeerr.ErrNotFound
	}
	rows, err := s.pool.Query(ctx, `SELECT account_id FROM audience_members WHERE audience_id = $1 ORDER BY account_id`, audienceID)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, mapErr(err)
}

// LinkedMembers implements audience.Store: one join of the members with
// their accounts and links, a page at a time.
func (s *Store) LinkedMembers(ctx context.Context, audienceID, after string, limit int) ([]LinkedMember, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.account_id, a.country, `+grantedSQL("a.id", "au.purpose")+`, l.link_id
		FROM audience_members m JOIN audiences au ON au.id = m.audience_id
			JOIN accounts a ON a.id = m.account_id JOIN links l ON l.account_id = m.account_id
		WHERE m.audience_id = $1 AND m.account_id > $2 ORDER BY m.account_id LIMIT $3`, audienceID, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return collectLinked(rows)
}

// LinkedAccounts implements audience.Store.
func (s *Store) LinkedAccounts(ctx context.Context, ids []psi.LinkID, tenant, purpose string) ([]LinkedMember, error) {
	keys := make([][]byte, len(ids))
	for i := range ids {
		keys[i] = ids[i][:]
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT a.id, a.country, `+grantedSQL("a.id", "$3")+`, l.link_id
		FROM unnest($1::bytea[]) k JOIN links l ON l.link_id = k JOIN accounts a ON a.id = l.account_id
		WHERE NOT a.ad_opt_out AND NOT ($2 = ANY (a.blocked_businesses))
		  AND NOT EXISTS (SELECT 1 FROM subject_requests r WHERE r.account_id = a.id AND r.kind = 'objection' AND r.purpose = $3)
		ORDER BY a.id`, keys, tenant, purpose)
	if err != nil {
		return nil, mapErr(err)
	}
	return collectLinked(rows)
}

func collectLinked(rows pgx.Rows) ([]LinkedMember, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LinkedMember, error) {
		var m LinkedMember
		var id []byte
		if err := r.Scan(&m.AccountID, &m.Country, &m.Consent, &id); err != nil {
			return m, err
		}
		return m, copyTo(m.LinkID[:], id, "link_id")
	})
	return out, mapErr(err)
}

// SizeContent implements audience.Store: the sum of the audience's batch
// order numbers (which any batch committed since adds to, whatever the
// order concurrent batches commit in; a greatest number would miss a batch
// that took its number first and committed last) and the distinct numbers
// (hash indexes) among its members. A mirror's batches count once their
// session is complete (audience.IsMirror).
func (s *Store) SizeContent(ctx context.Context, audienceID string) (AudienceContent, error) {
	var c AudienceContent
	err := s.pool.QueryRow(ctx, `SELECT
			coalesce((SELECT sum(b.applied) FROM upload_batches b WHERE b.audience_id = a.id
				AND (left(a.id, 4) <> 'ext_' OR EXISTS (SELECT 1 FROM upload_sessions s
					WHERE s.audience_id = b.audience_id AND s.session_id = b.session_id AND s.complete))), 0)::bigint,
			(SELECT count(DISTINCT ac.index_e164) FROM audience_members m JOIN accounts ac ON ac.id = m.account_id
				WHERE m.audience_id = a.id)
		FROM audiences a WHERE a.id = $1`, audienceID).Scan(&c.Version, &c.People)
	return c, mapErr(err)
}

// LastRelease implements audience.Store.
func (s *Store) LastRelease(ctx context.Context, audienceID string) (SizeRelease, error) {
	r := SizeRelease{AudienceID: audienceID}
	err := s.pool.QueryRow(ctx, `SELECT version, status, lower_bound, upper_bound, epsilon, released_at
		FROM audience_releases WHERE audience_id = $1`, audienceID).Scan(&r.Version, &r.Status, &r.Lower, &r.Upper, &r.Epsilon, &r.At)
	r.At = r.At.UTC()
	return r, mapErr(err)
}

// PutRelease implements audience.Store.
func (s *Store) PutRelease(ctx context.Context, r SizeRelease) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audience_releases (audience_id, version, status, lower_bound, upper_bound, epsilon, released_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (audience_id) DO UPDATE SET version = excluded.version, status = excluded.status,
			lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, epsilon = excluded.epsilon,
			released_at = excluded.released_at`,
		r.AudienceID, r.Version, r.Status, r.Lower, r.Upper, int64(r.Epsilon), utc(r.At))
	return mapErr(err)
}
