package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"time"

	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/store/storeerr"
)

// Account is one account of the party's service.
type Account struct {
	ID                string
	Country           string // ISO 3166 code of the record
	AdOptOut          bool
	BlockedBusinesses []string // tenants whose ads the user blocked
	// Consents are the account system's consents of the person, at
	// most one per purpose: the import adds them to the ledger.
	Consents   []Consent
	Epoch      uint32 // key epoch of the pseudonyms
	Pseudonyms pseudonym.Set
	UpdatedAt  time.Time
}

// Consent is a person's consent to a purpose (a purpose of the
// catalogue, such as ads): granted or withdrawn, under a version of the
// notice they were shown, at a time (zero: the import's).
type Consent struct {
	Purpose string
	Granted bool
	Notice  string
	At      time.Time
}

// HashMatch asks which accounts an upload of hashes finds: the indexes are
// the keyed HMACs of the uploaded hashes under the epoch's index key.
type HashMatch struct {
	Epoch      uint32
	Convention phone.Convention
	Indexes    []hashindex.Index
	// Tenant, if set, excludes accounts that blocked this advertiser.
	Tenant string
	// Eligible, if set, keeps only accounts that may be shown ads: not
	// opted out.
	Eligible bool
	// Consent keeps only accounts whose consent to its purpose is
	// granted, or, in the countries that do not need it, not withdrawn.
	Consent ConsentRule
}

// ConsentRule says how a match honours consent: an account whose latest
// ledger entry for Purpose withdraws consent never matches; one without
// an entry matches only outside Countries, where the purpose rests on
// consent.
type ConsentRule struct {
	Purpose   string
	Countries []string
}

// OPRFMatch asks which accounts a private-mode upload finds.
type OPRFMatch struct {
	Epoch    uint32
	Outputs  [][oprf.OutputSize]byte
	Tenant   string
	Eligible bool
	Consent  ConsentRule
}

// LinkElement is an account's PSI element for one epoch.
type LinkElement struct {
	AccountID string
	Element   psi.Element
}

// Claimed is an account id an import had read before: ids[Index] of a
// ClaimIDs call, first read on FirstLine.
type Claimed struct {
	Index     int
	FirstLine int
}

var accountColumns = []string{"id", "country", "ad_opt_out", "blocked_businesses", "epoch",
	"index_digits", "index_e164", "oprf", "link_element", "updated_at", "link_group"}

var consentColumns = []string{"account_id", "purpose", "granted", "notice", "given_at", "dated"}

