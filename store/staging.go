package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"time"

	"github.com/linkd/linkd/crypto/psi"
)

// LinkJobKind is the job kind of a link run.
const LinkJobKind = "link"

// StagedRow is one staged element of this party's own: the account, the element
// sent or received singly blinded, and the doubly blinded value once known.
type StagedRow struct {
	AccountID string
	Element   psi.Element
	Value     psi.Element
}

// ReblindCount is what Store.StageReblinded counted: the values the job had
// re-blinded before, those of the batch that were new to it, and whether
// they were staged (within the most the job may re-blind).
type ReblindCount struct {
	Before, Fresh int64
	Staged        bool
}

// RunKeep is what a finished job changes in the kept sets. A full run
// replaces them by its staging (its links are replaced by Relink); an
// incremental one takes out one of the other's values for each of its
// retired values listed, and this party's retired values handed over,
// adds its staging, and drops the links of the accounts staged and of
// every row whose value the job touched (Matched links them anew, or
// not). Staged rows whose account no longer holds the element staged go
// to the retired values instead. A value two accounts hold is among the
// other's values, and among the retired ones, twice.
type RunKeep struct {
	JobID string
	Epoch uint32
	Full  bool
	// Base is the run an incremental job builds on.
	Base string
	// Confirmed is when the job began (its record's creation): the
	// links a full run confirms count their retention from then, and
	// the jobs begun before it are superseded.
	Confirmed time.Time
	// Changes is the store's Changes when the job started (0 if not known):
	// a store may skip checking the staged rows against the accounts
	// when it has not changed since.
	Changes     int64
	Retired     []psi.Element // this party's, handed over
	PeerRetired []psi.Element // the other's
}

// StageOwn implements linkjob.Staging: the batch replaces what was staged
// under (job, seq), in one transaction, through COPY.
func (s *Store) StageOwn(ctx context.Context, jobID string, seq int64, rows []StagedRow) error {
	data := make([][]any, len(rows))
	for i, r := range rows {
		var v any
		if r.Value != (psi.Element{}) {
			v = r.Value[:]
		}
		data[i] = []any{jobID, seq, int32(i), r.AccountID, r.Element[:], v}
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_own WHERE job_id = $1 AND seq = $2`, jobID, seq); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"link_staging_own"}, []string{"job_id", "seq", "pos", "account_id", "element", "value"}, pgx.CopyFromRows(data))
		return err
	})
}

// OwnBatch implements linkjob.Staging.
func (s *Store) OwnBatch(ctx context.Context, jobID string, seq int64) ([]StagedRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id, element, value FROM link_staging_own
		WHERE job_id = $1 AND seq = $2 ORDER BY pos`, jobID, seq)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StagedRow, error) { return scanStaged(r) })
	return out, mapErr(err)
}

// BatchEnd implements linkjob.Staging.
func (s *Store) BatchEnd(ctx context.Context, jobID string, seq int64) (int, string, error) {
	var n int
	var last string
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(max(account_id), '') FROM link_staging_own
		WHERE job_id = $1 AND seq = $2`, jobID, seq).Scan(&n, &last)
	return n, last, mapErr(err)
}

// SetOwnValues implements linkjob.Staging, in one statement.
func (s *Store) SetOwnValues(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	vals := elementBytes(values)
	tag, err := s.pool.Exec(ctx, `UPDATE link_staging_own o SET value = v.value
		FROM unnest($3::bytea[]) WITH ORDINALITY AS v(value, n)
		WHERE o.job_id = $1 AND o.seq = $2 AND o.pos = v.n - 1
		  AND (SELECT count(*) FROM link_staging_own c WHERE c.job_id = $1 AND c.seq = $2) = cardinality($3::bytea[])`, jobID, seq, vals)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() != int64(len(values)) {
		return fmt.Errorf("store: batch %d: %d values do not match its staged rows", seq, len(values))
	}
	return nil
}

// StageTheirs implements linkjob.Staging.
func (s *Store) StageTheirs(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return stageTheirs(ctx, tx, jobID, seq, values) })
}

func stageTheirs(ctx context.Context, tx pgx.Tx, jobID string, seq int64, values []psi.Element) error {
	data := make([][]any, len(values))
	for i := range values {
		data[i] = []any{jobID, seq, int32(i), values[i][:]}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = $1 AND seq = $2`, jobID, seq); err != nil {
		return err
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"link_staging_theirs"}, []string{"job_id", "seq", "pos", "value"}, pgx.CopyFromRows(data))
	return err
}

