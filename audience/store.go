// Package audience builds advertisers' custom audiences from uploaded
// customer lists, keeping only which of the party's accounts matched.
package audience

import (
	"context"
	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/directory"
)

// Audience is one advertiser's custom audience on this party.
type Audience struct {
	ID        string
	Tenant    string
	Name      string
	Purpose   string
	CreatedAt time.Time
}

// Batch is one applied upload batch: the accounts it matched, never what
// was uploaded.
type Batch struct {
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
	Match *Match
	// Received and Invalid are the counts answered to the uploader, kept so
	// that a retried batch gets the same answer.
	Received int
	Invalid  int
	// At is when the batch is applied (zero: now): members added or
	// re-added are kept from then for the catalogue's retention.
	At time.Time
}

// Match is an upload batch's entries as the directory indexes them: the
// keyed hash indexes of a hashed upload, or the OPRF outputs of a private
// one (exactly one of the two).
type Match struct {
	Hash   *directory.HashMatch
	OPRF   *directory.OPRFMatch
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

// Session is an upload session's progress.
type Session struct {
	AudienceID string
	ID         string
	Batches    int64
	Complete   bool
	UpdatedAt  time.Time
	StartedAt  time.Time // the first batch's time
}

// Content is what a size release is computed from.
type Content struct {
	// Version changes with every upload batch applied to the audience
	// (matched or not), and is 0 before the first; a mirror's (IsMirror)
	// changes when a session of batches is complete, not before.
	Version int64
	// People is the number of distinct numbers among the members.
	People int64
}

// Store keeps audiences, their members and upload sessions.
type Store interface {
	// CreateAudience stores a new audience; store.ErrConflict if its id
	// exists.
	CreateAudience(ctx context.Context, a Audience) error
	// Audience returns the tenant's audience, or store.ErrNotFound (also
	// when it is another tenant's).
	Audience(ctx context.Context, tenant, id string) (Audience, error)
	// ListAudiences returns up to limit of the tenant's audiences with ids
	// after the given one, in id order.
	ListAudiences(ctx context.Context, tenant, after string, limit int) ([]Audience, error)
	// DeleteAudience deletes the tenant's audience with its members and
	// sessions.
	DeleteAudience(ctx context.Context, tenant, id string) error
	// ApplyBatch applies a batch once per (audience, session, seq), all or
	// nothing, in one transaction with the session's record. A complete
	// session takes no more batches: store.ErrConflict.
	ApplyBatch(ctx context.Context, b Batch) (BatchResult, error)
	// Session returns an upload session, or store.ErrNotFound.
	Session(ctx context.Context, audienceID, sessionID string) (Session, error)
	// Members returns the audience's member account ids in order.
	Members(ctx context.Context, audienceID string) ([]string, error)
	// SizeContent returns the audience's content version and the number
	// of distinct numbers among its members; store.ErrNotFound if there is
	// no such audience.
	SizeContent(ctx context.Context, audienceID string) (Content, error)
	// LastRelease returns the audience's last size release, or
	// store.ErrNotFound.
	LastRelease(ctx context.Context, audienceID string) (Release, error)
	// PutRelease keeps a release as the audience's last, replacing the
	// one before.
	PutRelease(ctx context.Context, r Release) error
	// LinkedMembers returns up to limit of the audience's members that
	// have a link, with account ids after the given one, in order, with
	// what extending the audience asks of them.
	LinkedMembers(ctx context.Context, audienceID, after string, limit int) ([]LinkedMember, error)
	// LinkedAccounts returns the accounts of the given link ids that may
	// be shown ads (not opted out, not blocking tenant), in order, with
	// their country and consent.
	LinkedAccounts(ctx context.Context, ids []psi.LinkID, tenant string) ([]LinkedMember, error)
}
