// Package memstore is the embedded store: every storage interface of linkd
// in memory, for `make run` and fast tests. It behaves as the PostgreSQL
// store does (the conformance suite in internal/storetest holds both to
// that) but keeps nothing across restarts.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/store"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/job"
	"github.com/linkd/linkd/linking/link"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/signal"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/policies"
)

type batchKey struct {
	audience, session string
	seq               int64
}

type sessionKey struct{ audience, session string }

type checkpointKey struct {
	job, step string
	seq       int64
}

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	mu sync.RWMutex

	accounts map[string]directory.Account
	idx      map[idxKey]map[string]bool
	oprfIdx  map[oprfKey]map[string]bool

	links      map[string]link.Link
	linkOwners map[psi.LinkID]string

	audiences map[string]audience.Audience
	members   map[string]map[string]time.Time // audience → account → added or refreshed
	batches   map[batchKey]audience.BatchResult
	sessions  map[sessionKey]audience.Session
	versions  map[string]int64 // audience → content version
	releases  map[string]audience.Release
	applied   int64 // batches applied, for content versions

	signals  map[string]signal.Signal
	outbox   []queued
	outboxID int64
	// events for the webhook, kept when keepEvents is set
	keepEvents bool
	events     []queuedEvent
	eventSeq   int64

	auditLog []audit.Entry
	bundles  map[string][]policies.File

	stageOwn    map[stageKey][]linkjob.Row
	stageTheirs map[stageKey][]psi.Element
	staging     map[string]bool // jobs whose staging was started
	// what the last link run kept (see linkjob.Staging)
	keptOwn       map[string]linkjob.Row
	keptTheirs    map[psi.Element]int // each value's holders on the other side
	retired       map[psi.Element]int // each value's retired rows
	keptJob       string
	keptEpoch     uint32
	keptConfirmed time.Time
	changes       int64 // see linkjob.Staging.Changes

	apiKeys []access.Key

	jobs        map[string]job.Job
	checkpoints map[checkpointKey]job.Checkpoint

	usage map[usageKey]int64

	imports map[string]map[string]int // import run → account id → first line
}

type usageKey struct {
	subject, counter string
	start            int64
}

type idxKey struct {
	epoch uint32
	conv  phone.Convention
	idx   hashindex.Index
}

type oprfKey struct {
	epoch uint32
	out   [oprf.OutputSize]byte
}

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts:    map[string]directory.Account{},
		idx:         map[idxKey]map[string]bool{},
		oprfIdx:     map[oprfKey]map[string]bool{},
		links:       map[string]link.Link{},
		linkOwners:  map[psi.LinkID]string{},
		audiences:   map[string]audience.Audience{},
		members:     map[string]map[string]time.Time{},
		batches:     map[batchKey]audience.BatchResult{},
		sessions:    map[sessionKey]audience.Session{},
		versions:    map[string]int64{},
		releases:    map[string]audience.Release{},
		signals:     map[string]signal.Signal{},
		jobs:        map[string]job.Job{},
		checkpoints: map[checkpointKey]job.Checkpoint{},
		usage:       map[usageKey]int64{},
		imports:     map[string]map[string]int{},
		keptOwn:     map[string]linkjob.Row{},
		keptTheirs:  map[psi.Element]int{},
		retired:     map[psi.Element]int{},
		changes:     1,
	}
}

// retire moves the value kept for an account to the retired values.
func (s *Store) retire(id string) {
	if r, ok := s.keptOwn[id]; ok {
		s.retired[r.Value]++
		delete(s.keptOwn, id)
	}
}

func addTo[K comparable](m map[K]map[string]bool, k K, id string) {
	s := m[k]
	if s == nil {
		s = map[string]bool{}
		m[k] = s
	}
	s[id] = true
}

func removeFrom[K comparable](m map[K]map[string]bool, k K, id string) {
	if s := m[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// --- directory ---

func (s *Store) unindex(a directory.Account) {
	p := a.Pseudonyms
	removeFrom(s.idx, idxKey{a.Epoch, phone.ConventionDigits, p.IndexDigits}, a.ID)
	removeFrom(s.idx, idxKey{a.Epoch, phone.ConventionE164, p.IndexE164}, a.ID)
	removeFrom(s.oprfIdx, oprfKey{a.Epoch, p.OPRF}, a.ID)
}

// PutAccounts implements directory.Store.
func (s *Store) PutAccounts(_ context.Context, accounts []directory.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range accounts {
		if _, ok := s.accounts[a.ID]; ok {
			s.changes++ // as the SQL store counts: a batch holding a stored account
			break
		}
	}
	for _, a := range accounts {
		if old, ok := s.accounts[a.ID]; ok {
			if sameContent(old, a) {
				continue
			}
			s.unindex(old)
		}
		if r, ok := s.keptOwn[a.ID]; ok && r.Element != a.Pseudonyms.Link {
			s.retire(a.ID)
		}
		a.BlockedBusinesses = slices.Clone(a.BlockedBusinesses)
		a.UpdatedAt = a.UpdatedAt.UTC().Truncate(time.Microsecond)
		s.accounts[a.ID] = a
		p := a.Pseudonyms
		addTo(s.idx, idxKey{a.Epoch, phone.ConventionDigits, p.IndexDigits}, a.ID)
		addTo(s.idx, idxKey{a.Epoch, phone.ConventionE164, p.IndexE164}, a.ID)
		addTo(s.oprfIdx, oprfKey{a.Epoch, p.OPRF}, a.ID)
	}
	return nil
}

func sameContent(a, b directory.Account) bool {
	return a.Country == b.Country && a.AdOptOut == b.AdOptOut && a.AdsConsent == b.AdsConsent && slices.Equal(a.BlockedBusinesses, b.BlockedBusinesses) &&
		a.Epoch == b.Epoch && a.Pseudonyms == b.Pseudonyms
}

// Account implements directory.Store.
func (s *Store) Account(_ context.Context, id string) (directory.Account, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return directory.Account{}, store.ErrNotFound
	}
	a.BlockedBusinesses = slices.Clone(a.BlockedBusinesses)
	return a, nil
}

// CountAccounts implements directory.Store.
func (s *Store) CountAccounts(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.accounts)), nil
}

