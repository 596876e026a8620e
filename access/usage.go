package access

import (
	"context"
	"time"
)

// Usage counts what callers use in fixed windows (a minute of requests, a
// day of OPRF evaluations), in the store, so that a limit holds across
// every replica of the server.
type Usage interface {
	// Consume adds n to the counter of (subject, counter) in the window
	// starting at start, unless that would pass max: then nothing changes
	// and ok is false. used is the counter after the call.
	Consume(ctx context.Context, subject, counter string, start time.Time, n, max int64) (ok bool, used int64, err error)
}

// Window is a fixed limit window.
type Window time.Duration

// Common windows.
const (
	Minute = Window(time.Minute)
	Day    = Window(24 * time.Hour)
)

// Bounds returns the window containing t (in UTC) and when it ends.
func (w Window) Bounds(t time.Time) (start, end time.Time) {
	start = t.UTC().Truncate(time.Duration(w))
	return start, start.Add(time.Duration(w))
}
