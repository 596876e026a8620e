// Package job records long-running work (PSI link runs) and its
// checkpoints, so that a job stopped at any point resumes where it was.
package job

import (
	"context"
	"time"

	"github.com/linkd/linkd/store"
)

// Store keeps jobs and checkpoints.
type Store interface {
	// CreateJob stores a new job; storeerr.ErrConflict if the id exists.
	CreateJob(ctx context.Context, j Job) error
	// Job returns a job, or storeerr.ErrNotFound.
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

// The job records are the store's.
type (
	State      = store.JobState
	Job        = store.Job
	Checkpoint = store.Checkpoint
)

const (
	Running    = store.JobRunning
	Done       = store.JobDone
	Failed     = store.JobFailed
	Superseded = store.JobSuperseded
)
