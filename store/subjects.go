package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/crypto/psi"
)

// Held is what the party holds about one account, for the person behind
// it: never a number, a pseudonym, a link id or an account of the other
// party.
type Held struct {
	AccountID string
	Country   string
	AdOptOut  bool
	// Consents is the account's consent ledger, latest first: the first
	// entry of each purpose is its consent.
	Consents          []ConsentEntry
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
	ID string
	// AccountID is the account an objection is about (an erasure's
	// receipt names none).
	AccountID string
	Kind      string // objection or erasure
	// Peer says the other party relayed the request (ID is its id).
	Peer    bool
	Purpose string // an objection's
	At      time.Time
	// Relayed says the request goes to the other party: the account had
	// a link when it was made.
	Relayed bool
	// AcknowledgedAt is when the other party acknowledged it (zero: not
	// yet); for a relayed request, when it was applied here.
	AcknowledgedAt time.Time
	// PeerOutcome is, for a request made here, what the other party did
	// with it: SubjectApplied, SubjectDuplicate, SubjectUnlinked or
	// SubjectRefused ("" until acknowledged).
	PeerOutcome string
	// Removed is how many audience memberships the request ended here.
	Removed int64
}

// Request kinds.
const (
	KindObjection = "objection"
	KindErasure   = "erasure"
)

// Object records the objection r of the person behind r.AccountID to
// r.Purpose and, in the same transaction, withdraws the account's consent
// to it in the consent ledger and takes the account out of every audience
// of that purpose; an objection to ads also opts the account out of ads,
// which later imports keep. If the account has a link, the
// request goes into the subject outbox for the other party. storeerr.
// ErrNotFound if there is no such account.
func (s *Store) Object(ctx context.Context, r SubjectRequest) (SubjectRequest, error) {
	r.Kind, r.At, r.Peer = KindObjection, r.At.UTC(), false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		link, err := lockSubject(ctx, tx, r.AccountID)
		if err != nil {
			return err
		}
		r.Relayed = link != nil
		if _, err := tx.Exec(ctx, `INSERT INTO subject_requests (id, account_id, kind, purpose, requested_at, relayed) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.AccountID, r.Kind, r.Purpose, r.At, r.Relayed); err != nil {
			return err
		}
		if link != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO subject_outbox (request_id, link_id) VALUES ($1, $2)`, r.ID, link); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consents (account_id, purpose, granted, given_at, source, request_id)
			VALUES ($1, $2, false, $3, $4, $5)`, r.AccountID, r.Purpose, r.At, ConsentObjection, r.ID); err != nil {
			return err
		}
		if r.Purpose == "ads" {
			if _, err := tx.Exec(ctx, `UPDATE accounts SET ad_opt_out = true, updated_at = $2 WHERE id = $1 AND NOT ad_opt_out`, r.AccountID, r.At); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audience_members m USING audiences a
			WHERE m.audience_id = a.id AND a.purpose = $2 AND m.account_id = $1`, r.AccountID, r.Purpose)
		r.Removed = tag.RowsAffected()
		return err
	})
	if err == nil && r.Relayed {
		s.nudgeLine(&s.subjectNudges, SubjectJob{})
	}
	return r, err
}

// lockSubject locks the account's row and reads its link id (nil: none);
// pgx.ErrNoRows if there is no such account.
func lockSubject(ctx context.Context, tx pgx.Tx, id string) ([]byte, error) {
	var link []byte
	err := tx.QueryRow(ctx, `SELECT l.link_id FROM accounts a LEFT JOIN links l ON l.account_id = a.id WHERE a.id = $1 FOR UPDATE OF a`, id).Scan(&link)
	return link, err
}

// Erase erases the account r.AccountID at the request of the person
// behind it, in one transaction: the account, its link, memberships and
// signals (EraseAccount), and its id from the receipts of its earlier
// requests; r's receipt names no account. If the account had a link, the
// erasure goes into the subject outbox with it, for the other party to
// drop its side. storeerr.ErrNotFound if there is no such account.
func (s *Store) Erase(ctx context.Context, r SubjectRequest) (SubjectRequest, error) {
	id := r.AccountID
	r.Kind, r.At, r.Peer, r.AccountID, r.Purpose = KindErasure, r.At.UTC(), false, "", ""
	err := s.tx(ctx, func(tx pgx.Tx) error {
		link, err := lockSubject(ctx, tx, id)
		if err != nil {
			return err
		}
		r.Relayed = link != nil
		if _, err := tx.Exec(ctx, `INSERT INTO subject_requests (id, kind, requested_at, relayed) VALUES ($1, $2, $3, $4)`,
			r.ID, r.Kind, r.At, r.Relayed); err != nil {
			return err
		}
		if link != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO subject_outbox (request_id, link_id) VALUES ($1, $2)`, r.ID, link); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE subject_requests SET account_id = NULL WHERE account_id = $1`, id); err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audience_members WHERE account_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		r.Removed = n
		return eraseAccount(ctx, tx, id)
	})
	if err == nil && r.Relayed {
		s.nudgeLine(&s.subjectNudges, SubjectJob{})
	}
	return r, mapErr(err)
}