// PutAccounts implements directory.Store: COPY into a staging table, then
// one upsert, in one transaction. A later duplicate id in the batch wins; a
// row whose content is unchanged is not rewritten and keeps its updated_at.
func (s *Store) PutAccounts(ctx context.Context, accounts []Account) error {
	last := make(map[string]int, len(accounts))
	for i, a := range accounts {
		last[a.ID] = i
	}
	rows := make([][]any, 0, len(last))
	var consents [][]any
	for i, a := range accounts {
		if last[a.ID] != i {
			continue
		}
		for _, c := range a.Consents {
			at, dated := c.At, !c.At.IsZero()
			if !dated {
				at = a.UpdatedAt
			}
			consents = append(consents, []any{a.ID, c.Purpose, c.Granted, c.Notice, utc(at), dated})
		}
		p := a.Pseudonyms
		bb := a.BlockedBusinesses
		if bb == nil {
			bb = []string{}
		}
		rows = append(rows, []any{a.ID, a.Country, a.AdOptOut, bb, int32(a.Epoch),
			p.IndexDigits[:], p.IndexE164[:], p.OPRF[:], p.Link[:], utc(a.UpdatedAt), psi.Group})
	}
	// A batch of accounts new to the store (a first import) is copied
	// straight in; one that holds an account already stored (a re-import,
	// a changed number) fails the copy on the primary key and goes through
	// the staging table and an upsert instead.
	err := s.bulkTx(ctx, func(tx pgx.Tx) error {
		tracked, err := unkeptTracked(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"accounts"}, accountColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		// New accounts have no consent entry yet.
		if len(consents) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"consents"}, []string{"account_id", "purpose", "granted", "notice", "given_at", "source"},
				pgx.CopyFromSlice(len(consents), func(i int) ([]any, error) {
					return append(slices.Clone(consents[i][:5]), "directory"), nil
				})); err != nil {
				return err
			}
		}
		// New accounts have no kept row.
		if tracked {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"link_unkept"}, []string{"account_id"},
				pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i][:1], nil })); err != nil {
				return err
			}
		}
		return addAccounts(ctx, tx, int64(len(rows)))
	})
	if !errors.Is(err, storeerr.ErrConflict) {
		return err
	}
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE accounts_staging (LIKE accounts INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"accounts_staging"}, accountColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		// A changed link element (a changed number, a new key epoch)
		// retires the value kept for the old one.
		if err := retireKept(ctx, tx, `DELETE FROM link_own o USING accounts_staging s
			WHERE o.account_id = s.id AND o.element <> s.link_element
			RETURNING o.value`); err != nil {
			return err
		}
		if tracked, err := unkeptTracked(ctx, tx); err != nil {
			return err
		} else if tracked {
			if _, err := tx.Exec(ctx, `INSERT INTO link_unkept (account_id) SELECT s.id FROM accounts_staging s
				WHERE `+noKeptRow("s")+` ON CONFLICT DO NOTHING`); err != nil {
				return err
			}
		}
		// An objection to ads made here stays in force whatever the file
		// says (one the other party relayed concerns its own processing).
		if _, err := tx.Exec(ctx, `UPDATE accounts_staging s SET ad_opt_out = true WHERE NOT s.ad_opt_out AND EXISTS
			(SELECT 1 FROM subject_requests r WHERE r.account_id = s.id AND r.kind = 'objection' AND r.origin = 'here' AND r.purpose = 'ads')`); err != nil {
			return err
		}
		// The new accounts, then the changed ones (an account another
		// import inserted meanwhile is updated, as the later write); the
		// new ones are counted last.
		tag, err := tx.Exec(ctx, `INSERT INTO accounts SELECT * FROM accounts_staging ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts a SET
				country = s.country, ad_opt_out = s.ad_opt_out,
				blocked_businesses = s.blocked_businesses, epoch = s.epoch,
				index_digits = s.index_digits, index_e164 = s.index_e164,
				oprf = s.oprf, link_element = s.link_element,
				updated_at = s.updated_at, link_group = s.link_group
			FROM accounts_staging s
			WHERE a.id = s.id AND (a.country, a.ad_opt_out, a.blocked_businesses, a.epoch,
					a.index_digits, a.index_e164, a.oprf, a.link_element, a.link_group)
				IS DISTINCT FROM (s.country, s.ad_opt_out, s.blocked_businesses, s.epoch,
					s.index_digits, s.index_e164, s.oprf, s.link_element, s.link_group)`); err != nil {
			return err
		}
		if err := addConsents(ctx, tx, consents); err != nil {
			return err
		}
		return addAccounts(ctx, tx, tag.RowsAffected())
	})
}

