// Package job records long-running work (PSI link runs) and its
// checkpoints, so that a job stopped at any point resumes where it was.
package job

import (
	"context"
	"time"
)

// State is where a job stands.
type State string

// States of a job.
const (
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed"
	// Superseded is a link job that had not finished when a run begun
	// after it finished: its staging is gone and it cannot be resumed.
	Superseded State = "superseded"
)

// Job is one run of long work.
type Job struct {
	ID        string
	Kind      string
	State     State
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

// Store keeps jobs and checkpoints.
type Store interface {
	// CreateJob stores a new job; store.ErrConflict if the id exists.
	CreateJob(ctx context.Context, j Job) error
	// Job returns a job, or store.ErrNotFound.
	Job(ctx context.Context, id string) (Job, error)
	// UpdateJob sets a job's state and progress; a superseded job stays
	// superseded (its progress is set).
	UpdateJob(ctx context.Context, id string, state State, progress []byte, at time.Time) error
	// PutCheckpoint records a step once per (job, step, seq): applied is
	// false, and nothing changes, for one recorded before.
	PutCheckpoint(ctx context.Context, c Checkpoint) (applied bool, err error)
	// Checkpoints returns a job's checkpoints of one step in seq order.
	Checkpoints(ctx context.Context, jobID, step string) ([]Checkpoint, error)
}