const requestColumns = `id, coalesce(account_id, ''), kind, origin = 'peer', purpose, requested_at, relayed, acknowledged_at, peer_outcome`

func scanRequest(r pgx.CollectableRow) (SubjectRequest, error) {
	var q SubjectRequest
	var ack *time.Time
	err := r.Scan(&q.ID, &q.AccountID, &q.Kind, &q.Peer, &q.Purpose, &q.At, &q.Relayed, &ack, &q.PeerOutcome)
	q.At = q.At.UTC()
	if ack != nil {
		q.AcknowledgedAt = ack.UTC()
	}
	return q, err
}

// SubjectRequest reads a request's receipt; storeerr.ErrNotFound if
// there is none.
func (s *Store) SubjectRequest(ctx context.Context, id string) (SubjectRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+requestColumns+` FROM subject_requests WHERE id = $1`, id)
	if err != nil {
		return SubjectRequest{}, mapErr(err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRequest)
	return r, mapErr(err)
}

// SubjectMessage is a data-subject request on the relay: the request's
// id, kind, purpose and time, and the link it names. Seq is its place in
// this party's outbox.
type SubjectMessage struct {
	Seq               int64
	ID, Kind, Purpose string
	LinkID            psi.LinkID
	At                time.Time
}

// Acknowledgement outcomes of a relayed request.
const (
	SubjectApplied   = "applied"
	SubjectDuplicate = "duplicate"
	SubjectUnlinked  = "unlinked"
	// SubjectRefused: not applied, and never will be here: its id is one
	// of this party's own receipts, or its purpose is not one this
	// party's catalogue knows.
	SubjectRefused = "refused"
)

// SubjectAck is the other party's acknowledgement of a relayed request:
// what it did (SubjectApplied, SubjectDuplicate, SubjectUnlinked) and
// when it first applied it.
type SubjectAck struct {
	Outcome string
	At      time.Time
}

// PendingSubjects returns up to limit requests of the subject outbox,
// oldest first.
func (s *Store) PendingSubjects(ctx context.Context, limit int) ([]SubjectMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.seq, r.id, r.kind, r.purpose, r.requested_at, o.link_id
		FROM subject_outbox o JOIN subject_requests r ON r.id = o.request_id ORDER BY o.seq LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectMessage, error) {
		var m SubjectMessage
		var link []byte
		if err := r.Scan(&m.Seq, &m.ID, &m.Kind, &m.Purpose, &m.At, &link); err != nil {
			return m, err
		}
		m.At = m.At.UTC()
		return m, copyTo(m.LinkID[:], link, "link_id")
	})
	return out, mapErr(err)
}

// AcknowledgeSubjects records the other party's acknowledgements of the
// outbox's messages seqs (in order) and takes them out of the outbox,
// link ids with them. It returns the receipts acknowledged, for the
// audit log.
func (s *Store) AcknowledgeSubjects(ctx context.Context, seqs []int64, acks []SubjectAck) ([]SubjectRequest, error) {
	if len(seqs) != len(acks) {
		return nil, fmt.Errorf("store: %d acknowledgements for %d messages", len(acks), len(seqs))
	}
	times := make([]time.Time, len(acks))
	outcomes := make([]string, len(acks))
	for i, a := range acks {
		times[i], outcomes[i] = a.At.UTC(), a.Outcome
	}
	var out []SubjectRequest
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH a AS (SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS a (seq, at, outcome)),
				gone AS (DELETE FROM subject_outbox o USING a WHERE o.seq = a.seq RETURNING o.request_id, a.at, a.outcome)
			UPDATE subject_requests r SET acknowledged_at = coalesce(r.acknowledged_at, gone.at),
				peer_outcome = CASE WHEN r.acknowledged_at IS NULL THEN gone.outcome ELSE r.peer_outcome END
			FROM gone WHERE r.id = gone.request_id
			RETURNING `+strings.ReplaceAll(requestColumns, "id, coalesce(account_id", "r.id, coalesce(r.account_id"), seqs, times, outcomes)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanRequest)
		return err
	})
	return out, mapErr(err)
}

// MarkSubjectsAttempted counts a failed delivery of the outbox's
// messages seqs.
func (s *Store) MarkSubjectsAttempted(ctx context.Context, seqs []int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_outbox SET attempts = attempts + 1 WHERE seq = ANY($1)`, seqs)
	return mapErr(err)
}

