package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// purge deletes the rows of one statement older than before, in one
// set-based statement.
func (s *Store) purge(ctx context.Context, sql string, before time.Time) (int64, error) {
	var n int64
	err := s.bulkTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, before.UTC())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// PurgeMemberships implements retention.Store.
func (s *Store) PurgeMemberships(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, `DELETE FROM audience_members WHERE added_at < $1`, before)
}

// PurgeSessions implements retention.Store; their batches go with them.
func (s *Store) PurgeSessions(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, `DELETE FROM upload_sessions WHERE updated_at < $1`, before)
}

// PurgeSignals implements retention.Store; their outbox entries go with
// them.
func (s *Store) PurgeSignals(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, `DELETE FROM signals WHERE created_at < $1`, before)
}

// PurgeLinks implements retention.Store: a link's age counts from its
// creation or from the last full link run, which confirmed it, whichever
// is later. Expired links also end what the party keeps of the last link
// run, so the next run is full and confirms the links that still hold.
func (s *Store) PurgeLinks(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.bulkTx(ctx, func(tx pgx.Tx) error {
		// The kept sets' lock first, as a link run's Keep takes it before
		// it locks link_kept and deletes links (whose count's row the
		// delete here locks): the other order could deadlock with it.
		if err := lockKept(ctx, tx); err != nil {
			return err
		}
		// Written so that, while the last full run is within the
		// retention (the usual case), the condition on it alone stops
		// the statement before it reads a link: no scan of every link
		// at each sweep.
		tag, err := tx.Exec(ctx, `DELETE FROM links
			WHERE created_at < $1 AND coalesce((SELECT confirmed_at FROM link_confirmed), '-infinity') < $1`, before.UTC())
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n > 0 {
			if _, err = tx.Exec(ctx, `DELETE FROM link_kept`); err == nil {
				_, err = tx.Exec(ctx, `DELETE FROM link_confirmed`)
			}
		}
		return err
	})
	return n, err
}
