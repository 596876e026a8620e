package policies

import (
	"context"
	"path"
	"testing/fstest"
	"time"
)

// Archive keeps every bundle a server has run under, by hash, so that a
// decision in the audit log can be explained under the rules it was taken
// under, after the bundle has changed.
type Archive interface {
	// SaveBundle stores the files of the bundle with hash h, if they are
	// not stored yet.
	SaveBundle(ctx context.Context, h string, files []File) error
	// BundleFiles returns the files of the bundle with hash h, or an error
	// wrapping the store's not-found error.
	BundleFiles(ctx context.Context, h string) ([]File, error)
	// Bundles lists the bundles kept, the newest first use first.
	Bundles(ctx context.Context) ([]Archived, error)
}

// Archived is a bundle the party has run: its hash and when it first
// decided.
type Archived struct {
	Hash      string
	FirstUsed time.Time
}

// FromFiles rebuilds a bundle from its files (as Files returns them and an
// Archive keeps them). It validates the bundle but does not run its tests:
// an archived bundle is what ran, tests or not.
func FromFiles(files []File) (*Bundle, Problems) {
	m := fstest.MapFS{}
	for _, f := range files {
		if !fsValidName(f.Name) {
			return nil, Problems{{File: f.Name, Msg: "not a bundle file name"}}
		}
		m[f.Name] = &fstest.MapFile{Data: []byte(f.Content)}
	}
	return parse(m)
}

func fsValidName(n string) bool {
	return n != "" && path.Clean(n) == n && n[0] != '/' && n != "." && len(n) < 256
}
