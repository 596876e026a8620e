package pgstore

import (
	"context"
	"time"
)

// purge deletes the rows of one statement older than before, in one
// set-based statement.
func (s *Store) purge(ctx context.Context, sql string, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, sql, before.UTC())
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
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

// PurgeLinks implements retention.Store.
func (s *Store) PurgeLinks(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, `DELETE FROM links WHERE created_at < $1`, before)
}