// EraseAccount implements directory.Store.
func (s *Store) EraseAccount(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return store.ErrNotFound
	}
	s.unindex(a)
	delete(s.accounts, id)
	s.changes++
	s.retire(id)
	s.unlink(id)
	for _, m := range s.members {
		delete(m, id)
	}
	for sid, sig := range s.signals {
		if sig.AccountID == id {
			delete(s.signals, sid)
			s.outbox = slices.DeleteFunc(s.outbox, func(q queued) bool { return q.signalID == sid })
			s.events = slices.DeleteFunc(s.events, func(e queuedEvent) bool { return e.signalID == sid })
		}
	}
	return nil
}

func (s *Store) eligible(id, tenant string, wantEligible bool) bool {
	a := s.accounts[id]
	if wantEligible && a.AdOptOut {
		return false
	}
	return tenant == "" || !slices.Contains(a.BlockedBusinesses, tenant)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// MatchHashes implements directory.Store.
func (s *Store) MatchHashes(_ context.Context, q directory.HashMatch) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.matchHashes(q), nil
}

func (s *Store) matchHashes(q directory.HashMatch) []string {
	found := map[string]bool{}
	for _, ix := range q.Indexes {
		for id := range s.idx[idxKey{q.Epoch, q.Convention, ix}] {
			if s.eligible(id, q.Tenant, q.Eligible) {
				found[id] = true
			}
		}
	}
	return sortedKeys(found)
}

// MatchOPRF implements directory.Store.
func (s *Store) MatchOPRF(_ context.Context, q directory.OPRFMatch) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.matchOPRF(q), nil
}

func (s *Store) matchOPRF(q directory.OPRFMatch) []string {
	found := map[string]bool{}
	for _, o := range q.Outputs {
		for id := range s.oprfIdx[oprfKey{q.Epoch, o}] {
			if s.eligible(id, q.Tenant, q.Eligible) {
				found[id] = true
			}
		}
	}
	return sortedKeys(found)
}

// LinkElements implements directory.Store.
func (s *Store) LinkElements(_ context.Context, epoch uint32, after string, limit int) ([]directory.LinkElement, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.accounts))
	for id, a := range s.accounts {
		if a.Epoch == epoch && id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]directory.LinkElement, len(ids))
	for i, id := range ids {
		out[i] = directory.LinkElement{AccountID: id, Element: s.accounts[id].Pseudonyms.Link}
	}
	return out, nil
}

// --- links ---

// PutLinks implements link.Store.
func (s *Store) PutLinks(_ context.Context, links []link.Link, _ int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range links {
		if _, ok := s.accounts[l.AccountID]; !ok {
			return store.ErrNotFound
		}
		if owner, ok := s.linkOwners[l.ID]; ok && owner != l.AccountID {
			return store.ErrConflict
		}
	}
	for _, l := range links {
		if old, ok := s.links[l.AccountID]; ok && old.ID == l.ID && old.Epoch == l.Epoch {
			continue
		}
		s.putLink(l)
	}
	return nil
}

// putLink sets an account's link, in place of the one it held.
func (s *Store) putLink(l link.Link) {
	s.unlink(l.AccountID)
	l.CreatedAt = l.CreatedAt.UTC().Truncate(time.Microsecond)
	s.links[l.AccountID] = l
	s.linkOwners[l.ID] = l.AccountID
}

// LinkOf implements link.Store.
func (s *Store) LinkOf(_ context.Context, accountID string) (link.Link, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.links[accountID]
	if !ok {
		return link.Link{}, store.ErrNotFound
	}
	return l, nil
}

// AccountOf implements link.Store.
func (s *Store) AccountOf(_ context.Context, id psi.LinkID) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.linkOwners[id]
	if !ok {
		return "", store.ErrNotFound
	}
	return a, nil
}

// DeleteLink implements link.Store.
func (s *Store) DeleteLink(_ context.Context, id psi.LinkID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.linkOwners[id]
	if !ok {
		return store.ErrNotFound
	}
	delete(s.linkOwners, id)
	delete(s.links, a)
	return nil
}

// CountLinks implements link.Store.
func (s *Store) CountLinks(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.links)), nil
}

// --- audiences ---

// CreateAudience implements audience.Store.
func (s *Store) CreateAudience(_ context.Context, a audience.Audience) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.audiences[a.ID]; ok {
		return store.ErrConflict
	}
	a.CreatedAt = a.CreatedAt.UTC().Truncate(time.Microsecond)
	s.audiences[a.ID] = a
	s.members[a.ID] = map[string]time.Time{}
	return nil
}

