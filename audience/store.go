// Package audience builds advertisers' custom audiences from uploaded
// customer lists, keeping only which of the party's accounts matched.
package audience

import (
	"context"

	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/crypto/psi"
)

// Store keeps audiences, their members and upload sessions.
type Store interface {
	// CreateAudience stores a new audience; storeerr.ErrConflict if its id
	// exists.
	CreateAudience(ctx context.Context, a Audience) error
	// Audience returns the tenant's audience, or storeerr.ErrNotFound (also
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
	// session takes no more batches: storeerr.ErrConflict.
	ApplyBatch(ctx context.Context, b Batch) (BatchResult, error)
	// Session returns an upload session, or storeerr.ErrNotFound.
	Session(ctx context.Context, audienceID, sessionID string) (Session, error)
	// Members returns the audience's member account ids in order.
	Members(ctx context.Context, audienceID string) ([]string, error)
	// SizeContent returns the audience's content version and the number
	// of distinct numbers among its members; storeerr.ErrNotFound if there is
	// no such audience.
	SizeContent(ctx context.Context, audienceID string) (Content, error)
	// LastRelease returns the audience's last size release, or
	// storeerr.ErrNotFound.
	LastRelease(ctx context.Context, audienceID string) (Release, error)
	// PutRelease keeps a release as the audience's last, replacing the
	// one before.
	PutRelease(ctx context.Context, r Release) error
	// LinkedMembers returns up to limit of the audience's members that
	// have a link, with account ids after the given one, in order, with
	// what extending the audience asks of them.
	LinkedMembers(ctx context.Context, audienceID, after string, limit int) ([]LinkedMember, error)
	// LinkedAccounts returns the accounts of the given link ids that may
	// be shown ads (not opted out, not blocking tenant, no objection to
	// purpose relayed by the other party), in order, with their country
	// and consent.
	LinkedAccounts(ctx context.Context, ids []psi.LinkID, tenant, purpose string) ([]LinkedMember, error)
}

// The audience records are the store's.
type (
	Audience     = store.Audience
	Batch        = store.UploadBatch
	Match        = store.UploadMatch
	LinkedMember = store.LinkedMember
	BatchResult  = store.BatchResult
	Session      = store.UploadSession
	Content      = store.AudienceContent
)
