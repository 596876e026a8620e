// Package subject answers the people behind the accounts (data-subject
// requests), through the party's own account system: what linkd holds
// about an account.
//
// What it answers never holds a number, a pseudonym, a link id or an
// account of the other party: whether the account is linked, its consent
// and opt-out as imported, the audiences it is in counted by tenant and
// purpose (why an advertiser reaches the person), and the open signals
// about it.
package subject

import (
	"context"
	"time"

	"github.com/linkd/linkd/store"
)

// The records, as the store keeps them.
type (
	Held          = store.Held
	HeldAudiences = store.HeldAudiences
	HeldSignal    = store.HeldSignal
	Request       = store.SubjectRequest
)

// Store reads what is held about an account.
type Store interface {
	// HeldFor reads it in one snapshot at now; storeerr.ErrNotFound if
	// there is no such account.
	HeldFor(ctx context.Context, id string, now time.Time) (Held, error)
	// Object records an objection and ends the account's memberships of
	// audiences of its purpose; storeerr.ErrNotFound if there is no such
	// account.
	Object(ctx context.Context, r Request) (Request, error)
}
