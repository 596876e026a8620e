// Package directory is a party's account list: the accounts imported from
// the service's account system, each kept only as pseudonyms of its phone
// number (see linking/pseudonym), never the number.
package directory

import (
	"context"
	"time"

	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
)

// MaxAccountIDLen bounds an account id.
const MaxAccountIDLen = 128

// Account is one account of the party's service.
type Account struct {
	ID                string
	Country           string // ISO 3166 code of the record
	AdOptOut          bool
	BlockedBusinesses []string // tenants whose ads the user blocked
	AdsConsent        bool     // consented to ads data reaching the other service
	Epoch             uint32   // key epoch of the pseudonyms
	Pseudonyms        pseudonym.Set
	UpdatedAt         time.Time
}

// HashMatch asks which accounts an upload of hashes finds: the indexes are
// the keyed HMACs of the uploaded hashes under the epoch's index key.
type HashMatch struct {
	Epoch      uint32
	Convention phone.Convention
	Indexes    []hashindex.Index
	// Tenant, if set, excludes accounts that blocked this advertiser.
	Tenant string
	// Eligible, if set, keeps only accounts that may be shown ads: not
	// opted out.
	Eligible bool
}

// OPRFMatch asks which accounts a private-mode upload finds.
type OPRFMatch struct {
	Epoch    uint32
	Outputs  [][oprf.OutputSize]byte
	Tenant   string
	Eligible bool
}

// LinkElement is an account's PSI element for one epoch.
type LinkElement struct {
	AccountID string
	Element   psi.Element
}

// Store keeps the directory.
type Store interface {
	// PutAccounts inserts or replaces accounts, all or none. An account's
	// pseudonyms are replaced by those given: a changed number leaves
	// nothing of the old one.
	PutAccounts(ctx context.Context, accounts []Account) error
	// Account returns one account, or store.ErrNotFound.
	Account(ctx context.Context, id string) (Account, error)
	// CountAccounts returns how many accounts the directory holds.
	CountAccounts(ctx context.Context) (int64, error)
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

// Claimed is an account id an import had read before: ids[Index] of a
// ClaimIDs call, first read on FirstLine.
type Claimed struct {
	Index     int
	FirstLine int
}
