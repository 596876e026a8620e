package store

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/crypto/psi"
)

// Direction says whether a signal was raised here or received from the peer.
type Direction string

const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// Signal is a flag on an account.
type Signal struct {
	ID          string
	Direction   Direction
	AccountID   string     // this party's own account
	LinkID      psi.LinkID // zero when the account has no link
	Type        string
	Confidence  float64
	EvidenceRef string
	Note        string
	Status      string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// A reviewer's decision on an inbound signal (disable, dismiss or
	// escalate; the status too until the other party revokes it): who
	// took it, why and when.
	Decision  string
	Reviewer  string
	Reason    string
	DecidedAt time.Time
	// An outbound signal: whether it crosses to the other party and, if
	// not, why (a CrossReason) and, for a policy's refusal, the rule.
	Crosses     bool
	CrossReason CrossReason
	CrossRule   string
	// PeerOutcome is the other party's latest decision on an outbound
	// signal (disable, dismiss, escalate, false_positive), taken at
	// PeerDecidedAt; "" until one comes back.
	PeerOutcome   string
	PeerDecidedAt time.Time
}

// Decision is one reviewer's decision on an inbound signal.
type Decision struct {
	Decision  string
	Reviewer  string
	Reason    string
	DecidedAt time.Time
}

// CrossReason says why an outbound signal does not cross.
type CrossReason string

// The reasons.
const (
	// CrossBelowConfidence: under the catalogue's minimum confidence for its
	// type and direction.
	CrossBelowConfidence CrossReason = "below_confidence"
	// CrossNotLinkedYet: the account has no link to the other party.
	CrossNotLinkedYet CrossReason = "not_linked_yet"
	// CrossPolicyDenied: a policy refused it (CrossRule names the rule).
	CrossPolicyDenied CrossReason = "policy_denied"
	// CrossExpired: it expired before it could be sent.
	CrossExpired CrossReason = "expired"
)

// SignalFilter selects signals to list.
type SignalFilter struct {
	Direction Direction
	Status    string // "" for any
	Type      string // "" for any
	// PeerOutcome, if set, keeps outbound signals with that outcome from
	// the other party.
	PeerOutcome string
	// MinConfidence, if above zero, keeps signals at least this confident.
	MinConfidence float64
	// CreatedAfter and CreatedBefore, if set, keep signals created in
	// between (an age in the review queue).
	CreatedAfter, CreatedBefore time.Time
	After                       string // id to list after
	Limit                       int
}

// OutboxEntry is a message waiting to be delivered to the peer.
type OutboxEntry struct {
	ID int64
	Message
}

// SignalSubject is what raising a signal needs of the account flagged.
type SignalSubject struct {
	Country string     // the account's country, for the policy decision
	LinkID  psi.LinkID // its link, if Linked
	Linked  bool
}

// Message kinds.
const (
	KindSignal = "signal"
	KindRevoke = "revoke"
	// KindOutcome carries the receiver's decision back to the sender:
	// the signal's id, the decision and its time, nothing else.
	KindOutcome = "outcome"
)

// Message is all of a signal that crosses to the other party: its id, the
// link id of the account, the type, the confidence and its times, and
// whether it is raised or revoked. The account id, the evidence reference
// and the note stay with the party that raised it; no number is in it.
type Message struct {
	Kind       string
	ID         string
	LinkID     psi.LinkID
	Type       string
	Confidence float64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// Outcome and DecidedAt, of a KindOutcome message.
	Outcome   string
	DecidedAt time.Time
	// At the receiver, for a KindSignal: when it arrives, and its type's
	// cap: if OpenCap is above zero and OpenCap signals of the type went
	// into the open queue since CapSince, it goes to quarantine instead.
	ReceivedAt time.Time
	OpenCap    int64
	CapSince   time.Time
}

// Outcome is what the receiver did with one message.
type Outcome string

