package audience

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storeerr"
)

// SchemaOPRF is the private-mode upload schema: finalized RFC 9497 OPRF
// outputs of E.164 numbers under the party's published key, hex.
const SchemaOPRF = string(phone.SchemaOPRF)

// MaxBatch is the most entries one upload batch may carry.
const MaxBatch = 10000

// Schemas lists every upload schema.
var Schemas = []string{string(phone.SchemaSHA256), string(phone.SchemaE164SHA256), string(phone.SchemaE164SHA256B64), SchemaOPRF}

// Service builds audiences: it matches uploads against the directory and
// keeps only the matched account ids.
type Service struct {
	// Store keeps the audiences and matches batches against the
	// directory; its methods are the service's.
	Store
	// Index is the hash index key of Epoch, the directory's key epoch.
	Index hashindex.Key
	Epoch uint32
	// Budget keeps the tenants' privacy budgets for size releases.
	Budget access.Usage
	// Noise draws the noise of size releases (default: crypto/rand).
	Noise *Noise
	// Now is the clock of applied batches (default time.Now).
	Now func() time.Time
}

// Upload is one batch of a customer-list upload.
type Upload struct {
	Tenant     string
	AudienceID string
	Schema     string
	Data       []string
	SessionID  string
	BatchSeq   int64
	Last       bool
	// Remove takes the matched accounts out of the audience instead.
	Remove bool
	// Replace makes the session replace the whole audience: after its
	// last batch, only the accounts its batches matched remain.
	Replace bool
	// Catalogue, if set, says where the audience's purpose rests on
	// consent: there, only accounts whose consent is granted match.
	Catalogue *policies.Catalogue
	// Charge, if set, takes the batch's n entries from the tenant's
	// limits once the batch is valid and the audience known to be the
	// tenant's; its error refuses the batch.
	Charge func(n int) error
}

// InvalidEntry says which entry of a batch was refused and why, never what
// it was.
type InvalidEntry struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// UploadResult is the answer to a batch.
type UploadResult struct {
	AudienceID     string
	SessionID      string
	Received       int
	Invalid        int
	InvalidSamples []InvalidEntry
	// Replayed is set when this (session, batch_seq) had been applied
	// before: nothing changed, and the counts are the first answer's.
	Replayed bool
}

// maxSamples is how many invalid entries an answer describes.
const maxSamples = 10

// Errors of uploads; the api maps them to statuses.
var (
	ErrBadUpload       = errors.New("audience: bad upload")
	ErrSessionComplete = errors.New("audience: the session is complete: its last batch was received")
	// ErrMirror: a mirror is built by the other party's extension alone.
	ErrMirror = errors.New("audience: a mirror is built by the other party's extension and takes no upload")
)

// InvalidError is a batch refused as a whole: what is wrong, and where
// (details such as the field). It is an ErrBadUpload.
type InvalidError struct {
	Reason  string
	Details map[string]any
}

func (e *InvalidError) Error() string        { return ErrBadUpload.Error() + ": " + e.Reason }
func (e *InvalidError) Is(target error) bool { return target == ErrBadUpload }

func badField(field, reason string, details ...any) error {
	d := map[string]any{"field": field}
	for i := 0; i+1 < len(details); i += 2 {
		d[details[i].(string)] = details[i+1]
	}
	return &InvalidError{Reason: field + ": " + reason, Details: d}
}

// MaxSessionID is the longest session id.
const MaxSessionID = 100

