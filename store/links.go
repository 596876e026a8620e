package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/store/storeerr"
)

// Link ties one of the party's accounts to a person on the other service.
type Link struct {
	AccountID string
	ID        psi.LinkID
	Epoch     uint32 // linking epoch the id was derived in
	CreatedAt time.Time
}

// linkColumns are the columns of a link, as they are copied in.
var linkColumns = []string{"account_id", "link_id", "epoch", "created_at"}

// linkRow is a link as a row of linkColumns.
func linkRow(l Link) []any {
	return []any{l.AccountID, l.ID[:], int32(l.Epoch), utc(l.CreatedAt)}
}

// PutLinks implements link.Store. A batch of links new to the store (a
// first run) is copied straight in; one that meets a link already held
// fails the copy on a unique key and goes through a staging table and an
// upsert, which leaves unchanged links as they are. Either way the batch's
// accounts are looked up under lockKept, which erasures take too, so that
// no link is written for an account erased meanwhile.
func (s *Store) PutLinks(ctx context.Context, links []Link, changes int64) error {
	defer s.nudge() // flags waiting for these links may now cross
	rows := make([][]any, len(links))
	ids := make([]string, len(links))
	for i, l := range links {
		rows[i] = linkRow(l)
		ids[i] = l.AccountID
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"links"}, linkColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		return knownAccounts(ctx, tx, ids, changes)
	})
	if !errors.Is(err, storeerr.ErrConflict) {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE links_staging (LIKE links) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"links_staging"}, linkColumns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		if err := knownAccounts(ctx, tx, ids, changes); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO links SELECT * FROM links_staging
			ON CONFLICT (account_id) DO UPDATE SET link_id = excluded.link_id,
				epoch = excluded.epoch, created_at = excluded.created_at
			WHERE (links.link_id, links.epoch) IS DISTINCT FROM (excluded.link_id, excluded.epoch)`)
		return err
	})
}

// knownAccounts is storeerr.ErrNotFound unless every account of ids exists;
// the caller holds lockKept. When the directory's change count is still
// changes, no account went since they were found, and none is looked up.
func knownAccounts(ctx context.Context, tx pgx.Tx, ids []string, changes int64) error {
	if unchanged, err := unchangedSince(ctx, tx, changes); err != nil || unchanged {
		return err
	}
	var unknown bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unnest($1::text[]) b(id)
		WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = b.id))`, ids).Scan(&unknown); err != nil {
		return err
	}
	if unknown {
		return storeerr.ErrNotFound
	}
	return nil
}

// LinkOf implements link.Store.
func (s *Store) LinkOf(ctx context.Context, accountID string) (Link, error) {
	var l Link
	var id []byte
	var epoch int32
	err := s.pool.QueryRow(ctx, `SELECT account_id, link_id, epoch, created_at FROM links WHERE account_id = $1`, accountID).
		Scan(&l.AccountID, &id, &epoch, &l.CreatedAt)
	if err != nil {
		return Link{}, mapErr(err)
	}
	l.Epoch, l.CreatedAt = uint32(epoch), l.CreatedAt.UTC()
	return l, copyTo(l.ID[:], id, "link_id")
}

// AccountOf implements link.Store.
func (s *Store) AccountOf(ctx context.Context, id psi.LinkID) (string, error) {
	var a string
	err := s.pool.QueryRow(ctx, `SELECT account_id FROM links WHERE link_id = $1`, id[:]).Scan(&a)
	return a, mapErr(err)
}

// DeleteLink implements link.Store.
func (s *Store) DeleteLink(ctx context.Context, id psi.LinkID) error {
	return s.execOne(ctx, `DELETE FROM links WHERE link_id = $1`, id[:])
}

// CountLinks implements link.Store: the count the links' triggers keep
// (links_count), one row, not a scan.
func (s *Store) CountLinks(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT links FROM links_count`).Scan(&n)
	return n, mapErr(err)
}
