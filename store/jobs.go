package store

import "time"

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