// Upload matches one batch and applies it once per (session, batch_seq).
// Entries that are not of the schema are counted and sampled, and the
// others applied; a batch whose shape is wrong (schema, size, session)
// changes nothing. The entries are never stored.
func (s *Service) Upload(ctx context.Context, u Upload) (UploadResult, error) {
	res := UploadResult{AudienceID: u.AudienceID, SessionID: u.SessionID, Received: len(u.Data)}
	switch {
	case u.SessionID == "" || len(u.SessionID) > MaxSessionID:
		return res, badField("session.session_id", fmt.Sprintf("from 1 to %d characters", MaxSessionID))
	case u.BatchSeq < 1:
		return res, badField("session.batch_seq", "want a whole number from 1")
	case len(u.Data) == 0:
		return res, badField("payload.data", "at least one entry is required")
	case len(u.Data) > MaxBatch:
		return res, badField("payload.data", fmt.Sprintf("at most %d entries a batch", MaxBatch), "max", MaxBatch, "got", len(u.Data))
	case u.Schema != SchemaOPRF && !slices.Contains(Schemas, u.Schema):
		return res, badField("payload.schema", "want one of "+strings.Join(Schemas, ", "))
	}
	// The audience must be the tenant's before anything is counted.
	aud, err := s.Store.Audience(ctx, u.Tenant, u.AudienceID)
	if err != nil {
		return res, err
	}
	consent := directory.ConsentRule{Purpose: aud.Purpose}
	if u.Catalogue != nil {
		for _, c := range phone.Regions() {
			if u.Catalogue.NeedsConsent(aud.Purpose, c) {
				consent.Countries = append(consent.Countries, c)
			}
		}
	}
	if IsMirror(u.AudienceID) {
		return res, ErrMirror
	}
	if u.Charge != nil {
		if err := u.Charge(len(u.Data)); err != nil {
			return res, err
		}
	}
	invalid := func(i int, reason string) {
		res.Invalid++
		if len(res.InvalidSamples) < maxSamples {
			res.InvalidSamples = append(res.InvalidSamples, InvalidEntry{Index: i, Reason: reason})
		}
	}
	m := &Match{Remove: u.Remove}
	if u.Schema == SchemaOPRF {
		q := directory.OPRFMatch{Epoch: s.Epoch, Tenant: u.Tenant, Eligible: true, Consent: consent, Outputs: make([][oprf.OutputSize]byte, 0, len(u.Data))}
		for i, e := range u.Data {
			var out [oprf.OutputSize]byte
			if len(e) != 2*oprf.OutputSize {
				invalid(i, "want "+strconv.Itoa(2*oprf.OutputSize)+" hexadecimal characters, got "+strconv.Itoa(len(e)))
				continue
			}
			if _, err := hex.Decode(out[:], []byte(e)); err != nil {
				invalid(i, "not hexadecimal")
				continue
			}
			q.Outputs = append(q.Outputs, out)
		}
		m.OPRF = &q
	} else {
		schema, perr := phone.ParseSchema(u.Schema)
		if perr != nil {
			return res, badField("payload.schema", "want one of "+strings.Join(Schemas, ", "))
		}
		q := directory.HashMatch{Epoch: s.Epoch, Convention: schema.Convention(), Tenant: u.Tenant, Eligible: true, Consent: consent,
			Indexes: make([]hashindex.Index, 0, len(u.Data))}
		h := s.Index.NewHasher()
		for i, e := range u.Data {
			d, err := phone.ParseHash(schema, e)
			if err != nil {
				var he *phone.HashError
				if errors.As(err, &he) {
					invalid(i, he.Reason)
				} else {
					invalid(i, "not a hash of the schema")
				}
				continue
			}
			q.Indexes = append(q.Indexes, h.Sum(&d.Sum))
		}
		m.Hash = &q
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	b := Batch{AudienceID: u.AudienceID, SessionID: u.SessionID, Seq: u.BatchSeq, Last: u.Last,
		Received: res.Received, Invalid: res.Invalid, At: now(), Match: m, Replace: u.Replace}
	r, err := s.Store.ApplyBatch(ctx, b)
	if errors.Is(err, storeerr.ErrConflict) {
		return res, ErrSessionComplete
	}
	if err != nil {
		return res, err
	}
	if !r.Applied {
		// A retry: the first answer's counts (its samples are not kept).
		res.Replayed, res.Received, res.Invalid, res.InvalidSamples = true, r.Received, r.Invalid, nil
	}
	return res, nil
}

// SizePolicy is what the catalogue in force says of size releases.
type SizePolicy struct {
	PerRelease Epsilon
	PerDay     Epsilon
}

// SizeAnswer is what an advertiser is told of an audience's size.
type SizeAnswer struct {
	Release
	// Fresh is set when this answer made the release (and spent from the
	// budget); Stale when the content changed since the release but the
	// budget is spent.
	Fresh, Stale bool
	// Remaining is the tenant's budget left today; RenewsAt is when the
	// day's budget renews.
	Remaining, PerDay Epsilon
	RenewsAt          time.Time
}

// budgetCounter is the usage counter of the tenants' size budgets, in
// thousandths of epsilon.
const budgetCounter = "size_epsilon_milli"

// Size answers the size of the tenant's audience: the release of its
// current content if there is one, else a fresh release if the tenant's
// budget allows, else the last release, stale (see release.go). allow
// decides, for a fresh release, whether its lower bound may be shown.
func (s *Service) Size(ctx context.Context, tenant, id string, p SizePolicy, allow func(lower int64) (bool, error)) (SizeAnswer, error) {
	if _, err := s.Store.Audience(ctx, tenant, id); err != nil {
		return SizeAnswer{}, err
	}
	if p.PerRelease < 1 || p.PerDay < p.PerRelease {
		return SizeAnswer{}, errors.New("audience: the size policy needs 0 < epsilon per release <= epsilon per day")
	}
	now := s.now().UTC()
	start, end := access.Day.Bounds(now)
	subject := "tenant:" + tenant
	ans := SizeAnswer{PerDay: p.PerDay, RenewsAt: end}
	content, err := s.Store.SizeContent(ctx, id)
	if err != nil {
		return ans, err
	}
	last, err := s.Store.LastRelease(ctx, id)
	switch {
	case errors.Is(err, storeerr.ErrNotFound):
		last = Release{}
	case err != nil:
		return ans, err
	}
	// Version 0 with a release: the audience's batches are past their
	// retention, and nothing was applied since the release.
	if content.Version == 0 || (last.Status != "" && last.Version == content.Version) {
		_, used, err := s.Budget.Consume(ctx, subject, budgetCounter, start, 0, int64(p.PerDay))
		if err != nil {
			return ans, err
		}
		ans.Remaining = max(p.PerDay-Epsilon(used), 0)
		if last.Status == "" {
			ans.Release = Release{AudienceID: id, Status: StatusEmpty}
			return ans, nil
		}
		ans.Release = last
		return ans, nil
	}
	ok, used, err := s.Budget.Consume(ctx, subject, budgetCounter, start, int64(p.PerRelease), int64(p.PerDay))
	if err != nil {
		return ans, err
	}
	ans.Remaining = max(p.PerDay-Epsilon(used), 0)
	if !ok {
		ans.Stale = true
		if last.Status == "" {
			ans.Release = Release{AudienceID: id, Status: StatusBudgetSpent}
		} else {
			ans.Release = last
		}
		return ans, nil
	}
	noise := s.Noise
	if noise == nil {
		noise = NewNoise()
	}
	status, lower, upper, err := noise.Bounds(content.People, p.PerRelease, allow)
	if err != nil {
		return ans, err
	}
	r := Release{AudienceID: id, Version: content.Version, Status: status, Lower: lower, Upper: upper, Epsilon: p.PerRelease,
		At: now.Truncate(time.Microsecond)}
	if err := s.Store.PutRelease(ctx, r); err != nil {
		return ans, err
	}
	ans.Release, ans.Fresh = r, true
	return ans, nil
}

// Mirror is one batch of an extension, as the other party sends it: the
// link ids of the members its policies let through.
type Mirror struct {
	SourceParty    string
	SourceAudience string
	Tenant         string
	Name           string
	Purpose        string
	LinkIDs        []psi.LinkID
	SessionID      string
	Seq            int64
	Last           bool
}

// IsMirror reports whether id is a mirror's (MirrorID's; the ids the api
// gives audiences it creates never start so).
func IsMirror(id string) bool { return strings.HasPrefix(id, "ext_") }

// MirrorID is the id of the audience that mirrors another party's
// audience here: the same for every extension of it. A mirror's content
// version (Store.SizeContent) moves only when an extension's session is
// complete, so that how many batches it took, which depends on who has a
// link, shows in no release.
func MirrorID(sourceParty, sourceAudience string) string {
	sum := sha256.Sum256([]byte("linkd mirror\x00" + sourceParty + "\x00" + sourceAudience))
	return "ext_" + hex.EncodeToString(sum[:12])
}

// ApplyMirror builds the mirrored audience: the accounts of the link ids
// that may be shown the tenant's ads and whose (country, consent) allow
// lets through. A session of batches replaces the mirror as a whole.
func (s *Service) ApplyMirror(ctx context.Context, m Mirror, allow func(country string, consent bool) (bool, error)) (string, error) {
	id := MirrorID(m.SourceParty, m.SourceAudience)
	if m.Seq == 1 {
		err := s.Store.CreateAudience(ctx, Audience{ID: id, Tenant: m.Tenant, Name: m.Name, Purpose: m.Purpose, CreatedAt: s.now().UTC()})
		if err != nil && !errors.Is(err, storeerr.ErrConflict) {
			return "", err
		}
	}
	if _, err := s.Store.Audience(ctx, m.Tenant, id); err != nil {
		return "", err
	}
	accts, err := s.Store.LinkedAccounts(ctx, m.LinkIDs, m.Tenant, m.Purpose)
	if err != nil {
		return "", err
	}
	add := make([]string, 0, len(accts))
	for _, a := range accts {
		ok, err := allow(a.Country, a.Consent)
		if err != nil {
			return "", err
		}
		if ok {
			add = append(add, a.AccountID)
		}
	}
	_, err = s.Store.ApplyBatch(ctx, Batch{AudienceID: id, SessionID: m.SessionID, Seq: m.Seq, Last: m.Last, Add: add,
		Received: len(m.LinkIDs), Replace: true, At: s.now()})
	if errors.Is(err, storeerr.ErrConflict) {
		return "", ErrSessionComplete
	}
	return id, err
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// PerGroup is the allow an extension's sending and receiving sides take:
// it decides base for each group of people (country, consent) once, by
// decide (which audits the decision), and answers from memory after.
func PerGroup(base policies.Request, decide func(policies.Request) (bool, error)) func(country string, consent bool) (bool, error) {
	type group struct {
		country string
		consent bool
	}
	decided := map[group]bool{}
	return func(country string, consent bool) (bool, error) {
		g := group{country, consent}
		if v, ok := decided[g]; ok {
			return v, nil
		}
		q := base
		q.Region, q.Consent = country, consent
		ok, err := decide(q)
		if err != nil {
			return false, err
		}
		decided[g] = ok
		return ok, nil
	}
}