// Audience implements audience.Store.
func (s *Store) Audience(_ context.Context, tenant, id string) (audience.Audience, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.audiences[id]
	if !ok || a.Tenant != tenant {
		return audience.Audience{}, store.ErrNotFound
	}
	return a, nil
}

// ListAudiences implements audience.Store.
func (s *Store) ListAudiences(_ context.Context, tenant, after string, limit int) ([]audience.Audience, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []audience.Audience
	for _, a := range s.audiences {
		if a.Tenant == tenant && a.ID > after {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DeleteAudience implements audience.Store.
func (s *Store) DeleteAudience(_ context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[id]
	if !ok || a.Tenant != tenant {
		return store.ErrNotFound
	}
	delete(s.audiences, id)
	delete(s.members, id)
	delete(s.versions, id)
	delete(s.releases, id)
	for k := range s.batches {
		if k.audience == id {
			delete(s.batches, k)
		}
	}
	for k := range s.sessions {
		if k.audience == id {
			delete(s.sessions, k)
		}
	}
	return nil
}

// ApplyBatch implements audience.Store.
func (s *Store) ApplyBatch(_ context.Context, b audience.Batch) (audience.BatchResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.audiences[b.AudienceID]; !ok {
		return audience.BatchResult{}, store.ErrNotFound
	}
	if r, ok := s.batches[batchKey{b.AudienceID, b.SessionID, b.Seq}]; ok {
		r.Applied = false
		return r, nil
	}
	sk := sessionKey{b.AudienceID, b.SessionID}
	sess, ok := s.sessions[sk]
	if ok && sess.Complete {
		return audience.BatchResult{}, store.ErrConflict
	}
	for _, id := range append(slices.Clone(b.Add), b.Remove...) {
		if _, ok := s.accounts[id]; !ok {
			return audience.BatchResult{}, store.ErrNotFound
		}
	}
	matched := 0
	if m := b.Match; m != nil {
		var ids []string
		switch {
		case m.Hash != nil:
			ids = s.matchHashes(*m.Hash)
		case m.OPRF != nil:
			ids = s.matchOPRF(*m.OPRF)
		}
		matched = len(ids)
		if m.Remove {
			b.Remove = append(slices.Clone(b.Remove), ids...)
		} else {
			b.Add = append(slices.Clone(b.Add), ids...)
		}
	}
	m := s.members[b.AudienceID]
	at := b.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	for _, id := range b.Add {
		m[id] = at
	}
	for _, id := range b.Remove {
		delete(m, id)
	}
	started := sess.StartedAt
	if !ok {
		started = at
	}
	if b.Replace && b.Last {
		for id, added := range m {
			if added.Before(started) {
				delete(m, id)
			}
		}
	}
	r := audience.BatchResult{Applied: true, Received: b.Received, Invalid: b.Invalid}
	s.batches[batchKey{b.AudienceID, b.SessionID, b.Seq}] = r
	s.applied++
	if !audience.IsMirror(b.AudienceID) || b.Last {
		s.versions[b.AudienceID] = s.applied
	}
	r.Matched = matched
	s.sessions[sk] = audience.Session{AudienceID: b.AudienceID, ID: b.SessionID, Batches: sess.Batches + 1,
		Complete: b.Last, UpdatedAt: at, StartedAt: started}
	return r, nil
}

// Session implements audience.Store.
func (s *Store) Session(_ context.Context, audienceID, sessionID string) (audience.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess, ok := s.sessions[sessionKey{audienceID, sessionID}]
	if !ok {
		return audience.Session{}, store.ErrNotFound
	}
	return sess, nil
}

// Members implements audience.Store.
func (s *Store) Members(_ context.Context, audienceID string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.members[audienceID]
	if !ok {
		return nil, store.ErrNotFound
	}
	return sortedKeys(m), nil
}

// SizeContent implements audience.Store.
func (s *Store) SizeContent(_ context.Context, audienceID string) (audience.Content, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.audiences[audienceID]; !ok {
		return audience.Content{}, store.ErrNotFound
	}
	numbers := map[hashindex.Index]bool{}
	for id := range s.members[audienceID] {
		numbers[s.accounts[id].Pseudonyms.IndexE164] = true
	}
	return audience.Content{Version: s.versions[audienceID], People: int64(len(numbers))}, nil
}

// LastRelease implements audience.Store.
func (s *Store) LastRelease(_ context.Context, audienceID string) (audience.Release, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.releases[audienceID]
	if !ok {
		return audience.Release{}, store.ErrNotFound
	}
	return r, nil
}

// PutRelease implements audience.Store.
func (s *Store) PutRelease(_ context.Context, r audience.Release) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.audiences[r.AudienceID]; !ok {
		return store.ErrNotFound
	}
	r.At = r.At.UTC().Truncate(time.Microsecond)
	s.releases[r.AudienceID] = r
	return nil
}

// --- retention ---

// PurgeMemberships implements retention.Store.
func (s *Store) PurgeMemberships(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, m := range s.members {
		for id, at := range m {
			if at.Before(before) {
				delete(m, id)
				n++
			}
		}
	}
	return n, nil
}

// PurgeSessions implements retention.Store: the sessions and the record of
// their batches.
func (s *Store) PurgeSessions(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, sess := range s.sessions {
		if sess.UpdatedAt.Before(before) {
			delete(s.sessions, k)
			for bk := range s.batches {
				if bk.audience == k.audience && bk.session == k.session {
					delete(s.batches, bk)
				}
			}
			n++
		}
	}
	return n, nil
}

// PurgeSignals implements retention.Store: the signals and their outbox
// entries.
func (s *Store) PurgeSignals(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, sg := range s.signals {
		if sg.CreatedAt.Before(before) {
			delete(s.signals, id)
			s.outbox = slices.DeleteFunc(s.outbox, func(q queued) bool { return q.signalID == id })
			s.events = slices.DeleteFunc(s.events, func(e queuedEvent) bool { return e.signalID == id })
			n++
		}
	}
	return n, nil
}

// PurgeLinks implements retention.Store: a link's age counts from its
// creation or the last full link run, whichever is later; expired links
// end what the last link run kept.
func (s *Store) PurgeLinks(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.unlinkWhere(func(_ string, l link.Link) bool {
		return l.CreatedAt.Before(before) && (s.keptJob == "" || s.keptConfirmed.Before(before))
	})
	if n > 0 {
		s.keptJob = ""
	}
	return n, nil
}

// Relink implements linkjob.Staging: Matched's links replace the links
// held, but for those made since the run started for accounts that hold
// a kept row and are not matched.
func (s *Store) Relink(ctx context.Context, k linkjob.Keep, mk func(linkjob.Row) link.Link) error {
	fresh := map[string]link.Link{}
	err := s.Matched(ctx, k, linkjob.DefaultBatch, func(rows []linkjob.Row) error {
		for _, r := range rows {
			fresh[r.AccountID] = mk(r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	goes := func(acct string, l link.Link) bool {
		n, ok := fresh[acct]
		if ok && n.ID == l.ID && n.Epoch == l.Epoch {
			return false
		}
		_, kept := s.keptOwn[acct]
		return ok || !kept || l.CreatedAt.Before(k.Confirmed)
	}
	// Checked before anything changes: as a whole or not at all.
	for acct, l := range fresh {
		if _, ok := s.accounts[acct]; !ok {
			return store.ErrNotFound
		}
		if owner, ok := s.linkOwners[l.ID]; ok && owner != acct && !goes(owner, s.links[owner]) {
			return store.ErrConflict
		}
	}
	s.unlinkWhere(goes)
	for acct, l := range fresh {
		if _, held := s.links[acct]; !held {
			s.putLink(l)
		}
	}
	return nil
}

// --- signals ---

// queued is an outbox entry: the message is built when it is read.
type queued struct {
	id       int64
	signalID string
	kind     string
}

func (s *Store) queue(signalID, kind string) {
	s.outboxID++
	s.outbox = append(s.outbox, queued{id: s.outboxID, signalID: signalID, kind: kind})
}

func normSignal(sig signal.Signal) signal.Signal {
	sig.CreatedAt = sig.CreatedAt.UTC().Truncate(time.Microsecond)
	sig.ExpiresAt = sig.ExpiresAt.UTC().Truncate(time.Microsecond)
	return sig
}

// Subject implements signal.Store.
func (s *Store) Subject(_ context.Context, accountID string) (signal.Subject, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[accountID]
	if !ok {
		return signal.Subject{}, store.ErrNotFound
	}
	l, linked := s.links[accountID]
	return signal.Subject{Country: a.Country, LinkID: l.ID, Linked: linked}, nil
}

// CreateSignal implements signal.Store.
func (s *Store) CreateSignal(_ context.Context, sig signal.Signal, relay bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.signals[sig.ID]; ok {
		return store.ErrConflict
	}
	if _, ok := s.accounts[sig.AccountID]; !ok {
		return store.ErrNotFound
	}
	s.signals[sig.ID] = normSignal(sig)
	if relay {
		s.queue(sig.ID, "signal")
	}
	return nil
}

// Receive implements signal.Store.
func (s *Store) Receive(_ context.Context, msgs []signal.Message) ([]signal.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]signal.Outcome, len(msgs))
	for i, m := range msgs {
		old, known := s.signals[m.ID]
		acct, linked := s.linkOwners[m.LinkID]
		switch {
		case m.Kind == signal.KindRevoke && known && old.Direction == signal.Inbound && old.Status != "revoked":
			old.Status = "revoked"
			s.signals[m.ID] = old
			out[i] = signal.Applied
			s.event(m.ID, signal.EventRevoked)
		case known:
			out[i] = signal.Duplicate
		case !linked:
			out[i] = signal.Unlinked
		default:
			status := "open"
			if m.Kind == signal.KindRevoke {
				status = "revoked"
			}
			s.signals[m.ID] = normSignal(signal.Signal{ID: m.ID, Direction: signal.Inbound, AccountID: acct, LinkID: m.LinkID,
				Type: m.Type, Confidence: m.Confidence, Status: status, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt})
			out[i] = signal.Applied
			if status == "open" {
				s.event(m.ID, signal.EventReceived)
			}
		}
	}
	return out, nil
}

// event queues news for the webhook, if one is set.
func (s *Store) event(signalID, name string) {
	if s.keepEvents {
		s.eventSeq++
		s.events = append(s.events, queuedEvent{seq: s.eventSeq, signalID: signalID, name: name})
	}
}

type queuedEvent struct {
	seq      int64
	signalID string
	name     string
}

// KeepEvents implements signal.Store.
func (s *Store) KeepEvents(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepEvents = on
}

// PendingEvents implements signal.Store.
func (s *Store) PendingEvents(_ context.Context, limit int) ([]signal.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]signal.Event, 0, min(limit, len(s.events)))
	for _, e := range s.events[:min(limit, len(s.events))] {
		out = append(out, signal.Event{Seq: e.seq, Name: e.name, Signal: s.signals[e.signalID]})
	}
	return out, nil
}

// MarkEventsSent implements signal.Store.
func (s *Store) MarkEventsSent(_ context.Context, seqs []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = slices.DeleteFunc(s.events, func(e queuedEvent) bool { return slices.Contains(seqs, e.seq) })
	return nil
}

// Signal implements signal.Store.
func (s *Store) Signal(_ context.Context, id string) (signal.Signal, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sig, ok := s.signals[id]
	if !ok {
		return signal.Signal{}, store.ErrNotFound
	}
	return sig, nil
}

// ListSignals implements signal.Store.
func (s *Store) ListSignals(_ context.Context, f signal.Filter) ([]signal.Signal, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []signal.Signal
	for _, sig := range s.signals {
		if sig.Direction == f.Direction && sig.ID > f.After &&
			(f.Status == "" || sig.Status == f.Status) && (f.Type == "" || sig.Type == f.Type) {
			out = append(out, sig)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Decide implements signal.Store.
func (s *Store) Decide(_ context.Context, id, status, reviewer, reason string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig, ok := s.signals[id]
	if !ok || sig.Direction != signal.Inbound {
		return store.ErrNotFound
	}
	sig.Status, sig.Decision, sig.Reviewer, sig.Reason, sig.DecidedAt = status, status, reviewer, reason, at.UTC().Truncate(time.Microsecond)
	s.signals[id] = sig
	return nil
}

// SetStatus implements signal.Store.
func (s *Store) SetStatus(_ context.Context, id, status string, relay bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sig, ok := s.signals[id]
	if !ok {
		return store.ErrNotFound
	}
	sig.Status = status
	s.signals[id] = sig
	if relay {
		s.queue(id, "revoke")
	}
	return nil
}

// PendingOutbox implements signal.Store.
func (s *Store) PendingOutbox(_ context.Context, limit int) ([]signal.OutboxEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]signal.OutboxEntry, 0, min(limit, len(s.outbox)))
	for _, q := range s.outbox[:min(limit, len(s.outbox))] {
		out = append(out, signal.OutboxEntry{ID: q.id, Message: signal.MessageOf(s.signals[q.signalID], q.kind)})
	}
	return out, nil
}

// MarkDelivered implements signal.Store.
func (s *Store) MarkDelivered(_ context.Context, ids []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox = slices.DeleteFunc(s.outbox, func(q queued) bool { return slices.Contains(ids, q.id) })
	return nil
}

// --- audit ---

// AppendAudit implements audit.Store.
func (s *Store) AppendAudit(_ context.Context, e audit.Entry, c *audit.Chain) (audit.Entry, error) {
	if c == nil {
		return audit.Entry{}, errors.New("memstore: an audit entry needs the chain key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev [32]byte
	if n := len(s.auditLog); n > 0 {
		prev = s.auditLog[n-1].Hash
	}
	e.Seq = int64(len(s.auditLog)) + 1
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	c.Link(prev, &e)
	s.auditLog = append(s.auditLog, e)
	return e, nil
}

// LastAudit implements audit.Store.
func (s *Store) LastAudit(context.Context) (audit.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.auditLog) == 0 {
		return audit.Entry{}, store.ErrNotFound
	}
	return s.auditLog[len(s.auditLog)-1], nil
}

// AuditEntries implements audit.Store.
func (s *Store) AuditEntries(_ context.Context, f audit.Filter) ([]audit.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []audit.Entry
	for _, e := range s.auditLog {
		if len(out) == f.Limit {
			break
		}
		if e.Seq > f.After && (f.Actor == "" || e.Actor == f.Actor) && (f.Tenant == "" || e.Tenant == f.Tenant) &&
			(f.Action == "" || e.Action == f.Action) && (f.Decision == "" || e.Decision == f.Decision) {
			out = append(out, e)
		}
	}
	return out, nil
}

// TamperAudit changes a stored entry's field in place, for tests that show
// audit.Verify finds it. The PostgreSQL store is tampered with plain SQL.
func (s *Store) TamperAudit(seq int64, resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.auditLog {
		if s.auditLog[i].Seq == seq {
			s.auditLog[i].Resource = resource
		}
	}
}

// --- policy bundles ---

// SaveBundle implements policies.Archive.
func (s *Store) SaveBundle(_ context.Context, h string, files []policies.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bundles == nil {
		s.bundles = map[string][]policies.File{}
	}
	if _, ok := s.bundles[h]; !ok {
		s.bundles[h] = slices.Clone(files)
	}
	return nil
}

// BundleFiles implements policies.Archive.
func (s *Store) BundleFiles(_ context.Context, h string) ([]policies.File, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.bundles[h]
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(f), nil
}

// --- API keys ---

// CreateAPIKey implements access.Store.
func (s *Store) CreateAPIKey(_ context.Context, k access.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.apiKeys {
		if o.ID == k.ID || o.Hash == k.Hash {
			return store.ErrConflict
		}
	}
	k.CreatedAt = k.CreatedAt.UTC().Truncate(time.Microsecond)
	s.apiKeys = append(s.apiKeys, k)
	return nil
}

// APIKeyByHash implements access.Store.
func (s *Store) APIKeyByHash(_ context.Context, h access.Hash) (access.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.apiKeys {
		if k.Hash.Equal(h) {
			return k, nil
		}
	}
	return access.Key{}, store.ErrNotFound
}

// ListAPIKeys implements access.Store.
func (s *Store) ListAPIKeys(context.Context) ([]access.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.apiKeys), nil
}

// RevokeAPIKey implements access.Store.
func (s *Store) RevokeAPIKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.apiKeys {
		if s.apiKeys[i].ID == id {
			if s.apiKeys[i].RevokedAt.IsZero() {
				s.apiKeys[i].RevokedAt = at.UTC().Truncate(time.Microsecond)
			}
			return nil
		}
	}
	return store.ErrNotFound
}

// --- jobs ---

// CreateJob implements job.Store.
func (s *Store) CreateJob(_ context.Context, j job.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok {
		return store.ErrConflict
	}
	j.CreatedAt = j.CreatedAt.UTC().Truncate(time.Microsecond)
	j.UpdatedAt = j.CreatedAt
	j.Params, j.Progress = slices.Clone(j.Params), slices.Clone(j.Progress)
	s.jobs[j.ID] = j
	return nil
}

// Job implements job.Store.
func (s *Store) Job(_ context.Context, id string) (job.Job, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j, ok := s.jobs[id]
	if !ok {
		return job.Job{}, store.ErrNotFound
	}
	j.Params, j.Progress = slices.Clone(j.Params), slices.Clone(j.Progress)
	return j, nil
}

// UpdateJob implements job.Store.
func (s *Store) UpdateJob(_ context.Context, id, state string, progress []byte, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return store.ErrNotFound
	}
	if j.State != job.Superseded {
		j.State = state
	}
	j.Progress, j.UpdatedAt = slices.Clone(progress), at.UTC().Truncate(time.Microsecond)
	s.jobs[id] = j
	return nil
}

// PutCheckpoint implements job.Store.
func (s *Store) PutCheckpoint(_ context.Context, c job.Checkpoint) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[c.JobID]; !ok {
		return false, store.ErrNotFound
	}
	k := checkpointKey{c.JobID, c.Step, c.Seq}
	if _, ok := s.checkpoints[k]; ok {
		return false, nil
	}
	c.Data = slices.Clone(c.Data)
	s.checkpoints[k] = c
	return true, nil
}

