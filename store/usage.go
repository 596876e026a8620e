package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Consume implements access.Usage in one statement: the counter moves only
// if the result stays within max, whatever other replicas do at once.
func (s *Store) Consume(ctx context.Context, subject, counter string, start time.Time, n, max int64) (bool, int64, error) {
	var used int64
	err := s.pool.QueryRow(ctx, `INSERT INTO usage_counters AS u (subject, counter, window_start, used)
		SELECT $1, $2, $3, $4::bigint WHERE $4::bigint <= $5::bigint
		ON CONFLICT (subject, counter, window_start) DO UPDATE SET used = u.used + excluded.used
			WHERE u.used + excluded.used <= $5::bigint
		RETURNING used`, subject, counter, utc(start), n, max).Scan(&used)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT used FROM usage_counters
			WHERE subject = $1 AND counter = $2 AND window_start = $3), 0)`, subject, counter, utc(start)).Scan(&used)
		return false, used, mapErr(err)
	}
	if err != nil {
		return false, 0, mapErr(err)
	}
	return true, used, nil
}
