package store

import (
	"time"

	"github.com/linkd/linkd/crypto/psi"
)

// Audience is one advertiser's custom audience on this party.
type Audience struct {
	ID        string
	Tenant    string
	Name      string
	Purpose   string
	CreatedAt time.Time
}

// UploadBatch is one applied upload batch: the accounts it matched, never what
// was uploaded.
type UploadBatch struct {
	AudienceID string
	SessionID  string
	Seq        int64
	Last       bool
	Add        []string // account ids to add
	Remove     []string // account ids to remove
	// Replace makes the session a replacement of the whole audience: when
	// its last batch is applied, the members that no batch of the session
	// added (or re-added) are removed.
	Replace bool
	// Match, if set, names the accounts by what was uploaded instead: the
	// store matches them against the directory in the same step and adds
	// them (or, with Match.Remove, removes them). Accounts that no longer
	// match are not an error.
	Match *UploadMatch
	// Received and Invalid are the counts answered to the uploader, kept so
	// that a retried batch gets the same answer.
	Received int
	Invalid  int
	// At is when the batch is applied (zero: now): members added or
	// re-added are kept from then for the catalogue's retention.
	At time.Time
}

// UploadMatch is an upload batch's entries as the directory indexes them: the
// keyed hash indexes of a hashed upload, or the OPRF outputs of a private
// one (exactly one of the two).
type UploadMatch struct {
	Hash   *HashMatch
	OPRF   *OPRFMatch
	Remove bool
}

// LinkedMember is an account with a link, as an extension sees it.
type LinkedMember struct {
	AccountID string
	Country   string
	Consent   bool
	LinkID    psi.LinkID
}

// BatchResult is what applying a batch did.
type BatchResult struct {
	// Applied is false when the batch had been applied before: nothing
	// changed, and the counts are the first application's.
	Applied  bool
	Received int
	Invalid  int
	// Matched is how many accounts a batch with Match added or removed
	// (for operators' metrics; never told to the uploader).
	Matched int
}

// UploadSession is an upload session's progress.
type UploadSession struct {
	AudienceID string
	ID         string
	Batches    int64
	Complete   bool
	UpdatedAt  time.Time
	StartedAt  time.Time // the first batch's time
}

// AudienceContent is what a size release is computed from.
type AudienceContent struct {
	// Version changes with every upload batch applied to the audience
	// (matched or not), and is 0 before the first; a mirror's (IsMirror)
	// changes when a session of batches is complete, not before.
	Version int64
	// People is the number of distinct numbers among the members.
	People int64
}

// Epsilon is a privacy loss parameter in thousandths (100 is ε = 0.1):
// exact, so that budgets add up without rounding.
type Epsilon int64

// Float returns ε as a number.
func (e Epsilon) Float() float64 { return float64(e) / 1000 }

// SizeRelease is a size released to an advertiser.
type SizeRelease struct {
	AudienceID string
	// Version is the content version it was computed from (see
	// Store.SizeContent).
	Version int64
	Status  string
	// Lower and Upper bound the size when Status is StatusReady.
	Lower, Upper int64
	Epsilon      Epsilon
	At           time.Time
}