// addConsents adds to the ledger the consents of an import that changed
// since the directory's last entry for the account and purpose: another
// grant or withdrawal, another notice, or, when the file dates it, a later
// time. An entry the file does not date is dated by the import, so a file
// that says the same again adds nothing, and a request's later withdrawal
// stays the latest entry. An account whose consent is now withdrawn
// leaves the audiences of the purpose.
func addConsents(ctx context.Context, tx pgx.Tx, consents [][]any) error {
	if len(consents) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE consents_staging (account_id text, purpose text, granted boolean,
		notice text, given_at timestamptz, dated boolean) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"consents_staging"}, consentColumns, pgx.CopyFromRows(consents)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO consents (account_id, purpose, granted, notice, given_at, source)
		SELECT s.account_id, s.purpose, s.granted, s.notice, s.given_at, 'directory' FROM consents_staging s
		WHERE NOT EXISTS (SELECT 1 FROM (SELECT c.granted, c.notice, c.given_at FROM consents c
				WHERE c.account_id = s.account_id AND c.purpose = s.purpose AND c.source = 'directory'
				ORDER BY c.given_at DESC, c.seq DESC LIMIT 1) d
			WHERE d.granted = s.granted AND d.notice = s.notice AND (NOT s.dated OR s.given_at <= d.given_at))
		ORDER BY s.account_id, s.given_at`); err != nil {
		return err
	}
	// A withdrawal that is now the consent takes the account out of the
	// audiences of its purpose at once, as an objection does.
	_, err := tx.Exec(ctx, `DELETE FROM audience_members m USING audiences au, consents_staging s
		WHERE m.account_id = s.account_id AND au.id = m.audience_id AND au.purpose = s.purpose
		  AND NOT s.granted AND NOT `+grantedSQL("s.account_id", "s.purpose"))
	return err
}

// unkeptTracked says whether link_unkept must list the accounts the
// transaction adds: only while a run is kept. Only an incremental run
// reads the table, and there is none without a kept run; a full run
// rebuilds it when it keeps its sets. So a directory's first import, before
// any run, does not fill an index no one reads. The table is locked before link_kept is read: a
// full run's Keep, which truncates the table, either waits for this
// transaction and rebuilds the table from the accounts it adds, or has
// committed its kept run before the read.
func unkeptTracked(ctx context.Context, tx pgx.Tx) (bool, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE link_unkept IN ROW EXCLUSIVE MODE`); err != nil {
		return false, err
	}
	var kept bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM link_kept)`).Scan(&kept)
	return kept, err
}

// noKeptRow is the condition that the account of the row aliased a, whose
// columns are accounts', holds no kept row of its link element: the
// accounts link_unkept lists.
func noKeptRow(a string) string {
	return `NOT EXISTS (SELECT 1 FROM link_own o WHERE o.account_id = ` + a + `.id AND o.element = ` + a + `.link_element)`
}

// addAccounts adds n, which may be negative, to the directory's size; the
// row stays locked until the transaction ends, so it is the last statement
// of the ones that add accounts.
func addAccounts(ctx context.Context, tx pgx.Tx, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE directory_size SET accounts = accounts + $1`, n)
	return err
}

func copyTo(dst []byte, src []byte, what string) error {
	if len(src) != len(dst) {
		return fmt.Errorf("store: stored %s has %d bytes, want %d", what, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

// Account implements directory.Store.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	var (
		a                   Account
		epoch               int32
		idig, ie164, o, lnk []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT id, country, ad_opt_out, blocked_businesses, epoch,
			index_digits, index_e164, oprf, link_element, updated_at
		FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Country, &a.AdOptOut, &a.BlockedBusinesses,
		&epoch, &idig, &ie164, &o, &lnk, &a.UpdatedAt)
	if err != nil {
		return Account{}, mapErr(err)
	}
	if a.Consents, err = s.consents(ctx, id); err != nil {
		return Account{}, err
	}
	a.Epoch = uint32(epoch)
	a.UpdatedAt = a.UpdatedAt.UTC()
	p := &a.Pseudonyms
	for _, c := range []struct {
		dst  []byte
		src  []byte
		what string
	}{{p.IndexDigits[:], idig, "index_digits"}, {p.IndexE164[:], ie164, "index_e164"}, {p.OPRF[:], o, "oprf"}, {p.Link[:], lnk, "link_element"}} {
		if err := copyTo(c.dst, c.src, c.what); err != nil {
			return Account{}, err
		}
	}
	if len(a.BlockedBusinesses) == 0 {
		a.BlockedBusinesses = nil
	}
	return a, nil
}

// CountAccounts implements directory.Store.
func (s *Store) CountAccounts(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT accounts FROM directory_size`).Scan(&n)
	return n, mapErr(err)
}

// OlderLinkGroup implements directory.Store: the accounts whose link
// element is not of psi.Group, through the partial index of migration
// 0003 (which names the group as psi.Group does).
func (s *Store) OlderLinkGroup(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, olderLinkGroupSQL).Scan(&n)
	return n, mapErr(err)
}

const olderLinkGroupSQL = `SELECT count(*) FROM accounts WHERE link_group <> '` + psi.Group + `'`

// EraseAccount implements directory.Store. The schema's ON DELETE CASCADE
// removes the account's signals with it; its link and memberships are
// deleted here, under a SHARE lock that waits for upload batches in flight
// and holds new ones back until the account is gone.
func (s *Store) EraseAccount(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return eraseAccount(ctx, tx, id) })
}

// eraseAccount is EraseAccount in the transaction tx.
func eraseAccount(ctx context.Context, tx pgx.Tx, id string) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE audience_members IN SHARE MODE`); err != nil {
		return err
	}
	// The value kept for the account's number is retired, without
	// the account: the next link run hands it to the other party,
	// which drops its link.
	if err := retireKept(ctx, tx, `DELETE FROM link_own WHERE account_id = $1 RETURNING value`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM links WHERE account_id = $1`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM link_unkept WHERE account_id = $1`, id); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return storeerr.ErrNotFound
	}
	if _, err = tx.Exec(ctx, `DELETE FROM audience_members WHERE account_id = $1`, id); err != nil {
		return err
	}
	return addAccounts(ctx, tx, -1)
}