const (
	// OutcomeApplied: the signal was queued for review, or the revocation
	// recorded.
	OutcomeApplied Outcome = "applied"
	// OutcomeDuplicate: the message was applied before (or names a signal the
	// receiver raised itself); nothing changed.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeUnlinked: the receiver has no account with that link id (the link
	// was dropped since); nothing is kept.
	OutcomeUnlinked Outcome = "unlinked"
	// OutcomeExpired: the signal had expired when it arrived; nothing is kept.
	OutcomeExpired Outcome = "expired"
	// OutcomeRefused: the receiver's policies do not let this signal in; nothing
	// is kept.
	OutcomeRefused Outcome = "refused"
	// OutcomeQuarantined: kept, but in quarantine for bulk review: its type
	// brought as many signals into the open queue as the period allows.
	OutcomeQuarantined Outcome = "quarantined"
)

// Event names.
const (
	EventReceived = "signal.received"
	EventRevoked  = "signal.revoked"
)

// Event is news for this party's own account system (the webhook) of a
// signal the other party sent: received, or revoked. The signal is as this
// party keeps it: its own account, no number.
type Event struct {
	Seq    int64 // order in the outbox
	Name   string
	Signal Signal
}

const signalColumns = `id, direction, account_id, link_id, type, confidence, evidence_ref, note, status, created_at, expires_at,
	crosses, cross_reason, cross_rule`

func signalArgs(sg Signal) []any {
	var lid []byte
	if sg.LinkID != (psi.LinkID{}) {
		lid = sg.LinkID[:]
	}
	return []any{sg.ID, string(sg.Direction), sg.AccountID, lid, sg.Type, sg.Confidence, sg.EvidenceRef,
		sg.Note, sg.Status, utc(sg.CreatedAt), utc(sg.ExpiresAt), sg.Crosses, string(sg.CrossReason), sg.CrossRule}
}

// signalSelect is what reading a signal selects: its columns and the
// decision on it.
const signalSelect = signalColumns + `, decision, reviewer, reason, decided_at, peer_outcome, peer_decided_at`

func scanSignal(r pgx.CollectableRow) (Signal, error) { return scanSignalAfter(r) }

// scanSignalAfter scans a row of signalSelect's columns that come after
// the destinations first (an event's sequence and name, say).
func scanSignalAfter(r pgx.Row, first ...any) (Signal, error) {
	var sg Signal
	var dir string
	var lid []byte
	var decided, peerDecided *time.Time
	var why string
	if err := r.Scan(append(first, &sg.ID, &dir, &sg.AccountID, &lid, &sg.Type, &sg.Confidence, &sg.EvidenceRef,
		&sg.Note, &sg.Status, &sg.CreatedAt, &sg.ExpiresAt, &sg.Crosses, &why, &sg.CrossRule,
		&sg.Decision, &sg.Reviewer, &sg.Reason, &decided, &sg.PeerOutcome, &peerDecided)...); err != nil {
		return sg, err
	}
	if peerDecided != nil {
		sg.PeerDecidedAt = peerDecided.UTC()
	}
	sg.Direction, sg.CrossReason = Direction(dir), CrossReason(why)
	sg.CreatedAt, sg.ExpiresAt = sg.CreatedAt.UTC(), sg.ExpiresAt.UTC()
	if decided != nil {
		sg.DecidedAt = decided.UTC()
	}
	return sg, optLinkID(&sg.LinkID, lid)
}

// optLinkID reads a link id column that is NULL for no link.
func optLinkID(dst *psi.LinkID, b []byte) error {
	if b == nil {
		return nil
	}
	return copyTo(dst[:], b, "link_id")
}

// Subject implements signal.Store.
func (s *Store) Subject(ctx context.Context, accountID string) (SignalSubject, error) {
	var sub SignalSubject
	var lid []byte
	err := s.pool.QueryRow(ctx, `SELECT a.country, l.link_id FROM accounts a LEFT JOIN links l ON l.account_id = a.id WHERE a.id = $1`,
		accountID).Scan(&sub.Country, &lid)
	if err != nil {
		return sub, mapErr(err)
	}
	sub.Linked = lid != nil
	return sub, optLinkID(&sub.LinkID, lid)
}

