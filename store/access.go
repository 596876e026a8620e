package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/access"
)

// CreateAPIKey implements access.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k access.Key) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, tenant, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Tenant, string(k.Role), k.Hash[:], utc(k.CreatedAt))
	return mapErr(err)
}

func scanKey(r pgx.CollectableRow) (access.Key, error) {
	var k access.Key
	var role string
	var h []byte
	var revoked *time.Time
	if err := r.Scan(&k.ID, &k.Tenant, &role, &h, &k.CreatedAt, &revoked); err != nil {
		return k, err
	}
	k.Role, k.CreatedAt = access.Role(role), k.CreatedAt.UTC()
	if revoked != nil {
		k.RevokedAt = revoked.UTC()
	}
	return k, copyTo(k.Hash[:], h, "api key hash")
}

// APIKeyByHash implements access.Store.
func (s *Store) APIKeyByHash(ctx context.Context, h access.Hash) (access.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, role, hash, created_at, revoked_at FROM api_keys WHERE hash = $1`, h[:])
	if err != nil {
		return access.Key{}, mapErr(err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	return k, mapErr(err)
}

// ListAPIKeys implements access.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]access.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, role, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, scanKey)
	return out, mapErr(err)
}

// RevokeAPIKey implements access.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, utc(at))
}