// StageReblinded implements linkjob.Staging: the job's row of
// link_staging_jobs, locked, serializes the batches of one job, so that
// two answers of the same batch (an attempt's, and a resumed one's) count
// each value once, and a batch is counted if and only if it is staged.
func (s *Store) StageReblinded(ctx context.Context, jobID string, seq int64, values []psi.Element, most int64) (ReblindCount, error) {
	var c ReblindCount
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT reblinded FROM link_staging_jobs WHERE job_id = $1 FOR UPDATE`, jobID).Scan(&c.Before); err != nil {
			return err
		}
		vals := make([][]byte, len(values))
		for i := range values {
			vals[i] = values[i][:]
		}
		if err := tx.QueryRow(ctx, `SELECT count(DISTINCT v) FROM unnest($3::bytea[]) v
			WHERE NOT EXISTS (SELECT 1 FROM link_staging_theirs t WHERE t.job_id = $1 AND t.seq = $2 AND t.value = v)`,
			jobID, seq, vals).Scan(&c.Fresh); err != nil {
			return err
		}
		if c.Before+c.Fresh > most {
			return nil
		}
		c.Staged = true
		if _, err := tx.Exec(ctx, `UPDATE link_staging_jobs SET reblinded = reblinded + $2 WHERE job_id = $1`, jobID, c.Fresh); err != nil {
			return err
		}
		return stageTheirs(ctx, tx, jobID, seq, values)
	})
	return c, err
}

// TrimTheirs implements linkjob.Staging.
func (s *Store) TrimTheirs(ctx context.Context, jobID string, seq int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = $1 AND seq > $2`, jobID, seq)
	return mapErr(err)
}