const insertSignal = `INSERT INTO signals (` + signalColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// CreateSignal implements signal.Store. A signal not relayed is kept as
// it is. One relayed takes its account's link as the statement reads it,
// the link row locked until the signal and its outbox entry are written,
// so that a link changed meanwhile waits and its trigger sees the flag;
// an account without a link keeps the flag waiting (not_linked_yet).
func (s *Store) CreateSignal(ctx context.Context, sg Signal, relay bool) error {
	if !relay {
		sg.Crosses = false
		_, err := s.pool.Exec(ctx, insertSignal, signalArgs(sg)...)
		return mapErr(err)
	}
	var crosses bool
	err := s.pool.QueryRow(ctx, `WITH l AS (SELECT link_id FROM links WHERE account_id = $3 FOR SHARE),
		sg AS (INSERT INTO signals (`+signalColumns+`)
			SELECT $1, $2, $3, (SELECT link_id FROM l), $4, $5, $6, $7, $8, $9, $10,
				EXISTS (SELECT 1 FROM l), CASE WHEN EXISTS (SELECT 1 FROM l) THEN '' ELSE 'not_linked_yet' END, ''
			RETURNING id, crosses),
		ob AS (INSERT INTO signal_outbox (signal_id, kind) SELECT id, 'signal' FROM sg WHERE crosses)
		SELECT crosses FROM sg`,
		sg.ID, string(sg.Direction), sg.AccountID, sg.Type, sg.Confidence, sg.EvidenceRef, sg.Note, sg.Status,
		utc(sg.CreatedAt), utc(sg.ExpiresAt)).Scan(&crosses)
	if err != nil {
		return mapErr(err)
	}
	if crosses {
		s.nudge()
	}
	return nil
}

// receiveSignal inserts an inbound signal for the account linked to the
// link id, unless the id is known; it answers (inserted, linked).
const receiveSignal = `WITH acct AS (SELECT account_id FROM links WHERE link_id = $2),
q AS (SELECT $9::bigint > 0 AND (SELECT count(*) FROM signals WHERE direction = 'inbound' AND type = $3
	AND received_at >= $8 AND NOT quarantined) >= $9 AS over),
ins AS (INSERT INTO signals (` + signalColumns + `, received_at, quarantined)
	SELECT $1, 'inbound', account_id, $2, $3, $4, '', '', CASE WHEN q.over THEN 'quarantined' ELSE 'open' END, $5, $6, false, '', '',
		$10, q.over FROM acct, q
	ON CONFLICT (id) DO NOTHING RETURNING quarantined),
ev AS (INSERT INTO signal_events (signal_id, name) SELECT $1, 'signal.received' FROM ins WHERE $7)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM acct), coalesce((SELECT bool_or(quarantined) FROM ins), false)`

// receiveOutcome records the other party's decision on a signal raised
// here that crossed, unless a later one is recorded or its time is ahead
// of this party's clock. Every outcome is answered "applied": an answer
// that differed would tell the other party whether the flag is still
// here (an erased account's flags are gone).
const receiveOutcome = `WITH up AS (UPDATE signals SET peer_outcome = $2, peer_decided_at = $3
	WHERE id = $1 AND direction = 'outbound' AND crosses AND $3 <= now() + interval '5 minutes'
	  AND (peer_decided_at IS NULL OR peer_decided_at < $3) RETURNING 1)
SELECT 1, 1, false`

// receiveRevoke revokes an inbound signal, or keeps one revoked for the
// account linked to the link id if it has not arrived yet (a signal
// inserted meanwhile by another transaction is revoked by the conflict
// clause).
const receiveRevoke = `WITH acct AS (SELECT account_id FROM links WHERE link_id = $2),
up AS (UPDATE signals SET status = 'revoked' WHERE id = $1 AND direction = 'inbound' AND status <> 'revoked' RETURNING 1),
ins AS (INSERT INTO signals (` + signalColumns + `)
	SELECT $1, 'inbound', account_id, $2, $3, $4, '', '', 'revoked', $5, $6, false, '', '' FROM acct
	WHERE NOT EXISTS (SELECT 1 FROM signals WHERE id = $1)
	ON CONFLICT (id) DO UPDATE SET status = 'revoked'
		WHERE signals.direction = 'inbound' AND signals.status <> 'revoked' RETURNING (xmax::text <> '0') AS revoked),
ev AS (INSERT INTO signal_events (signal_id, name)
	SELECT $1, 'signal.revoked' FROM (SELECT true FROM up UNION ALL SELECT true FROM ins WHERE revoked) AS r WHERE $7)
SELECT (SELECT count(*) FROM up) + (SELECT count(*) FROM ins), (SELECT count(*) FROM acct), false`

