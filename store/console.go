package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/access"
)

// CreateConsoleSession stores a new console session; storeerr.ErrConflict
// on a duplicate hash, storeerr.ErrNotFound when the key does not exist.
func (s *Store) CreateConsoleSession(ctx context.Context, ss access.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (hash, key_id, name, created_at, seen_at) VALUES ($1, $2, $3, $4, $5)`,
		ss.Hash[:], ss.KeyID, ss.Name, utc(ss.CreatedAt), utc(ss.SeenAt))
	return mapErr(err)
}

// ConsoleSession returns the session with this hash and its key, and
// marks it seen at now; storeerr.ErrNotFound when there is none, or it
// has been idle longer than access.SessionIdle, is older than
// access.SessionMax, or its key is revoked.
func (s *Store) ConsoleSession(ctx context.Context, h access.Hash, now time.Time) (access.Session, access.Key, error) {
	rows, err := s.pool.Query(ctx, `UPDATE console_sessions cs SET seen_at = greatest(cs.seen_at, $2::timestamptz)
		FROM api_keys k
		WHERE cs.hash = $1 AND k.id = cs.key_id AND k.revoked_at IS NULL
		  AND cs.seen_at > $2::timestamptz - $3::interval AND cs.created_at > $2::timestamptz - $4::interval
		RETURNING cs.hash, cs.key_id, cs.name, cs.created_at, cs.seen_at,
		          k.id, k.tenant, k.role, k.hash, k.created_at, k.revoked_at`,
		h[:], utc(now), access.SessionIdle, access.SessionMax)
	if err != nil {
		return access.Session{}, access.Key{}, mapErr(err)
	}
	type pair struct {
		s access.Session
		k access.Key
	}
	p, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		var sh, kh []byte
		var role string
		var revoked *time.Time
		if err := r.Scan(&sh, &p.s.KeyID, &p.s.Name, &p.s.CreatedAt, &p.s.SeenAt,
			&p.k.ID, &p.k.Tenant, &role, &kh, &p.k.CreatedAt, &revoked); err != nil {
			return p, err
		}
		p.s.CreatedAt, p.s.SeenAt, p.k.CreatedAt, p.k.Role = p.s.CreatedAt.UTC(), p.s.SeenAt.UTC(), p.k.CreatedAt.UTC(), access.Role(role)
		if err := copyTo(p.s.Hash[:], sh, "session hash"); err != nil {
			return p, err
		}
		return p, copyTo(p.k.Hash[:], kh, "api key hash")
	})
	return p.s, p.k, mapErr(err)
}

// EndConsoleSession deletes a session (sign-out); storeerr.ErrNotFound if
// there is none.
func (s *Store) EndConsoleSession(ctx context.Context, h access.Hash) error {
	return s.execOne(ctx, `DELETE FROM console_sessions WHERE hash = $1`, h[:])
}

// PurgeConsoleSessions deletes the sessions not seen since before.
func (s *Store) PurgeConsoleSessions(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, `DELETE FROM console_sessions WHERE seen_at < $1`, before)
}