// Matched implements linkjob.Staging: one join of the kept sets (a full
// run), or of the rows whose value the job touched, sorted by value and
// read as it comes. A value that two rows of either side hold comes out
// of the join more than once, in a run; eachMatch leaves those out, and
// their links go.
func (s *Store) Matched(ctx context.Context, k RunKeep, limit int, each func([]StagedRow) error) error {
	q := fullMatch
	args := []any{k.Confirmed.UTC()}
	if !k.Full {
		q = `WITH touched AS (` + touchedValues + `)
			SELECT o.account_id, o.element, o.value FROM touched x
			JOIN link_own o ON o.value = x.value
			JOIN link_theirs t ON t.value = o.value
			WHERE ` + notHeld("$3") + `
			ORDER BY o.value`
		args = append(touchedArgs(k), k.Confirmed.UTC())
	}
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		shared, err := eachMatch(ctx, tx, q, args, limit, each)
		if err != nil {
			return err
		}
		if err := forgetHeld(ctx, tx, k); err != nil || len(shared) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM links WHERE account_id = ANY($1)`, shared)
		return err
	})
}

// notHeld is the condition that the kept row o's account is not held
// from a run that began at began (an SQL parameter): the other party
// erased its link since (link_held).
func notHeld(began string) string {
	return `NOT EXISTS (SELECT 1 FROM link_held h WHERE h.account_id = o.account_id AND h.held_at >= ` + began + `)`
}

// forgetHeld forgets the accounts held before run k began: the sets k
// exchanged no longer match them.
func forgetHeld(ctx context.Context, tx pgx.Tx, k RunKeep) error {
	_, err := tx.Exec(ctx, `DELETE FROM link_held WHERE held_at < $1`, k.Confirmed.UTC())
	return err
}

// fullMatch is Matched's join for a full run: every kept row whose value
// is among the other's and whose account is not held from the run ($1,
// when it began), in the order of their values.
var fullMatch = `SELECT o.account_id, o.element, o.value FROM link_own o
	JOIN link_theirs t ON t.value = o.value
	WHERE ` + notHeld("$1") + `
	ORDER BY o.value`

// Relink implements linkjob.Staging in one transaction, under lockKept
// (no account is erased or changes number meanwhile): the matches are
// read on a second connection, as Matched reads them but without their
// elements, and their links copied as they come into a temporary table,
// which then replaces the links set-wise: every link that is not among
// the new ones as it is goes (unless made since the run started for an
// account that keeps a row, is not among them and does not share its
// value), and then the new ones not held go in. A million matches are
// not held in memory, and no link is written twice.
func (s *Store) Relink(ctx context.Context, k RunKeep, mk func(StagedRow) Link) error {
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		// The memory to hash the new links rather than sort them on disk.
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE relinked (LIKE links) ON COMMIT DROP`); err != nil {
			return err
		}
		groups := make(chan []Link, 4)
		var shared []string
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			defer close(groups)
			return s.tx(gctx, func(rtx pgx.Tx) error {
				var err error
				shared, err = eachMatch(gctx, rtx, relinkMatch, []any{k.Confirmed.UTC()}, relinkGroup, func(rows []StagedRow) error {
					ls := make([]Link, len(rows))
					for i, r := range rows {
						ls[i] = mk(r)
					}
					select {
					case groups <- ls:
						return nil
					case <-gctx.Done():
						return gctx.Err()
					}
				})
				return err
			})
		})
		g.Go(func() error {
			var group []Link
			_, err := tx.CopyFrom(gctx, pgx.Identifier{"relinked"}, linkColumns, pgx.CopyFromFunc(func() ([]any, error) {
				for len(group) == 0 {
					var ok bool
					if group, ok = <-groups; !ok {
						return nil, nil
					}
				}
				l := group[0]
				group = group[1:]
				return linkRow(l), nil
			}))
			return err
		})
		if err := g.Wait(); err != nil {
			return err
		}
		if err := forgetHeld(ctx, tx, k); err != nil {
			return err
		}
		// Statistics, for the planner to hash the joins below rather
		// than sort them by a guess.
		if _, err := tx.Exec(ctx, `ANALYZE relinked`); err != nil {
			return err
		}
		// A link goes unless it is among the new ones as it is, or was
		// made since the run started for an account that is not among
		// them, holds a kept row and does not share its value: a link of
		// an account without one goes whenever it was made (its number
		// changed, and another account may hold its value now), one of a
		// value held twice goes whenever it was made, and one whose id
		// changes goes before the new ones go in, so that no id is held
		// twice on the way.
		if _, err := tx.Exec(ctx, `DELETE FROM links l
			WHERE NOT EXISTS (SELECT 1 FROM relinked n
				WHERE n.account_id = l.account_id AND n.link_id = l.link_id AND n.epoch = l.epoch)
			  AND (l.created_at < $1
			    OR l.account_id = ANY($2)
			    OR NOT EXISTS (SELECT 1 FROM link_own o WHERE o.account_id = l.account_id)
			    OR EXISTS (SELECT 1 FROM relinked n WHERE n.account_id = l.account_id))`, k.Confirmed.UTC(), shared); err != nil {
			return err
		}
		insert := `INSERT INTO links (account_id, link_id, epoch, created_at)
			SELECT n.account_id, n.link_id, n.epoch, n.created_at FROM relinked n
			WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.account_id = n.account_id)`
		var none bool
		if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM links)`).Scan(&none); err != nil {
			return err
		}
		if !none {
			_, err := tx.Exec(ctx, insert)
			return err
		}
		// Into no links (a first run, a new link epoch), the links go in
		// without the table's two unique indexes, which are built after
		// (one sorted build instead of an insertion a row). Readers of
		// the links wait for the commit meanwhile.
		for _, q := range []string{
			`SET LOCAL maintenance_work_mem = '256MB'`,
			`ALTER TABLE links DROP CONSTRAINT links_pkey, DROP CONSTRAINT links_link_id_key`,
			insert,
			`ALTER TABLE links ADD CONSTRAINT links_pkey PRIMARY KEY (account_id),
				ADD CONSTRAINT links_link_id_key UNIQUE (link_id)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// relinkMatch is fullMatch for Relink, whose links are made of a row's
