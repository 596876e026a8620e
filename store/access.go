package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/internal/store"
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

// CreateJob implements job.Store.
func (s *Store) CreateJob(ctx context.Context, j store.Job) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO jobs (id, kind, state, params, progress, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, j.ID, j.Kind, j.State, nonNil(j.Params), nonNil(j.Progress), utc(j.CreatedAt))
	return mapErr(err)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Job implements job.Store.
func (s *Store) Job(ctx context.Context, id string) (store.Job, error) {
	var j store.Job
	err := s.pool.QueryRow(ctx, `SELECT id, kind, state, params, progress, created_at, updated_at FROM jobs WHERE id = $1`, id).
		Scan(&j.ID, &j.Kind, &j.State, &j.Params, &j.Progress, &j.CreatedAt, &j.UpdatedAt)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, mapErr(err)
}

// UpdateJob implements job.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, state store.JobState, progress []byte, at time.Time) error {
	return s.execOne(ctx, `UPDATE jobs SET state = CASE WHEN state = $5 THEN state ELSE $2 END, progress = $3, updated_at = $4
		WHERE id = $1`, id, state, nonNil(progress), utc(at), store.JobSuperseded)
}

// PutCheckpoint implements job.Store.
func (s *Store) PutCheckpoint(ctx context.Context, c store.Checkpoint) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO job_checkpoints (job_id, step, seq, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, c.JobID, c.Step, c.Seq, nonNil(c.Data))
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Checkpoints implements job.Store.
func (s *Store) Checkpoints(ctx context.Context, jobID, step string) ([]store.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT job_id, step, seq, data FROM job_checkpoints WHERE job_id = $1 AND step = $2 ORDER BY seq`, jobID, step)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Checkpoint, error) {
		var c store.Checkpoint
		err := r.Scan(&c.JobID, &c.Step, &c.Seq, &c.Data)
		return c, err
	})
	return out, mapErr(err)
}