// matchSQL is the query of the accounts whose column equals one of the
// keys, sent as one array parameter, among the eligible ones; its
// parameters are numbered from first. (An upload batch is at most 10,000
// keys: an array is cheaper than COPY into a temporary table, whose
// creation on every batch also churns the system catalogs.)
func matchSQL(column string, epoch uint32, keys [][]byte, tenant string, eligible bool, consent ConsentRule, first int) (string, []any) {
	n := func(i int) string { return "$" + strconv.Itoa(first+i) }
	countries := consent.Countries
	if countries == nil {
		countries = []string{}
	}
	return `SELECT DISTINCT a.id FROM unnest(` + n(0) + `::bytea[]) k JOIN accounts a ON a.` + column + ` = k
		WHERE a.epoch = ` + n(1) + ` AND (NOT ` + n(2) + ` OR NOT a.ad_opt_out)
		  AND (` + n(3) + ` = '' OR NOT (` + n(3) + ` = ANY (a.blocked_businesses)))
		  AND coalesce(` + latestSQL("a.id", n(5)+"::text") + `, NOT (a.country = ANY (` + n(4) + `::text[])))`,
		[]any{keys, int32(epoch), eligible, tenant, countries, consent.Purpose}
}

// hashMatchSQL and oprfMatchSQL build matchSQL for a query.
func hashMatchSQL(q HashMatch, first int) (string, []any) {
	col := "index_e164"
	if q.Convention == phone.ConventionDigits {
		col = "index_digits"
	}
	keys := make([][]byte, len(q.Indexes))
	for i := range q.Indexes {
		keys[i] = q.Indexes[i][:]
	}
	return matchSQL(col, q.Epoch, keys, q.Tenant, q.Eligible, q.Consent, first)
}

func oprfMatchSQL(q OPRFMatch, first int) (string, []any) {
	keys := make([][]byte, len(q.Outputs))
	for i := range q.Outputs {
		keys[i] = q.Outputs[i][:]
	}
	return matchSQL("oprf", q.Epoch, keys, q.Tenant, q.Eligible, q.Consent, first)
}