// ReceiveSubjects applies the other party's relayed requests at now, in
// one transaction, each once by its id (a request seen before answers
// SubjectDuplicate with the time it was first applied). The link id
// names this party's account, if it has one here (SubjectUnlinked if
// not: nothing to do). An objection is kept against the account and takes
// it out of the mirrors of the other party's audiences of its purpose;
// mirrors built later leave it out (LinkedAccounts). An erasure drops the
// link, takes the account out of every mirror, marks the signals the
// other party relayed about it erased (shown no more, their outcomes not
// sent), and takes the link id off this party's own signals and requests
// about it: afterwards no row here holds that link id.
func (s *Store) ReceiveSubjects(ctx context.Context, msgs []SubjectMessage, now time.Time) ([]SubjectAck, error) {
	now = now.UTC()
	out := make([]SubjectAck, len(msgs))
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE audience_members IN SHARE MODE`); err != nil {
			return err
		}
		for i, m := range msgs {
			var at *time.Time
			var origin string
			err := tx.QueryRow(ctx, `SELECT origin, acknowledged_at FROM subject_requests WHERE id = $1`, m.ID).Scan(&origin, &at)
			if err == nil {
				if origin != "peer" || at == nil {
					out[i] = SubjectAck{Outcome: SubjectRefused, At: now}
				} else {
					out[i] = SubjectAck{Outcome: SubjectDuplicate, At: at.UTC()}
				}
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			var acct *string
			if err := tx.QueryRow(ctx, `SELECT account_id FROM links WHERE link_id = $1 FOR UPDATE`, m.LinkID[:]).Scan(&acct); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			out[i] = SubjectAck{Outcome: SubjectApplied, At: now}
			if acct == nil {
				out[i].Outcome = SubjectUnlinked
			}
			keep := acct
			if m.Kind == KindErasure {
				keep = nil // the receipt of an erasure names no account
			}
			if _, err := tx.Exec(ctx, `INSERT INTO subject_requests (id, account_id, kind, origin, purpose, requested_at, acknowledged_at)
				VALUES ($1, $2, $3, 'peer', $4, $5, $6)`, m.ID, keep, m.Kind, m.Purpose, m.At.UTC(), now); err != nil {
				return err
			}
			if acct == nil {
				continue
			}
			switch m.Kind {
			case KindObjection:
				if _, err := tx.Exec(ctx, `DELETE FROM audience_members m USING audiences a
					WHERE m.audience_id = a.id AND a.id LIKE 'ext\_%' AND a.purpose = $2 AND m.account_id = $1`, *acct, m.Purpose); err != nil {
					return err
				}
			case KindErasure:
				if err := receiveErasure(ctx, tx, *acct, m.LinkID[:], now); err != nil {
					return err
				}
			default:
				return fmt.Errorf("store: a relayed request of kind %q", m.Kind)
			}
		}
		return nil
	})
	return out, mapErr(err)
}

// receiveErasure drops this party's side of the link the other party's
// erased account had with account acct.
func receiveErasure(ctx context.Context, tx pgx.Tx, acct string, link []byte, now time.Time) error {
	for _, q := range []string{
		// Outcomes not yet sent of the signals about the erased account.
		`DELETE FROM signal_outbox o USING signals s WHERE o.signal_id = s.id AND s.direction = 'inbound' AND s.link_id = $2 AND s.account_id = $1`,
		`DELETE FROM signal_events e USING signals s WHERE e.signal_id = s.id AND s.direction = 'inbound' AND s.link_id = $2 AND s.account_id = $1`,
		`UPDATE signals SET status = 'erased', link_id = NULL WHERE direction = 'inbound' AND link_id = $2 AND account_id = $1`,
		// Dropping the link sends this party's flags on the account that
		// have not crossed back to wait for a link (signals_follow_links).
		`DELETE FROM links WHERE link_id = $2 AND account_id = $1`,
		`UPDATE signals SET link_id = NULL WHERE link_id = $2 AND account_id = $1`,
	} {
		if _, err := tx.Exec(ctx, q, acct, link); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM audience_members m USING audiences a
		WHERE m.audience_id = a.id AND a.id LIKE 'ext\_%' AND m.account_id = $1`, acct); err != nil {
		return err
	}
	// A link run under way may hold the sets exchanged before the
	// erasure, where the account still matches: it must not link it again.
	if _, err := tx.Exec(ctx, `INSERT INTO link_held (account_id, held_at) VALUES ($1, $2)
		ON CONFLICT (account_id) DO UPDATE SET held_at = excluded.held_at`, acct, now.UTC()); err != nil {
		return err
	}
	// This party's own requests about the account that were still to go:
	// the other side is gone, and the link id goes with them.
	_, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM subject_outbox WHERE link_id = $1 RETURNING request_id)
		UPDATE subject_requests SET relayed = false WHERE id IN (SELECT request_id FROM gone)`, link)
	return err
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
		if err := tx.QueryRow(ctx, `SELECT a.id, a.country, a.ad_opt_out, cardinality(a.blocked_businesses), a.updated_at, l.created_at
			FROM accounts a LEFT JOIN links l ON l.account_id = a.id WHERE a.id = $1`, id).
			Scan(&h.AccountID, &h.Country, &h.AdOptOut, &h.BlockedBusinesses, &h.UpdatedAt, &linkedAt); err != nil {
			return err
		}
		var err error
		if h.Consents, err = consentHistory(ctx, tx, id); err != nil {
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
		rows, err = tx.Query(ctx, `SELECT `+requestColumns+` FROM subject_requests
			WHERE account_id = $1 ORDER BY requested_at, id`, id)
		if err != nil {
			return err
		}
		if h.Requests, err = pgx.CollectRows(rows, scanRequest); err != nil {
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
