package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobState is where a job stands.
type JobState string

// States of a job.
const (
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobFailed  JobState = "failed"
	// Superseded is a link job that had not finished when a run begun
	// after it finished: its staging is gone and it cannot be resumed.
	JobSuperseded JobState = "superseded"
)

// Job is one run of long work.
type Job struct {
	ID        string
	Kind      string
	State     JobState
	Params    []byte // JSON
	Progress  []byte // JSON
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Checkpoint marks one finished step of a job.
type Checkpoint struct {
	JobID string
	Step  string
	Seq   int64
	Data  []byte
}

// CreateJob implements job.Store.
func (s *Store) CreateJob(ctx context.Context, j Job) error {
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
func (s *Store) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	err := s.pool.QueryRow(ctx, `SELECT id, kind, state, params, progress, created_at, updated_at FROM jobs WHERE id = $1`, id).
		Scan(&j.ID, &j.Kind, &j.State, &j.Params, &j.Progress, &j.CreatedAt, &j.UpdatedAt)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, mapErr(err)
}

// ListJobs returns jobs of kind, newest first, those created before job
// before if it is set (a page's cursor), at most limit.
func (s *Store) ListJobs(ctx context.Context, kind, before string, limit int) ([]Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, state, params, progress, created_at, updated_at FROM jobs
		WHERE kind = $1 AND ($2 = '' OR (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = $2))
		ORDER BY created_at DESC, id DESC LIMIT $3`, kind, before, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		err := r.Scan(&j.ID, &j.Kind, &j.State, &j.Params, &j.Progress, &j.CreatedAt, &j.UpdatedAt)
		j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
		return j, err
	})
	return out, mapErr(err)
}

// UpdateJob implements job.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, state JobState, progress []byte, at time.Time) error {
	return s.execOne(ctx, `UPDATE jobs SET state = CASE WHEN state = $5 THEN state ELSE $2 END, progress = $3, updated_at = $4
		WHERE id = $1`, id, state, nonNil(progress), utc(at), JobSuperseded)
}

// PutCheckpoint implements job.Store.
func (s *Store) PutCheckpoint(ctx context.Context, c Checkpoint) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO job_checkpoints (job_id, step, seq, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, c.JobID, c.Step, c.Seq, nonNil(c.Data))
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// Checkpoints implements job.Store.
func (s *Store) Checkpoints(ctx context.Context, jobID, step string) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT job_id, step, seq, data FROM job_checkpoints WHERE job_id = $1 AND step = $2 ORDER BY seq`, jobID, step)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := r.Scan(&c.JobID, &c.Step, &c.Seq, &c.Data)
		return c, err
	})
	return out, mapErr(err)
}