// account and value: the elements are not read (a third less to sort and
// send).
var relinkMatch = `SELECT o.account_id, NULL::bytea, o.value FROM link_own o
	JOIN link_theirs t ON t.value = o.value
	WHERE ` + notHeld("$1") + `
	ORDER BY o.value`

// relinkGroup is how many links Relink hands from its reader to its copy
// at a time.
const relinkGroup = 1000

// touchedValues are the values an incremental job changed the holders
// of: staged on either side, or retired by either party; its arguments
// are touchedArgs.
const touchedValues = `SELECT value FROM link_staging_own WHERE job_id = $1 AND value IS NOT NULL
	UNION SELECT value FROM link_staging_theirs WHERE job_id = $1
	UNION SELECT unnest($2::bytea[])`

func touchedArgs(k RunKeep) []any {
	return []any{k.JobID, append(elementBytes(k.Retired), elementBytes(k.PeerRetired)...)}
}

// eachMatch hands the rows of query q, sorted by value, over to each in
// groups of limit, leaving out every row whose value comes more than
// once; it returns the accounts of those. It gives tx's queries the
// memory a hash join of the two kept sets needs (PostgreSQL's default
// would sort them on disk).
func eachMatch(ctx context.Context, tx pgx.Tx, q string, args []any, limit int, each func([]StagedRow) error) (shared []string, err error) {
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	group := make([]StagedRow, 0, limit)
	var held StagedRow
	holding, sharing := false, false
	// hand adds the held row to the group, unless its value was shared,
	// and hands a full group over.
	hand := func() error {
		if !holding {
			return nil
		}
		if sharing {
			shared = append(shared, held.AccountID)
			return nil
		}
		group = append(group, held)
		if len(group) < limit {
			return nil
		}
		err := each(group)
		group = group[:0]
		return err
	}
	for rows.Next() {
		row, err := scanStaged(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		if holding && row.Value == held.Value {
			shared = append(shared, row.AccountID)
			sharing = true
			continue
		}
		if err := hand(); err != nil {
			return nil, err
		}
		held, holding, sharing = row, true, false
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if err := hand(); err != nil {
		return nil, err
	}
	if len(group) > 0 {
		if err := each(group); err != nil {
			return nil, err
		}
	}
	return shared, nil
}

// Changes implements linkjob.Staging: under lockKept, which the writes
// that count a change (retireKept) take before they count it and hold
// until they commit.
func (s *Store) Changes(ctx context.Context) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		var err error
		n, err = readChanges(ctx, tx)
		return err
	})
	return n, err
}

// readChanges reads the directory's change count.
func readChanges(ctx context.Context, tx pgx.Tx) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT changes FROM directory_changes`).Scan(&n)
	return n, err
}

// unchangedSince says whether the directory's change count is still
// changes, as read under lockKept (which the caller holds); never for a
// count of 0 (not known).
func unchangedSince(ctx context.Context, tx pgx.Tx, changes int64) (bool, error) {
	if changes == 0 {
		return false, nil
	}
	now, err := readChanges(ctx, tx)
	return err == nil && now == changes, err
}

// retireKept is the change of an import or an erasure to the kept rows:
// under lockKept, it counts a change for Changes and moves the values of
// the kept rows that the statement moved deletes (RETURNING their value)
// to the retired ones, counted.
func retireKept(ctx context.Context, tx pgx.Tx, moved string, args ...any) error {
	if err := lockKept(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE directory_changes SET changes = changes + 1`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, countRetired(moved), args...)
	return err
}