func (s *Store) matchIDs(ctx context.Context, sql string, args []any) ([]string, error) {
	rows, err := s.pool.Query(ctx, sql+` ORDER BY a.id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err)
}

// MatchHashes implements directory.Store.
func (s *Store) MatchHashes(ctx context.Context, q HashMatch) ([]string, error) {
	sql, args := hashMatchSQL(q, 1)
	return s.matchIDs(ctx, sql, args)
}

// MatchOPRF implements directory.Store.
func (s *Store) MatchOPRF(ctx context.Context, q OPRFMatch) ([]string, error) {
	sql, args := oprfMatchSQL(q, 1)
	return s.matchIDs(ctx, sql, args)
}

// LinkElements implements directory.Store.
func (s *Store) LinkElements(ctx context.Context, epoch uint32, after string, limit int) ([]LinkElement, error) {
	return s.linkElements(ctx, `SELECT id, link_element FROM accounts
		WHERE epoch = $1 AND id > $2 ORDER BY id LIMIT $3`, epoch, after, limit)
}

// linkElements reads (account id, link element) rows of query q, whose
// parameters are the epoch, the id after which to start and the limit.
func (s *Store) linkElements(ctx context.Context, q string, epoch uint32, after string, limit int) ([]LinkElement, error) {
	rows, err := s.pool.Query(ctx, q, int32(epoch), after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LinkElement, error) {
		var le LinkElement
		var b []byte
		if err := r.Scan(&le.AccountID, &b); err != nil {
			return le, err
		}
		return le, copyTo(le.Element[:], b, "link_element")
	})
	return out, mapErr(err)
}

// Analyze refreshes the planner's statistics of the directory after an
// import of imported accounts, so that matching joins plan for its real
// size. link_unkept is analyzed every time: an incremental run reads the
// new accounts through it, by its index only when the planner knows it
// is small. The accounts are analyzed when the import adds more than a
// tenth of the rows their statistics count (autovacuum's own threshold),
// or when they have none: a sample of a million accounts takes half a
// second, and a small import changes nothing the planner uses (it
// scales the counted rows by the table's size when it plans).
func (s *Store) Analyze(ctx context.Context, imported int) error {
	var stale bool
	if err := s.pool.QueryRow(ctx, `SELECT reltuples < 0 OR $1 > 0.1 * reltuples FROM pg_class WHERE oid = 'accounts'::regclass`,
		imported).Scan(&stale); err != nil {
		return mapErr(err)
	}
	tables := "link_unkept"
	if stale {
		tables = "accounts, link_unkept"
	}
	_, err := s.pool.Exec(ctx, `ANALYZE `+tables)
	return mapErr(err)
}

// ClaimIDs implements directory.Store: one statement inserts the ids not
// claimed yet and answers, for the others, the line that claimed them.
func (s *Store) ClaimIDs(ctx context.Context, run string, ids []string, lines []int) ([]Claimed, error) {
	if len(ids) != len(lines) {
		return nil, errors.New("store: ClaimIDs needs a line for each id")
	}
	ls := make([]int64, len(lines))
	for i, l := range lines {
		ls[i] = int64(l)
	}
	var out []Claimed
	err := s.bulkTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH given AS (
				SELECT id, line, ord FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS g (id, line, ord)
			), ins AS (
				INSERT INTO import_ids (run, account_id, line)
				SELECT $1, id, line FROM given ORDER BY ord
				ON CONFLICT (run, account_id) DO NOTHING
				RETURNING account_id, line
			)
			SELECT g.ord - 1, coalesce(i.line, c.line)
			FROM given g
			LEFT JOIN ins i ON i.account_id = g.id
			LEFT JOIN import_ids c ON c.run = $1 AND c.account_id = g.id
			WHERE i.account_id IS NULL OR i.line <> g.line
			ORDER BY g.ord`, run, ids, ls)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Claimed, error) {
			var c Claimed
			var idx, first int64
			err := r.Scan(&idx, &first)
			c.Index, c.FirstLine = int(idx), int(first)
			return c, err
		})
		return err
	})
	return out, mapErr(err)
}

// EndImport implements directory.Store.
func (s *Store) EndImport(ctx context.Context, run string) error {
	return s.bulkTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM import_ids WHERE run = $1`, run)
		return err
	})
}
