package store

import (
	"time"

	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
)

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

// Claimed is an account id an import had read before: ids[Index] of a
// ClaimIDs call, first read on FirstLine.
type Claimed struct {
	Index     int
	FirstLine int
}
