// Package link keeps the links PSI found: for each of the party's accounts
// that is also on the other service, the link id both parties derived.
package link

import (
	"context"

	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/crypto/psi"
)

// Store keeps links.
type Store interface {
	// PutLinks inserts the links of the given accounts, or replaces an
	// account's link whose id or epoch differs; a link held already as
	// given is left as it is (it keeps its creation time). A batch naming
	// an account that is not stored is storeerr.ErrNotFound and writes
	// nothing. changes is the directory's count of changes
	// (linkjob.Staging.Changes) read before the accounts were found, 0 if
	// unknown: while it has not moved, no account can have gone, and the
	// store may spare looking them up.
	PutLinks(ctx context.Context, links []Link, changes int64) error
	// LinkOf returns the link of an account, or storeerr.ErrNotFound.
	LinkOf(ctx context.Context, accountID string) (Link, error)
	// AccountOf returns the account a link id belongs to, or
	// storeerr.ErrNotFound.
	AccountOf(ctx context.Context, id psi.LinkID) (string, error)
	// DeleteLink removes a link by its id (when the peer drops it).
	DeleteLink(ctx context.Context, id psi.LinkID) error
	// CountLinks returns how many links the party holds.
	CountLinks(ctx context.Context) (int64, error)
}

// Link is the store's record of a link.
type Link = store.Link