// Receive implements signal.Store: one statement a message, sent in one
// pipelined batch inside one transaction.
func (s *Store) Receive(ctx context.Context, msgs []Message) ([]Outcome, error) {
	out := make([]Outcome, len(msgs))
	keep := s.keepEvents.Load()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// A type's daily cap on the open queue holds across concurrent
		// relay requests: each counts under the type's lock.
		capped := map[string]bool{}
		for _, m := range msgs {
			if m.Kind == KindSignal && m.OpenCap > 0 && !capped[m.Type] {
				capped[m.Type] = true
			}
		}
		for _, typ := range slices.Sorted(maps.Keys(capped)) {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('linkd signal cap ' || $1))`, typ); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		for _, m := range msgs {
			switch m.Kind {
			case KindOutcome:
				b.Queue(receiveOutcome, m.ID, m.Outcome, utc(m.DecidedAt))
			case KindRevoke:
				b.Queue(receiveRevoke, m.ID, m.LinkID[:], m.Type, m.Confidence, utc(m.CreatedAt), utc(m.ExpiresAt), keep)
			default:
				at := m.ReceivedAt
				if at.IsZero() {
					at = time.Now()
				}
				b.Queue(receiveSignal, m.ID, m.LinkID[:], m.Type, m.Confidence, utc(m.CreatedAt), utc(m.ExpiresAt), keep,
					utc(m.CapSince), m.OpenCap, utc(at))
			}
		}
		br := tx.SendBatch(ctx, b)
		for i := range msgs {
			var changed, linked int64
			var quarantined bool
			if err := br.QueryRow().Scan(&changed, &linked, &quarantined); err != nil {
				br.Close()
				return err
			}
			switch {
			case quarantined:
				out[i] = OutcomeQuarantined
			case changed > 0:
				out[i] = OutcomeApplied
			case linked == 0:
				out[i] = OutcomeUnlinked
			default:
				out[i] = OutcomeDuplicate
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	if keep && slices.Contains(out, OutcomeApplied) {
		s.nudgeEvents()
	}
	return out, nil
}

// KeepEvents implements signal.Store.
func (s *Store) KeepEvents(on bool) { s.keepEvents.Store(on) }

// PendingEvents implements signal.Store.
func (s *Store) PendingEvents(ctx context.Context, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.seq, e.name, `+signalSelect+`
		FROM signal_events e JOIN signals s ON s.id = e.signal_id ORDER BY e.seq LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var err error
		e.Signal, err = scanSignalAfter(r, &e.Seq, &e.Name)
		return e, err
	})
	return out, mapErr(err)
}

// MarkEventsSent implements signal.Store.
func (s *Store) MarkEventsSent(ctx context.Context, seqs []int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM signal_events WHERE seq = ANY($1)`, seqs)
	return mapErr(err)
}

// Signal implements signal.Store.
func (s *Store) Signal(ctx context.Context, id string) (Signal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signalSelect+` FROM signals WHERE id = $1 AND status <> 'erased'`, id)
	if err != nil {
		return Signal{}, mapErr(err)
	}
	sg, err := pgx.CollectExactlyOneRow(rows, scanSignal)
	return sg, mapErr(err)
}