// Checkpoints implements job.Store.
func (s *Store) Checkpoints(_ context.Context, jobID, step string) ([]job.Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []job.Checkpoint
	for k, c := range s.checkpoints {
		if k.job == jobID && k.step == step {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// --- usage ---

// Consume implements access.Usage.
func (s *Store) Consume(_ context.Context, subject, counter string, start time.Time, n, max int64) (bool, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := usageKey{subject, counter, start.UTC().UnixMicro()}
	used := s.usage[k]
	if used+n > max {
		return false, used, nil
	}
	s.usage[k] = used + n
	return true, used + n, nil
}

// --- link job staging ---

type stageKey struct {
	job string
	seq int64
}

// StageOwn implements linkjob.Staging.
func (s *Store) StageOwn(_ context.Context, jobID string, seq int64, rows []linkjob.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stageOwn == nil {
		s.stageOwn = map[stageKey][]linkjob.Row{}
	}
	s.stageOwn[stageKey{jobID, seq}] = slices.Clone(rows)
	return nil
}

// OwnBatch implements linkjob.Staging.
func (s *Store) OwnBatch(_ context.Context, jobID string, seq int64) ([]linkjob.Row, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.stageOwn[stageKey{jobID, seq}]), nil
}

// BatchEnd implements linkjob.Staging.
func (s *Store) BatchEnd(_ context.Context, jobID string, seq int64) (int, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rows := s.stageOwn[stageKey{jobID, seq}]
	last := ""
	for _, r := range rows {
		last = max(last, r.AccountID)
	}
	return len(rows), last, nil
}

// SetOwnValues implements linkjob.Staging.
func (s *Store) SetOwnValues(_ context.Context, jobID string, seq int64, values []psi.Element) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := s.stageOwn[stageKey{jobID, seq}]
	if len(rows) != len(values) {
		return fmt.Errorf("memstore: batch %d has %d rows, got %d values", seq, len(rows), len(values))
	}
	rows = slices.Clone(rows)
	for i := range rows {
		rows[i].Value = values[i]
	}
	s.stageOwn[stageKey{jobID, seq}] = rows
	return nil
}

// StageTheirs implements linkjob.Staging.
func (s *Store) StageTheirs(_ context.Context, jobID string, seq int64, values []psi.Element) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stageTheirs == nil {
		s.stageTheirs = map[stageKey][]psi.Element{}
	}
	s.stageTheirs[stageKey{jobID, seq}] = slices.Clone(values)
	return nil
}

