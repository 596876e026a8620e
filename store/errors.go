package store

import "errors"

// Errors of the link staging, which linking/linkjob answers as its own.
var (
	// ErrStale: an incremental link run builds on a run that is no
	// longer the one kept.
	ErrStale = errors.New("store: the link run built on is no longer kept")
	// ErrSuperseded: a link run that had not finished when a run begun
	// after it finished.
	ErrSuperseded = errors.New("store: the link run was superseded")
	// ErrLost: a link run whose staging is gone, or never started.
	ErrLost = errors.New("store: the link run's staging is lost")
)
