// Package directory is a party's account list: the accounts imported from
// the service's account system, each kept only as pseudonyms of its phone
// number (see linking/pseudonym), never the number.
package directory

import (
	"context"

	"github.com/linkd/linkd/store"
)

// MaxAccountIDLen bounds an account id.
const MaxAccountIDLen = 128

// Store keeps the directory.
type Store interface {
	// PutAccounts inserts or replaces accounts, all or none. An account's
	// pseudonyms are replaced by those given: a changed number leaves
	// nothing of the old one.
	PutAccounts(ctx context.Context, accounts []Account) error
	// Account returns one account, or storeerr.ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)
	// CountAccounts returns how many accounts the directory holds.
	CountAccounts(ctx context.Context) (int64, error)
	// OlderLinkGroup returns how many accounts hold a link element of
	// another link group than psi.Group: made by an older linkd, and
	// replaced by the next import.
	OlderLinkGroup(ctx context.Context) (int64, error)
	// EraseAccount deletes an account and everything kept about it: its
	// pseudonyms, its link, its audience memberships and its signals.
	EraseAccount(ctx context.Context, id string) error
	// MatchHashes returns the ids of the accounts an upload of hashes
	// finds, each once, in id order.
	MatchHashes(ctx context.Context, q HashMatch) ([]string, error)
	// MatchOPRF returns the ids of the accounts a private upload finds.
	MatchOPRF(ctx context.Context, q OPRFMatch) ([]string, error)
	// LinkElements returns up to limit link elements of the epoch with
	// account ids after the given one, in account id order.
	LinkElements(ctx context.Context, epoch uint32, after string, limit int) ([]LinkElement, error)
	// ClaimIDs notes that import run has read the account ids of ids on
	// the given lines (in line order), and returns, for each id the run
	// had read before (on an earlier line, in this call or an earlier
	// one), the index in ids and the line it was first read on.
	ClaimIDs(ctx context.Context, run string, ids []string, lines []int) ([]Claimed, error)
	// EndImport forgets the ids import run claimed.
	EndImport(ctx context.Context, run string) error
}

// The directory's records are the store's.
type (
	Account     = store.Account
	Consent     = store.Consent
	ConsentRule = store.ConsentRule
	HashMatch   = store.HashMatch
	OPRFMatch   = store.OPRFMatch
	LinkElement = store.LinkElement
	Claimed     = store.Claimed
)
