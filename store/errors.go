// Package store holds the errors every storage backend maps its own to, at
// the driver edge, so that callers above never see a driver's error types.
package store

import "errors"

var (
	// ErrNotFound: the thing asked for does not exist (or is not the
	// caller's to see).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the write contradicts what is stored (a duplicate id,
	// a replayed batch with other content, a concurrent change).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the store did not answer: it is down, unreachable,
	// or did not answer before the caller's deadline. Worth a retry later.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrStale: an incremental link run builds on a run that is no
	// longer the one kept.
	ErrStale = errors.New("store: the link run built on is no longer kept")
	// ErrSuperseded: a link run that had not finished when a run begun
	// after it finished.
	ErrSuperseded = errors.New("store: the link run was superseded")
	// ErrLost: a link run whose staging is gone, or never started.
	ErrLost = errors.New("store: the link run's staging is lost")
)