// ListSignals implements signal.Store.
func (s *Store) ListSignals(ctx context.Context, f SignalFilter) ([]Signal, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+signalSelect+` FROM signals
		WHERE direction = $1 AND id > $2 AND status <> 'erased' AND ($3 = '' OR status = $3) AND ($4 = '' OR type = $4) AND ($6 = '' OR peer_outcome = $6)
		  AND confidence >= $7 AND ($8::timestamptz IS NULL OR created_at > $8) AND ($9::timestamptz IS NULL OR created_at < $9)
		ORDER BY id LIMIT $5`, string(f.Direction), f.After, f.Status, f.Type, f.Limit, f.PeerOutcome, f.MinConfidence, optTime(f.CreatedAfter), optTime(f.CreatedBefore))
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanSignal)
	return out, mapErr(err)
}

// OutboxBacklog is the signal outbox's state: messages waiting for the
// other party, how many of them failed to be delivered at least once, and
// the most attempts of one.
type OutboxBacklog struct {
	Pending, Retried int64
	MaxAttempts      int
	// Oldest is when the oldest message waiting was queued (zero: none).
	Oldest time.Time
}

// OutboxBacklog reads the signal outbox's state.
func (s *Store) OutboxBacklog(ctx context.Context) (OutboxBacklog, error) {
	return backlog(ctx, s.pool, "signal_outbox")
}

// SubjectBacklog reads the subject outbox's state.
func (s *Store) SubjectBacklog(ctx context.Context) (OutboxBacklog, error) {
	return backlog(ctx, s.pool, "subject_outbox")
}

func backlog(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, table string) (OutboxBacklog, error) {
	var b OutboxBacklog
	var oldest *time.Time
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE attempts > 0), coalesce(max(attempts), 0), min(queued_at) FROM `+table).
		Scan(&b.Pending, &b.Retried, &b.MaxAttempts, &oldest)
	if oldest != nil {
		b.Oldest = oldest.UTC()
	}
	return b, mapErr(err)
}

// Decide implements signal.Store: the signal's state, its history and
// the outcome's outbox entry in one statement, then a drain queued.
func (s *Store) Decide(ctx context.Context, id, status, reviewer, reason string, at time.Time) error {
	err := s.pool.QueryRow(ctx, `WITH up AS (UPDATE signals SET status = $2, decision = $2, reviewer = $3, reason = $4, decided_at = $5
			WHERE id = $1 AND direction = 'inbound' AND status NOT IN ('revoked', 'erased') RETURNING id),
		hist AS (INSERT INTO signal_decisions (signal_id, decision, reviewer, reason, decided_at) SELECT id, $2, $3, $4, $5 FROM up)
		INSERT INTO signal_outbox (signal_id, kind) SELECT id, 'outcome' FROM up RETURNING signal_id`,
		id, status, reviewer, reason, utc(at)).Scan(&id)
	if err != nil {
		return mapErr(err)
	}
	s.nudge()
	return nil
}

// Decisions implements signal.Store: an inbound signal's decisions, in
// the order they were taken.
func (s *Store) Decisions(ctx context.Context, id string) ([]Decision, error) {
	rows, err := s.pool.Query(ctx, `SELECT decision, reviewer, reason, decided_at FROM signal_decisions WHERE signal_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Decision, error) {
		var d Decision
		err := r.Scan(&d.Decision, &d.Reviewer, &d.Reason, &d.DecidedAt)
		d.DecidedAt = d.DecidedAt.UTC()
		return d, err
	})
	return out, mapErr(err)
}

// SetStatus implements signal.Store: the status and the outbox entry in
// one statement, then a drain queued.
func (s *Store) SetStatus(ctx context.Context, id, status string, relay bool) error {
	q := `UPDATE signals SET status = $2 WHERE id = $1 RETURNING id`
	if relay {
		q = `WITH up AS (` + q + `) INSERT INTO signal_outbox (signal_id, kind) SELECT id, 'revoke' FROM up RETURNING signal_id`
	}
	if err := s.pool.QueryRow(ctx, q, id, status).Scan(&id); err != nil {
		return mapErr(err)
	}
	if relay {
		s.nudge()
	}
	return nil
}