// countRetired is the statement that adds the values query moved yields
// (a column named value) to the counted retired values.
func countRetired(moved string) string {
	return `WITH moved AS (` + moved + `)
		INSERT INTO link_retired (value, n) SELECT value, count(*) FROM moved GROUP BY value
		ON CONFLICT (value) DO UPDATE SET n = link_retired.n + excluded.n`
}

// Kept implements linkjob.Staging.
func (s *Store) Kept(ctx context.Context) (string, uint32, error) {
	var id string
	var epoch int32
	err := s.pool.QueryRow(ctx, `SELECT job_id, link_epoch FROM link_kept`).Scan(&id, &epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, nil
	}
	return id, uint32(epoch), mapErr(err)
}

// Retired implements linkjob.Staging.
func (s *Store) Retired(ctx context.Context, limit int) ([]psi.Element, error) {
	rows, err := s.pool.Query(ctx, `SELECT value FROM link_retired, generate_series(1, n) ORDER BY value LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (psi.Element, error) {
		var b []byte
		var e psi.Element
		if err := r.Scan(&b); err != nil {
			return e, err
		}
		return e, copyTo(e[:], b, "retired value")
	})
	return out, mapErr(err)
}

// NewElements implements linkjob.Staging: the accounts of link_unkept,
// which imports add to and Keep takes out of, so that an incremental run
// reads what changed rather than every account. The condition on the kept
// rows stays: link_unkept may still hold an account kept since. Without a
// kept run, when imports do not fill link_unkept (see unkeptTracked) and
// no incremental run asks, every account is read.
func (s *Store) NewElements(ctx context.Context, epoch uint32, after string, limit int) ([]LinkElement, error) {
	kept, _, err := s.Kept(ctx)
	if err != nil {
		return nil, err
	}
	if kept == "" {
		return s.linkElements(ctx, `SELECT a.id, a.link_element FROM accounts a
			WHERE a.epoch = $1 AND a.id > $2 AND `+noKeptRow("a")+`
			ORDER BY a.id LIMIT $3`, epoch, after, limit)
	}
	return s.linkElements(ctx, `SELECT a.id, a.link_element FROM link_unkept u
		JOIN accounts a ON a.id = u.account_id
		WHERE a.epoch = $1 AND u.account_id > $2
		  AND `+noKeptRow("a")+`
		ORDER BY u.account_id LIMIT $3`, epoch, after, limit)
}

// Keep implements linkjob.Staging, in one transaction.
func (s *Store) Keep(ctx context.Context, k RunKeep) error {
	// Flags that waited for a link may have gone into the relay's outbox
	// with the links (the links_signals trigger): the relay is told.
	defer s.nudge()
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		var kept string
		err := tx.QueryRow(ctx, `SELECT job_id FROM link_kept FOR UPDATE`).Scan(&kept)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if kept == k.JobID {
			return nil
		}
		var state JobState
		err = tx.QueryRow(ctx, `SELECT state FROM jobs WHERE id = $1`, k.JobID).Scan(&state)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if state == JobSuperseded {
			return fmt.Errorf("%w: job %s", ErrSuperseded, k.JobID)
		}
		var staged bool
		if err := tx.QueryRow(ctx, stagedJob, k.JobID).Scan(&staged); err != nil {
			return err
		}
		if !staged {
			return fmt.Errorf("%w: job %s", ErrLost, k.JobID)
		}
		if !k.Full && kept != k.Base {
			return fmt.Errorf("%w: job %s builds on run %s; run %s is kept", ErrStale, k.JobID, k.Base, kept)
		}
		var stmts []string
		var args [][]any
		add := func(q string, a ...any) { stmts, args = append(stmts, q), append(args, a) }
		if k.Full {
			unchanged, err := unchangedSince(ctx, tx, k.Changes)
			if err != nil {
				return err
			}
			keepFull(add, k, unchanged)
		} else {
			uncount(add, k.Retired)
			if len(k.PeerRetired) > 0 {
				// One of the other's rows for each value listed, as many
				// times as it is listed.
				add(`WITH r AS (SELECT value, count(*) AS n FROM unnest($1::bytea[]) AS value GROUP BY value)
					DELETE FROM link_theirs WHERE ctid = ANY(ARRAY(
						SELECT t.ctid FROM (SELECT ctid, value, row_number() OVER (PARTITION BY value) AS k
							FROM link_theirs WHERE value = ANY($1::bytea[])) t
						JOIN r ON r.value = t.value WHERE t.k <= r.n))`, elementBytes(k.PeerRetired))
			}
			// The staged accounts are linked anew by Matched, or not.
			add(`DELETE FROM links WHERE account_id IN (SELECT account_id FROM link_staging_own WHERE job_id = $1)`, k.JobID)
			// Staged rows whose account still holds the element are
			// kept; the others' values are retired (the other party has
			// them). Rows go into the kept sets in the order of their
			// values, so that the value index takes them leaf after leaf
			// rather than at random (fewer pages read into the cache).
			// The rows kept leave link_unkept in the same statement (one
			// snapshot: an erased account imported again meanwhile, which
			// takes no lock, is either kept and taken out or neither).
			add(`WITH kept AS (
					INSERT INTO link_own (account_id, element, value)
					SELECT s.account_id, s.element, s.value FROM link_staging_own s
					JOIN accounts a ON a.id = s.account_id AND a.link_element = s.element
					WHERE s.job_id = $1 AND s.value IS NOT NULL
					ORDER BY s.value
					ON CONFLICT (account_id) DO UPDATE SET element = excluded.element, value = excluded.value
					RETURNING account_id)
				DELETE FROM link_unkept u USING kept WHERE u.account_id = kept.account_id`, k.JobID)
			add(countRetired(`SELECT s.value FROM link_staging_own s
				WHERE s.job_id = $1 AND s.value IS NOT NULL
				  AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = s.account_id AND a.link_element = s.element)`), k.JobID)
			add(`INSERT INTO link_theirs (value) SELECT value FROM link_staging_theirs WHERE job_id = $1`, k.JobID)
			// A value whose holders changed in number, on either side,
			// may have come to link or stopped: its rows are linked anew
			// by Matched, or not.
			add(`DELETE FROM links WHERE account_id IN (
				SELECT o.account_id FROM link_own o WHERE o.value IN (`+touchedValues+`))`, touchedArgs(k)...)
			add(`UPDATE link_kept SET job_id = $1, link_epoch = $2`, k.JobID, int32(k.Epoch))
		}
		for i, q := range stmts {
			if _, err := tx.Exec(ctx, q, args[i]...); err != nil {
				return err
			}
		}
		return supersede(ctx, tx, k)
	})
}

// supersede marks the link jobs begun before k's that are not done as
// superseded and drops the staging of every job begun before it. The
// jobs with staging are found by walking the staging's primary keys
// (one probe a job), not by reading the rows: normally k's own are the
// only ones, a million of them.
func supersede(ctx context.Context, tx pgx.Tx, k RunKeep) error {
	if _, err := tx.Exec(ctx, `UPDATE jobs SET state = $3, updated_at = now()
		WHERE kind = $4 AND id <> $1 AND created_at < $2 AND state IN ($5, $6)`,
		k.JobID, k.Confirmed, JobSuperseded, LinkJobKind, JobRunning, JobFailed); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM link_staging_jobs s USING jobs j
		WHERE j.id = s.job_id AND j.id <> $1 AND j.created_at < $2`, k.JobID, k.Confirmed); err != nil {
		return err
	}
	var old []string
	err := tx.QueryRow(ctx, `WITH RECURSIVE o AS (
			SELECT min(job_id) AS id FROM link_staging_own
			UNION ALL SELECT (SELECT min(job_id) FROM link_staging_own WHERE job_id > o.id) FROM o WHERE o.id IS NOT NULL),
		t AS (
			SELECT min(job_id) AS id FROM link_staging_theirs
			UNION ALL SELECT (SELECT min(job_id) FROM link_staging_theirs WHERE job_id > t.id) FROM t WHERE t.id IS NOT NULL)
		SELECT coalesce(array_agg(j.id), '{}') FROM jobs j
		WHERE j.id <> $1 AND j.created_at < $2 AND j.id IN (SELECT id FROM o UNION SELECT id FROM t)`,
		k.JobID, k.Confirmed).Scan(&old)
	if err != nil || len(old) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM link_staging_own WHERE job_id = ANY($1)`, old); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = ANY($1)`, old)
	return err
}