// TheirBatch implements linkjob.Staging.
func (s *Store) TheirBatch(_ context.Context, jobID string, seq int64) ([]psi.Element, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.stageTheirs[stageKey{jobID, seq}]), nil
}

// TrimTheirs implements linkjob.Staging.
func (s *Store) TrimTheirs(_ context.Context, jobID string, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.stageTheirs {
		if k.job == jobID && k.seq > seq {
			delete(s.stageTheirs, k)
		}
	}
	return nil
}

// Matched implements linkjob.Staging.
func (s *Store) Matched(_ context.Context, k linkjob.Keep, limit int, each func([]linkjob.Row) error) error {
	s.mu.Lock()
	holders := s.ownHolders()
	var touched map[psi.Element]bool
	if !k.Full {
		touched = s.touched(k)
	}
	var out []linkjob.Row
	for id, r := range s.keptOwn {
		switch {
		case !k.Full && !touched[r.Value]:
		case s.links1(r.Value, holders):
			out = append(out, r)
		case s.keptTheirs[r.Value] > 0:
			s.unlink(id) // held twice, on one side or both
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b linkjob.Row) int { return strings.Compare(a.AccountID, b.AccountID) })
	for len(out) > 0 {
		n := min(limit, len(out))
		if err := each(out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// ownHolders counts the kept rows holding each value.
func (s *Store) ownHolders() map[psi.Element]int {
	m := make(map[psi.Element]int, len(s.keptOwn))
	for _, r := range s.keptOwn {
		m[r.Value]++
	}
	return m
}

// links1 says whether a kept value links: one kept row holds it, and the
// other party's kept values hold it once.
func (s *Store) links1(v psi.Element, holders map[psi.Element]int) bool {
	return holders[v] == 1 && s.keptTheirs[v] == 1
}

// touched is the values job k changed the holders of: staged on either
// side, or retired by either party.
func (s *Store) touched(k linkjob.Keep) map[psi.Element]bool {
	m := map[psi.Element]bool{}
	for r := range s.ownStaged(k.JobID) {
		if r.Value != (psi.Element{}) {
			m[r.Value] = true
		}
	}
	for v := range s.theirsStaged(k.JobID) {
		m[v] = true
	}
	for _, v := range slices.Concat(k.Retired, k.PeerRetired) {
		m[v] = true
	}
	return m
}

// Changes implements linkjob.Staging.
func (s *Store) Changes(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changes, nil
}

// Kept implements linkjob.Staging.
func (s *Store) Kept(context.Context) (string, uint32, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keptJob, s.keptEpoch, nil
}

// Retired implements linkjob.Staging.
func (s *Store) Retired(_ context.Context, limit int) ([]psi.Element, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []psi.Element
	for v, n := range s.retired {
		for range n {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b psi.Element) int { return bytes.Compare(a[:], b[:]) })
	return out[:min(limit, len(out))], nil
}

// NewElements implements linkjob.Staging.
func (s *Store) NewElements(ctx context.Context, epoch uint32, after string, limit int) ([]directory.LinkElement, error) {
	var out []directory.LinkElement
	for {
		els, _ := s.LinkElements(ctx, epoch, after, limit)
		s.mu.RLock()
		for _, e := range els {
			if r, ok := s.keptOwn[e.AccountID]; !ok || r.Element != e.Element {
				out = append(out, e)
			}
		}
		s.mu.RUnlock()
		if len(els) < limit || len(out) >= limit {
			return out[:min(limit, len(out))], nil
		}
		after = els[len(els)-1].AccountID
	}
}

// Keep implements linkjob.Staging.
func (s *Store) Keep(_ context.Context, k linkjob.Keep) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keptJob == k.JobID {
		return nil
	}
	if s.jobs[k.JobID].State == job.Superseded {
		return linkjob.SupersededError(k.JobID)
	}
	if !s.staging[k.JobID] {
		return linkjob.LostError(k.JobID)
	}
	if !k.Full && s.keptJob != k.Base {
		return linkjob.StaleError(k, s.keptJob)
	}
	defer s.supersede(k)
	if k.Full {
		s.keptOwn, s.keptTheirs, s.retired = map[string]linkjob.Row{}, map[psi.Element]int{}, map[psi.Element]int{}
	} else {
		uncount(s.retired, k.Retired)
		uncount(s.keptTheirs, k.PeerRetired)
	}
	for r := range s.ownStaged(k.JobID) {
		if !k.Full {
			s.unlink(r.AccountID)
		}
		if r.Value == (psi.Element{}) {
			continue
		}
		if a, ok := s.accounts[r.AccountID]; ok && a.Pseudonyms.Link == r.Element {
			s.keptOwn[r.AccountID] = r
		} else {
			s.retired[r.Value]++
		}
	}
	for v := range s.theirsStaged(k.JobID) {
		s.keptTheirs[v]++
	}
	if !k.Full {
		// Values whose holders changed in number are linked anew by
		// Matched, or not.
		touched := s.touched(k)
		for id, r := range s.keptOwn {
			if touched[r.Value] {
				s.unlink(id)
			}
		}
	}
	s.keptJob, s.keptEpoch = k.JobID, k.Epoch
	if k.Full {
		s.keptConfirmed = k.Confirmed
	}
	return nil
}

// uncount takes values, each as many times as listed, out of counted
// values; a value counted no more is deleted.
func uncount(m map[psi.Element]int, values []psi.Element) {
	for _, v := range values {
		if m[v] <= 1 {
			delete(m, v)
		} else {
			m[v]--
		}
	}
}

// ownStaged yields a job's staged rows of this party's, every batch's.
func (s *Store) ownStaged(jobID string) iter.Seq[linkjob.Row] {
	return func(yield func(linkjob.Row) bool) {
		for k, rows := range s.stageOwn {
			if k.job != jobID {
				continue
			}
			for _, r := range rows {
				if !yield(r) {
					return
				}
			}
		}
	}
}

// theirsStaged yields a job's staged values of the other party's.
func (s *Store) theirsStaged(jobID string) iter.Seq[psi.Element] {
	return func(yield func(psi.Element) bool) {
		for k, vs := range s.stageTheirs {
			if k.job != jobID {
				continue
			}
			for _, v := range vs {
				if !yield(v) {
					return
				}
			}
		}
	}
}

// unlinkWhere deletes the links for which drop says so, and counts them.
func (s *Store) unlinkWhere(drop func(accountID string, l link.Link) bool) int64 {
	var n int64
	for acct, l := range s.links {
		if drop(acct, l) {
			s.unlink(acct)
			n++
		}
	}
	return n
}

// unlink deletes an account's link, if it has one.
func (s *Store) unlink(id string) {
	if l, ok := s.links[id]; ok {
		delete(s.linkOwners, l.ID)
		delete(s.links, id)
	}
}

// StartStaging implements linkjob.Staging.
func (s *Store) StartStaging(_ context.Context, jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staging == nil {
		s.staging = map[string]bool{}
	}
	s.staging[jobID] = true
	return nil
}

// Staged implements linkjob.Staging: the memory store loses its staging
// only with everything else.
func (s *Store) Staged(_ context.Context, jobID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.staging[jobID], nil
}

// DropStaging implements linkjob.Staging.
func (s *Store) DropStaging(_ context.Context, jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropStaging(func(id string) bool { return id == jobID })
	return nil
}

func (s *Store) dropStaging(drop func(jobID string) bool) {
	for id := range s.staging {
		if drop(id) {
			delete(s.staging, id)
		}
	}
	for k := range s.stageOwn {
		if drop(k.job) {
			delete(s.stageOwn, k)
		}
	}
	for k := range s.stageTheirs {
		if drop(k.job) {
			delete(s.stageTheirs, k)
		}
	}
}

// supersede is Keep's: the link jobs begun before k's that are not done
// are superseded, and the staging of every job begun before it goes.
func (s *Store) supersede(k linkjob.Keep) {
	before := func(id string) bool {
		j, ok := s.jobs[id]
		return ok && id != k.JobID && j.CreatedAt.Before(k.Confirmed)
	}
	for id, j := range s.jobs {
		if j.Kind == linkjob.Kind && before(id) && (j.State == job.Running || j.State == job.Failed) {
			j.State, j.UpdatedAt = job.Superseded, time.Now().UTC().Truncate(time.Microsecond)
			s.jobs[id] = j
		}
	}
	s.dropStaging(before)
}

// LinkedMembers implements audience.Store.
func (s *Store) LinkedMembers(_ context.Context, audienceID, after string, limit int) ([]audience.LinkedMember, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []audience.LinkedMember
	for id := range s.members[audienceID] {
		l, ok := s.links[id]
		if !ok || id <= after {
			continue
		}
		a := s.accounts[id]
		out = append(out, audience.LinkedMember{AccountID: id, Country: a.Country, Consent: a.AdsConsent, LinkID: l.ID})
	}
	slices.SortFunc(out, func(a, b audience.LinkedMember) int { return strings.Compare(a.AccountID, b.AccountID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// LinkedAccounts implements audience.Store.
func (s *Store) LinkedAccounts(_ context.Context, ids []psi.LinkID, tenant string) ([]audience.LinkedMember, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []audience.LinkedMember
	seen := map[string]bool{}
	for _, lid := range ids {
		id, ok := s.linkOwners[lid]
		if !ok || seen[id] || !s.eligible(id, tenant, true) {
			continue
		}
		seen[id] = true
		a := s.accounts[id]
		out = append(out, audience.LinkedMember{AccountID: id, Country: a.Country, Consent: a.AdsConsent, LinkID: lid})
	}
	slices.SortFunc(out, func(a, b audience.LinkedMember) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

// ClaimIDs implements directory.Store.
func (s *Store) ClaimIDs(_ context.Context, run string, ids []string, lines []int) ([]directory.Claimed, error) {
	if len(ids) != len(lines) {
		return nil, errors.New("memstore: ClaimIDs needs a line for each id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.imports[run]
	if seen == nil {
		seen = map[string]int{}
		s.imports[run] = seen
	}
	var out []directory.Claimed
	for i, id := range ids {
		if first, ok := seen[id]; ok {
			out = append(out, directory.Claimed{Index: i, FirstLine: first})
			continue
		}
		seen[id] = lines[i]
	}
	return out, nil
}

// EndImport implements directory.Store.
func (s *Store) EndImport(_ context.Context, run string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.imports, run)
	return nil
}
