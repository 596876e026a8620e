// Package storeerr holds the errors the store maps PostgreSQL's to, at
// the driver edge, so that no caller above it sees a driver's error
// types, and the API can answer them without importing the store.
package storeerr

import "errors"

var ( // ErrNotFound: the thing asked for does not exist (or is not the
	// caller's to see).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the write contradicts what is stored (a duplicate id,
	// a replayed batch with other content, a concurrent change).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the store did not answer: it is down, unreachable,
	// or did not answer before the caller's deadline. Worth a retry later.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrNoSchema: the database lacks a table linkd uses: it was never
	// migrated, or by an older linkd.
	ErrNoSchema = errors.New("store: the database has no linkd schema, or an older one: run linkd migrate")
)