// PendingOutbox implements signal.Store.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.id, o.kind, s.id, s.link_id, s.type, s.confidence, s.created_at, s.expires_at, s.decision, s.decided_at
		FROM signal_outbox o JOIN signals s ON s.id = o.signal_id ORDER BY o.id LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxEntry, error) {
		var e OutboxEntry
		var lid []byte
		var decided *time.Time
		if err := r.Scan(&e.ID, &e.Kind, &e.Message.ID, &lid, &e.Type, &e.Confidence, &e.CreatedAt, &e.ExpiresAt, &e.Outcome, &decided); err != nil {
			return e, err
		}
		e.CreatedAt, e.ExpiresAt = e.CreatedAt.UTC(), e.ExpiresAt.UTC()
		if e.Kind != KindOutcome {
			e.Outcome = ""
		} else if decided != nil {
			e.DecidedAt = decided.UTC()
		}
		return e, optLinkID(&e.LinkID, lid)
	})
	return out, mapErr(err)
}

// MarkDelivered implements signal.Store: the entries go, and the signals
// of expired ones are marked as not crossing, expired.
func (s *Store) MarkDelivered(ctx context.Context, ids, expired []int64) error {
	_, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM signal_outbox WHERE id = ANY($1) OR id = ANY($2) RETURNING id, signal_id, kind)
		UPDATE signals SET crosses = false, cross_reason = $3
		WHERE id IN (SELECT signal_id FROM gone WHERE id = ANY($2) AND kind = 'signal')`, ids, expired, string(CrossExpired))
	return mapErr(err)
}

// MarkAttempted implements signal.Outbox.
func (s *Store) MarkAttempted(ctx context.Context, ids []int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE signal_outbox SET attempts = attempts + 1 WHERE id = ANY($1)`, ids)
	return mapErr(err)
}

// SignalTally is how the signals of one type and direction raised or
// received since a time fared: how many crossed (for received ones: how
// many arrived), and of those, by the receiver's latest decision
// (disable is upheld), revoked by the sender, or expired undecided
// (with, for flags raised here, those that expired before they could be
// sent).
type SignalTally struct {
	Type          string
	Direction     Direction
	Crossed       int64
	Upheld        int64
	Dismissed     int64
	FalsePositive int64
	Escalated     int64
	Revoked       int64
	Expired       int64
}

// SignalReport implements signal.Store: the tallies of the signals
// created since, by type and direction, in that order. An outbound
// signal's decision is the other party's outcome; an inbound one's is
// this party's.
func (s *Store) SignalReport(ctx context.Context, since, now time.Time) ([]SignalTally, error) {
	rows, err := s.pool.Query(ctx, `WITH d AS (
			SELECT type, direction, status, expires_at, direction = 'inbound' OR crosses AS crossed,
				cross_reason = 'expired' AS unsent,
				CASE direction WHEN 'outbound' THEN peer_outcome ELSE decision END AS decided
			FROM signals
			WHERE created_at >= $1 AND status <> 'erased' AND (direction = 'inbound' OR crosses OR cross_reason = 'expired'))
		SELECT type, direction,
			count(*) FILTER (WHERE crossed),
			count(*) FILTER (WHERE crossed AND decided = 'disable'),
			count(*) FILTER (WHERE crossed AND decided = 'dismiss'),
			count(*) FILTER (WHERE crossed AND decided = 'false_positive'),
			count(*) FILTER (WHERE crossed AND decided = 'escalate'),
			count(*) FILTER (WHERE crossed AND status = 'revoked'),
			count(*) FILTER (WHERE unsent OR crossed AND decided = '' AND status <> 'revoked' AND expires_at <= $2)
		FROM d GROUP BY type, direction ORDER BY type, direction`, utc(since), utc(now))
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SignalTally, error) {
		var t SignalTally
		var dir string
		err := r.Scan(&t.Type, &dir, &t.Crossed, &t.Upheld, &t.Dismissed, &t.FalsePositive, &t.Escalated, &t.Revoked, &t.Expired)
		t.Direction = Direction(dir)
		return t, err
	})
	return out, mapErr(err)
}

// optTime is t for a query, NULL when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