// scanStaged reads a staged row: account, element (NULL when the query
// does not read it) and value (NULL until known).
func scanStaged(r pgx.Row) (StagedRow, error) {
	var row StagedRow
	var el, v []byte
	if err := r.Scan(&row.AccountID, &el, &v); err != nil {
		return row, err
	}
	if el != nil {
		if err := copyTo(row.Element[:], el, "element"); err != nil {
			return row, err
		}
	}
	if v != nil {
		return row, copyTo(row.Value[:], v, "value")
	}
	return row, nil
}

// stagedJob asks whether job $1's staging was started and is whole.
const stagedJob = `SELECT EXISTS (SELECT 1 FROM link_staging_jobs WHERE job_id = $1)`

// StartStaging implements linkjob.Staging.
func (s *Store) StartStaging(ctx context.Context, jobID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO link_staging_jobs (job_id) VALUES ($1) ON CONFLICT DO NOTHING`, jobID)
	return mapErr(err)
}

// Staged implements linkjob.Staging: the staging tables and
// link_staging_jobs are unlogged, and a crash empties them together.
func (s *Store) Staged(ctx context.Context, jobID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, stagedJob, jobID).Scan(&ok)
	return ok, mapErr(err)
}

// DropStaging implements linkjob.Staging. When no other job has staging,
// the tables are truncated rather than deleted from: a million dead rows
// would slow every later job's reads of them until vacuumed.
func (s *Store) DropStaging(ctx context.Context, jobID string) error {
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		var others bool
		// The ends of the primary keys: read at once, whatever the size.
		if err := tx.QueryRow(ctx, `SELECT coalesce(o.lo < $1 OR o.hi > $1, false) OR coalesce(t.lo < $1 OR t.hi > $1, false)
			FROM (SELECT min(job_id) lo, max(job_id) hi FROM link_staging_own) o,
			     (SELECT min(job_id) lo, max(job_id) hi FROM link_staging_theirs) t`, jobID).Scan(&others); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_jobs WHERE job_id = $1`, jobID); err != nil {
			return err
		}
		if !others {
			_, err := tx.Exec(ctx, `TRUNCATE link_staging_own, link_staging_theirs`)
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM link_staging_own WHERE job_id = $1`, jobID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM link_staging_theirs WHERE job_id = $1`, jobID)
		return err
	})
}

// keepFull adds the statements of a full run's Keep: the kept sets are
// emptied and loaded from the staging, this party's rows without their
// indexes, which are built after (a sorted build, not a million random
// inserts), in the transaction; the staged rows are read once, split
// between the kept rows and the retired values, or all kept when
// unchanged says that no account has changed since the run started.
func keepFull(add func(string, ...any), k RunKeep, unchanged bool) {
	add(`SET LOCAL work_mem = '256MB'`)
	add(`SET LOCAL maintenance_work_mem = '256MB'`)
	add(`TRUNCATE link_own, link_theirs, link_retired, link_unkept`)
	add(`DROP INDEX link_own_value`)
	add(`ALTER TABLE link_own DROP CONSTRAINT link_own_pkey`)
	if unchanged {
		add(`INSERT INTO link_own (account_id, element, value)
			SELECT account_id, element, value FROM link_staging_own WHERE job_id = $1 AND value IS NOT NULL`, k.JobID)
	} else {
		// Statistics of the staging first: the planner then joins it
		// with the accounts by hashing (a scan of each) rather than by a
		// million probes of the accounts' primary key, which the empty
		// staging of the last ANALYZE would have it choose.
		add(`ANALYZE link_staging_own`)
		add(`WITH staged AS (
				SELECT s.account_id, s.element, s.value, a.id IS NOT NULL AS holds
				FROM link_staging_own s
				LEFT JOIN accounts a ON a.id = s.account_id AND a.link_element = s.element
				WHERE s.job_id = $1 AND s.value IS NOT NULL),
			retired AS (INSERT INTO link_retired (value, n) SELECT value, count(*) FROM staged WHERE NOT holds GROUP BY value)
			INSERT INTO link_own (account_id, element, value) SELECT account_id, element, value FROM staged WHERE holds`, k.JobID)
	}
	add(`INSERT INTO link_theirs (value) SELECT value FROM link_staging_theirs WHERE job_id = $1`, k.JobID)
	add(`ALTER TABLE link_own ADD CONSTRAINT link_own_pkey PRIMARY KEY (account_id)`)
	add(`CREATE INDEX link_own_value ON link_own (value)`)
	// What the run did not keep: accounts new since their batch was read,
	// or changed. (The truncation above holds back imports that would
	// add to link_unkept until this commits.) None when there are as many
	// kept rows as accounts, as after a run that nothing was imported
	// during: each kept row is of an account that holds its element, one
	// a row. Then the accounts are not read.
	add(`INSERT INTO link_unkept (account_id) SELECT a.id FROM accounts a
		WHERE (SELECT accounts FROM directory_size) > (SELECT count(*) FROM link_own) AND ` + noKeptRow("a"))
	add(`INSERT INTO link_kept (job_id, link_epoch) VALUES ($1, $2)
		ON CONFLICT (one) DO UPDATE SET job_id = excluded.job_id, link_epoch = excluded.link_epoch`, k.JobID, int32(k.Epoch))
	add(`INSERT INTO link_confirmed (confirmed_at) VALUES ($1)
		ON CONFLICT (one) DO UPDATE SET confirmed_at = excluded.confirmed_at`, k.Confirmed.UTC())
	// Replaced wholesale: the planner's statistics would otherwise be of
	// the empty tables (or none), and the next run's joins would sort a
	// million rows instead of probing the indexes.
	add(`ANALYZE link_own, link_theirs`)
}

// uncount adds the statements that take values, each as many times as
// it is listed, out of the counted retired values: a value counted no
// more is deleted.
func uncount(add func(string, ...any), values []psi.Element) {
	if len(values) == 0 {
		return
	}
	listed := `WITH r AS (SELECT value, count(*) AS n FROM unnest($1::bytea[]) AS value GROUP BY value) `
	add(listed+`DELETE FROM link_retired x USING r WHERE x.value = r.value AND x.n <= r.n`, elementBytes(values))
	add(listed+`UPDATE link_retired x SET n = x.n - r.n FROM r WHERE x.value = r.value`, elementBytes(values))
}

// lockKept serializes the transactions that write the kept rows: Keep,
// and the imports and erasures that retire them. Each of their later
// statements sees what the others committed, so a kept row is always of
// an account that holds its element.
func lockKept(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE link_own IN SHARE ROW EXCLUSIVE MODE`)
	return err
}

// elementBytes is elements as one bytea[] parameter.
func elementBytes(els []psi.Element) [][]byte {
	out := make([][]byte, len(els))
	for i := range els {
		out[i] = els[i][:]
	}
	return out
}
