// Package linkjob runs ECDH-PSI between the two parties and derives the
// shared link ids of the people on both services.
//
//	initiator A (key a)                          responder B (key b)
//	---------------                              ---------------
//	Open(job, epoch, |A|)            ------>     opens the job      -> |B|
//	for each batch of A's elements, shuffled:
//	  [a·H(x)]                       ------>     b·(a·H(x)): kept as "theirs"
//	  keeps (x's account, ab·H(x))   <------     [ab·H(x)] in the same order
//	for each batch of B's elements, shuffled by B:
//	                                 <------     [b·H(y)], B keeps its rows
//	  a·(b·H(y)): kept as "theirs"
//	  [ab·H(y)]                      ------>     B keeps (y's account, ab·H(y))
//	Finish(job)                      ------>     B matches its rows against theirs
//	A matches its rows against theirs            and both derive, for each match,
//	                                             link id = HKDF(ab·H(e164), epoch)
//
// The doubly blinded values are compared in the store (a join), never in
// one map in memory: memory is bounded by the batch. A run replaces the
// party's links: an account that no longer matches loses its link.
//
// # Leakage
//
// What each party learns, in the semi-honest model (both follow the
// protocol; DDH in the random-oracle model for H, RFC 9380's hash to
// curve25519, in the X25519 link group of crypto/psi, whose file
// security.go says why a deviating peer's twist and small-order points
// change nothing below):
//
//   - which of its own accounts are also on the other service, and the
//     link id of each (the same id the other derives);
//   - the other's set size (sent when the job opens, and visible anyway in
//     the number of elements it sends), and how many people are common;
//   - the other's doubly blinded values, which it can only compare with its
//     own: a value that matches none of its own says nothing of the number
//     behind it. Equal values are equal numbers, so it also learns how many
//     of the other's numbers more than one account holds, and how many
//     accounts hold each (not which numbers, unless it holds them too).
//
// What it does not learn: any number, hash or account id of the other; the
// other's singly blinded elements are pseudorandom group elements without
// the other's key. Positions do not help either: each side shuffles every
// batch it sends, and batches follow account ids, which are opaque.
//
// What the protocol does not protect against: a party that deviates, for
// example one that puts numbers it wants to test into its own set, learns
// whether they are on the other service, as if they were its users (any
// PSI allows this); the parties are two services of one operator, each
// authenticated by the party key the other issued. Link ids are derived
// from the doubly blinded value, so both parties can compute them and no
// one else can; they change with the linking epoch.
//
// Every batch is checkpointed: a job stopped at any point and run again
// with the same id skips what was done, and a batch sent twice is applied
// once (staging is keyed by job, batch and position). The directory may
// change before the job is resumed: the batches a party staged are sent
// again as they were (the other party re-blinds nothing new for them),
// the rest are read as the directory is then, and the last batch tells
// the other party to drop any later one an earlier attempt sent, so no
// account counts twice and none is left out.
// A job outlives its processes, not a crash of a store that empties its
// staging (PostgreSQL's is unlogged, so that staging writes no log):
// each party notes when a job's staging starts (Staging.StartStaging),
// a crash forgets that with the staging, and the job, resumed, is
// refused by the party that lost it (ErrLost) rather than finish without
// the batches its checkpoints say were staged; a new run links afresh.
// A job that is not resumed is superseded by the first run begun after
// it that finishes: that run's Keep marks it store.JobSuperseded on each party
// and drops its staging, and the job is refused from then on
// (ErrSuperseded), so abandoned jobs do not keep their rows.
//
// # Numbers held twice
//
// A number that more than one account holds, on either side, links none
// of them: a link names one person on each service, and such a number
// does not say which account on the other side is the person. Each party
// sees it without asking: two of its own rows with one doubly blinded
// value, or one of the other's values received twice. Both sides apply
// the same rule to the same values, so they agree on every link id; when
// all but one holder of the number leave, it links again at the next run.
//
// # Incremental runs
//
// Once a run is done, each party keeps its rows' doubly blinded values
// and the other's values (Staging.Keep). The next run builds on them when
// both parties kept the same run in the same link epoch: each sends only
// the accounts whose element it has not kept (new accounts, changed
// numbers, a new key epoch) and hands the other, when the job opens, its
// retired values: those of numbers changed or erased since, which the
// other deletes from its kept set, dropping the links they made. The group
// operations are then in proportion to the change. A run is full (every
// account sent, the kept sets replaced) when it is asked to be, when the
// parties kept different runs or none, when the link epoch changed, or
// when a party has more than MaxRetired values to retire. Retention that
// expires links ends what a party kept, so the run after it is full; so
// may the store (what is kept is a cache of the last run: PostgreSQL
// holds it in unlogged tables, which a crash empties).
//
// An incremental run tells a party nothing a full run would not: the
// retired values it is handed are doubly blinded values it computed
// itself in an earlier run, and it learns which of them left, which the
// next full run would show it anyway as links gone.
package linkjob

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storeerr"
)

// DefaultBatch is how many elements go in one message.
const DefaultBatch = 10000

// MaxRetired is the most retired values a party hands over when a job
// opens; with more, the run is full.
const MaxRetired = DefaultBatch

// Jobs keeps jobs (a link run is one, of kind Kind) and their
// checkpoints, so that a job stopped at any point resumes where it was.
type Jobs interface {
	// CreateJob stores a new job; storeerr.ErrConflict if the id exists.
	CreateJob(ctx context.Context, j store.Job) error
	// Job returns a job, or storeerr.ErrNotFound.
	Job(ctx context.Context, id string) (store.Job, error)
	// ListJobs returns jobs of a kind, newest first, those created
	// before job before if it is set, at most limit.
	ListJobs(ctx context.Context, kind, before string, limit int) ([]store.Job, error)
	// UpdateJob sets a job's state and progress; a superseded job stays
	// superseded (its progress is set).
	UpdateJob(ctx context.Context, id string, state store.JobState, progress []byte, at time.Time) error
	// PutCheckpoint records a step once per (job, step, seq): applied is
	// false, and nothing changes, for one recorded before.
	PutCheckpoint(ctx context.Context, c store.Checkpoint) (applied bool, err error)
	// Checkpoints returns a job's checkpoints of one step in seq order.
	Checkpoints(ctx context.Context, jobID, step string) ([]store.Checkpoint, error)
}

// Links keeps the links runs found: for each of the party's accounts
// that is also on the other service, the link id both parties derived.
type Links interface {
	// PutLinks inserts the links of the given accounts, or replaces an
	// account's link whose id or epoch differs; a link held already as
	// given is left as it is (it keeps its creation time). A batch naming
	// an account that is not stored is storeerr.ErrNotFound and writes
	// nothing. changes is the directory's count of changes
	// (Staging.Changes) read before the accounts were found, 0 if
	// unknown: while it has not moved, no account can have gone, and the
	// store may spare looking them up.
	PutLinks(ctx context.Context, links []store.Link, changes int64) error
	// LinkOf returns the link of an account, or storeerr.ErrNotFound.
	LinkOf(ctx context.Context, accountID string) (store.Link, error)
	// AccountOf returns the account a link id belongs to, or
	// storeerr.ErrNotFound.
	AccountOf(ctx context.Context, id psi.LinkID) (string, error)
	// DeleteLink removes a link by its id (when the peer drops it).
	DeleteLink(ctx context.Context, id psi.LinkID) error
	// CountLinks returns how many links the party holds.
	CountLinks(ctx context.Context) (int64, error)
}

// Staging keeps a job's elements and doubly blinded values.
type Staging interface {
	// StageOwn replaces this party's rows of batch seq of the job.
	StageOwn(ctx context.Context, jobID string, seq int64, rows []Row) error
	// OwnBatch returns the rows of batch seq by position (none if not
	// staged).
	OwnBatch(ctx context.Context, jobID string, seq int64) ([]Row, error)
	// BatchEnd returns how many rows batch seq has staged (0 if none)
	// and the last of their accounts in the store's order of account
	// ids, without reading them.
	BatchEnd(ctx context.Context, jobID string, seq int64) (n int, last string, err error)
	// SetOwnValues sets the doubly blinded values of batch seq's rows, by
	// position; the count must be the batch's.
	SetOwnValues(ctx context.Context, jobID string, seq int64, values []psi.Element) error
	// StageTheirs replaces the other party's doubly blinded values of
	// batch seq.
	StageTheirs(ctx context.Context, jobID string, seq int64, values []psi.Element) error
	// StageReblinded stages, as StageTheirs does, the values this party
	// re-blinded for the peer's batch seq, counting those the batch's
	// staging did not hold before against the job's count of values
	// re-blinded; when that count would pass most it stages and counts
	// nothing. Count and staging are one: a batch is counted if and
	// only if it is staged. ErrNotFound if the job's staging was not
	// started, or was lost.
	StageReblinded(ctx context.Context, jobID string, seq int64, values []psi.Element, most int64) (Count, error)
	// TrimTheirs deletes the other party's values staged for the job's
	// batches after seq.
	TrimTheirs(ctx context.Context, jobID string, seq int64) error
	// DropStaging deletes the job's staging, and that it was started.
	DropStaging(ctx context.Context, jobID string) error
	// StartStaging records that the job's staging starts, empty: a job
	// calls it once, when it is created on this party, before staging
	// anything. A store whose staging a crash may empty (PostgreSQL's
	// is unlogged: a cache of a run under way, as the kept sets are of
	// the last one) forgets with it that the staging was started.
	StartStaging(ctx context.Context, jobID string) error
	// Staged reports whether the job's staging was started and is
	// whole: not dropped, nor lost since it was started.
	Staged(ctx context.Context, jobID string) (bool, error)

	// Changes counts the changes to stored accounts that can leave a
	// staged row without its account's element (an account's element
	// changed, an account erased; new accounts are not counted), from 1.
	// It is read once every such change in progress has committed: a job
	// that reads it before its first batch and finds it the same at Keep
	// knows that every staged row's account still holds its element.
	Changes(ctx context.Context) (int64, error)
	// Kept returns the job whose sets this party keeps and its link
	// epoch; an empty id if it keeps none.
	Kept(ctx context.Context) (jobID string, epoch uint32, err error)
	// Retired returns up to limit of this party's retired values: the
	// kept values of numbers changed or erased since, each as many times
	// as kept rows held it, in order.
	Retired(ctx context.Context, limit int) ([]psi.Element, error)
	// NewElements is directory.Store's LinkElements for the accounts
	// whose element is not kept (new accounts, changed numbers).
	NewElements(ctx context.Context, epoch uint32, after string, limit int) ([]directory.LinkElement, error)
	// Keep applies a job's staging to the kept sets, in one transaction,
	// once: kept again, the job changes nothing. A job whose staging is
	// not Staged is refused with ErrLost (see LostError). An incremental
	// job whose Base is no longer the run kept is refused with ErrStale
	// (see StaleError): its changes are of that run. In the same transaction
	// the job supersedes the link jobs begun before it (k.Confirmed) on
	// this party: each one not done is marked store.JobSuperseded, and the
	// staging of every one goes; a job so marked is refused with
	// ErrSuperseded (see SupersededError).
	Keep(ctx context.Context, k Keep) error
	// Matched calls each with this party's kept rows that link, after
	// Keep(k): a row links when its value is among the other's kept
	// values exactly once and no other kept row of this party's holds it
	// (a number that two accounts hold, on either side, links none of
	// them). For a full run, every such row; for an incremental one,
	// those whose value the job touched: staged on either side, or in
	// k.Retired or k.PeerRetired. In groups of at most limit, each
	// account once, in one pass. The rows it leaves out because their
	// value is held twice, on either side, lose their links.
	Matched(ctx context.Context, k Keep, limit int, each func([]Row) error) error
	// Relink replaces this party's links by those of a full run, after
	// Keep(k): a link, made by mk, for each row Matched(k) hands over;
	// the accounts it leaves out lose theirs, and the other links created
	// before k.Confirmed go (those of rows whose value is not among the
	// other's, or of accounts that hold no kept row). Links created since
	// stay. A link held already with the same id and epoch is left as it
	// is. One pass, as a whole or not at all; mk is called for one row
	// at a time, and reads only its account and value (a store need not
	// read the element).
	Relink(ctx context.Context, k Keep, mk func(Row) store.Link) error
}

// keepError is Keep's refusal of the job as this package says it: the
// store's errors of a stale, lost or superseded run become ErrStale,
// ErrLost and ErrSuperseded.
func keepError(k Keep, err error) error {
	switch {
	case errors.Is(err, store.ErrStale):
		return fmt.Errorf("%w: job %s builds on run %s, and this party has kept another run since: start a new run", ErrStale, k.JobID, k.Base)
	case errors.Is(err, store.ErrLost):
		return LostError(k.JobID)
	case errors.Is(err, store.ErrSuperseded):
		return SupersededError(k.JobID)
	}
	return err
}

// LostError is the refusal of job jobID, whose staging on this party
// was lost (or never started): what it staged before cannot be told from
// what it did not, so it cannot finish.
func LostError(jobID string) error {
	return fmt.Errorf("%w: job %s: the batches staged for it are gone (PostgreSQL restarted after a crash, which empties a run's staging); start a new run", ErrLost, jobID)
}

// SupersededError is the refusal of job jobID, which a run begun after
// it superseded by finishing first.
func SupersededError(jobID string) error {
	return fmt.Errorf("%w: job %s had not finished when a run begun after it finished; its staging is gone: start a new run", ErrSuperseded, jobID)
}

// Peer is the other party, as the initiator calls it.
type Peer interface {
	Open(ctx context.Context, o Open) (Opened, error)
	Reblind(ctx context.Context, jobID string, seq int64, elements []psi.Element) ([]psi.Element, error)
	Elements(ctx context.Context, jobID string, seq int64) (elements []psi.Element, last bool, err error)
	Reblinded(ctx context.Context, jobID string, seq int64, values []psi.Element) error
	Finish(ctx context.Context, jobID string) (Result, error)
}

// Open starts a job at the responder. Base is the job whose sets the
// initiator keeps, if it can build on them; Retired its retired values.
type Open struct {
	JobID string `json:"job_id"`
	Epoch uint32 `json:"link_epoch"`
	// Group is the link group the initiator's elements are in
	// (psi.Group); the responder refuses another.
	Group string `json:"link_group"`
	Size  int64  `json:"set_size"`
	// Most is the most elements the initiator will send to be
	// re-blinded in the job: its set and room for the accounts it gains
	// while the run goes on (see Declared). The responder re-blinds no
	// more; without it, no more than Size.
	Most      int64    `json:"max_elements,omitempty"`
	BatchSize int      `json:"batch_size"`
	Base      string   `json:"base,omitempty"`
	Retired   []string `json:"retired,omitempty"`
}

// Opened is the responder's answer: its set size, whether the run builds
// on the kept sets, and then the responder's retired values.
type Opened struct {
	// Group is the responder's link group, the initiator's own.
	Group       string   `json:"link_group"`
	Size        int64    `json:"set_size"`
	Incremental bool     `json:"incremental,omitempty"`
	Retired     []string `json:"retired,omitempty"`
}

// Result is a finished run, as each party sees it: the links it holds,
// the set sizes, and (for this party's view of the exchange) the elements
// sent and received and whether it built on the last run.
type Result struct {
	Matched     int64 `json:"matched"`
	OwnSize     int64 `json:"own_size"`
	PeerSize    int64 `json:"peer_size"`
	Sent        int64 `json:"sent"`
	Received    int64 `json:"received"`
	Incremental bool  `json:"incremental"`
	// Seconds is the job's duration, from its start (resumed attempts
	// and the time between them included) to its end.
	Seconds float64 `json:"seconds"`
	// Changed says that accounts of this party (or, in the initiator's
	// result, of either) changed number or were erased while the job
	// ran: the two parties may then hold different links until the next
	// run, which hands the changes over. PeerMatched is the links the
	// other party holds, in the initiator's result.
	Changed     bool  `json:"changed,omitempty"`
	PeerMatched int64 `json:"peer_matched,omitempty"`
}

// Errors of malformed or unexpected peer messages.
var (
	ErrProtocol = errors.New("linkjob: protocol error")
	// ErrStale is an incremental job resumed after another run was kept.
	ErrStale = errors.New("linkjob: stale job")
	// ErrSuperseded is a job that had not finished when a run begun
	// after it finished (see SupersededError).
	ErrSuperseded = errors.New("linkjob: superseded job")
	// ErrLost is a job whose staging is gone (see LostError).
	ErrLost = errors.New("linkjob: staging lost")
	// ErrEnded is a batch asked of a job that has ended on the party that
	// answers it: the responder re-blinds only for a live job.
	ErrEnded = errors.New("linkjob: the job has ended")
	// ErrGroup is a run between parties, or over a directory, of
	// different link groups (see GroupError).
	ErrGroup = errors.New("linkjob: link group mismatch")
	// ErrNoPeer is a run asked of a party that has no peer to link with.
	ErrNoPeer = errors.New("linkjob: this party has no peer configured (serve --peer)")
)

// codes are the errors that cross between the parties, and to the
// callers of the API, as codes: each comes back as the same error value
// (FromCode), never matched by its text.
var codes = []struct {
	code string
	err  error
}{
	{"protocol_error", ErrProtocol},
	{"staging_lost", ErrLost},
	{"job_ended", ErrEnded},
	{"superseded", ErrSuperseded},
	{"stale", ErrStale},
	{"directory_grew", ErrGrew},
	{"link_group", ErrGroup},
	{"not_configured", ErrNoPeer},
}

// Code is the code of err's first error value among the link errors
// above, "" if none.
func Code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// FromCode is the error of code with the other side's message, wrapping
// the error value of code (nil if code is none of them).
func FromCode(code, message string) error {
	for _, c := range codes {
		// Not this party's ErrNoPeer: the peer's own want of a peer is
		// an error of the peer's like any other.
		if c.code == code && c.err != ErrNoPeer {
			return fmt.Errorf("%w: the peer says: %s", c.err, strings.TrimPrefix(message, c.err.Error()+": "))
		}
	}
	return nil
}

// GroupError is the refusal of a run with a party whose link group is
// theirs (empty: a linkd before link groups were named, which links
// over ristretto255). A run's two parties must link in the same group:
// elements of two groups never match, so the run would link no one.
func GroupError(theirs string) error {
	if theirs == "" {
		theirs = "ristretto255, an older linkd"
	}
	return fmt.Errorf("%w: the other party links over %s, this one over %s: both parties must run linkd versions of the same link group; upgrade the older one", ErrGroup, theirs, psi.Group)
}

// olderGroup refuses a run while this party's directory holds link
// elements of an older link group.
func (p *Party) olderGroup(ctx context.Context) error {
	n, err := p.Directory.OlderLinkGroup(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w: %d accounts of this party's directory hold link elements of an older link group; import the directory again (linkd directory import) to compute them over %s", ErrGroup, n, psi.Group)
	}
	return nil
}

// errResponderOlder is the responder's refusal while its directory holds
// older elements, as the peer reads it: how many is this party's own
// business (a run it starts says), not told.
var errResponderOlder = fmt.Errorf("%w: the responder's directory holds link elements of an older link group; its operator must import the directory again", ErrGroup)

func protocolError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}

// Party is one side's linking: its directory, keys and stores.
type Party struct {
	Directory directory.Store
	Links     Links
	Staging   Staging
	Jobs      Jobs
	// Key blinds this party's elements; KeyEpoch is the directory's key
	// epoch whose link elements are used.
	Key      psi.Key
	KeyEpoch uint32
	// BatchSize is the elements of a message (default DefaultBatch).
	BatchSize int
	Now       func() time.Time
	// Usage, if set, counts what the responder re-blinds for each job,
	// re-sent batches included (see Responder).
	Usage access.Usage
}

func (p *Party) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Party) batch() int {
	if p.BatchSize > 0 {
		return p.BatchSize
	}
	return DefaultBatch
}

// params are a job's parameters, kept with it. The initiator keeps its
// Base and Retired from Begin and learns the rest from the answer to
// Open, again on each attempt; the responder keeps all of it from Open.
type params struct {
	Role        string    `json:"role"` // "initiator" or "responder"
	Epoch       uint32    `json:"link_epoch"`
	BatchSize   int       `json:"batch_size"`
	PeerSize    int64     `json:"peer_size"`
	PeerMost    int64     `json:"peer_max_elements,omitempty"` // the responder's: Open.Most
	OwnSize     int64     `json:"own_size"`
	Started     time.Time `json:"started"`
	Base        string    `json:"base,omitempty"`
	Retired     []string  `json:"retired,omitempty"`
	PeerRetired []string  `json:"peer_retired,omitempty"`
	Incremental bool      `json:"incremental,omitempty"`
	Changes     int64     `json:"changes,omitempty"` // Staging.Changes when the job started
}

// base returns the kept run this party can build on in link epoch epoch,
// and its retired values; no base (a full run) if it keeps none, kept
// another epoch's, or has too many values to retire.
func (p *Party) base(ctx context.Context, epoch uint32) (string, []string, error) {
	id, kept, err := p.Staging.Kept(ctx)
	if err != nil || id == "" || kept != epoch {
		return "", nil, err
	}
	ret, err := p.Staging.Retired(ctx, MaxRetired+1)
	if err != nil || len(ret) > MaxRetired {
		return "", nil, err
	}
	return id, EncodeElements(ret), nil
}

// Progress is what a job reports while it runs and when it is done.
type Progress struct {
	Phase    string  `json:"phase"`
	Sent     int64   `json:"sent"`
	Received int64   `json:"received"`
	Result   *Result `json:"result,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Code is a failed job's cause as a code (see Code), when it is
	// one of the link errors.
	Code string `json:"code,omitempty"`
}

// shuffle returns a uniformly random permutation of n positions, drawn
// from a ChaCha8 stream keyed with 32 bytes of crypto/rand: as
// unpredictable to the peer, and nanoseconds a position where a bounded
// integer from crypto/rand takes about a microsecond.
func shuffle(n int) []int {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand.Read)
	r := mrand.New(mrand.NewChaCha8(seed))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// nextBatch reads this party's next batch of link elements after the
// previous batch of the job, shuffled; none after the last batch (one
// smaller than the party's batch size).
func (p *Party) nextBatch(ctx context.Context, jobID string, seq int64, incremental bool) ([]Row, error) {
	after := ""
	if seq > 1 {
		n, last, err := p.Staging.BatchEnd(ctx, jobID, seq-1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, protocolError("batch %d asked before batch %d", seq, seq-1)
		}
		if n < p.batch() {
			return nil, protocolError("batch %d asked after the last batch", seq)
		}
		after = last
	}
	rows, _, err := p.batchAfter(ctx, after, incremental)
	return rows, err
}

// batchAfter reads the batch of link elements that follows account after
// in id order, shuffled: every account's, or (incremental) those not kept.
// last is the batch's last account in the store's order, where the next
// batch starts: taken before the shuffle, never compared here, so that it
// is the store's order whatever its collation.
func (p *Party) batchAfter(ctx context.Context, after string, incremental bool) (rows []Row, last string, err error) {
	read := p.Directory.LinkElements
	if incremental {
		read = p.Staging.NewElements
	}
	els, err := read(ctx, p.KeyEpoch, after, p.batch())
	if err != nil || len(els) == 0 {
		return nil, "", err
	}
	rows = make([]Row, len(els))
	for i, j := range shuffle(len(els)) {
		rows[i] = Row{AccountID: els[j].AccountID, Element: els[j].Element}
	}
	return rows, els[len(els)-1].AccountID, nil
}

// inflight is how many batches of one direction are on the way at once,
// so that the peer's group operations, this party's store work and the
// round trips overlap.
const inflight = 3

// pipeline runs steps for batches in flight, at most inflight at a time,
// and returns the first error; the steps under way when one fails are let
// finish (they run under the run's context, not the group's).
type pipeline struct {
	ctx     context.Context // the run's
	g       *errgroup.Group
	stopped context.Context // ends once a step fails or the run's ends
}

func newPipeline(ctx context.Context) *pipeline {
	g, stopped := errgroup.WithContext(ctx)
	g.SetLimit(inflight)
	return &pipeline{ctx: ctx, g: g, stopped: stopped}
}

// goStep runs step once there is room; it returns false, and starts
// nothing, once the pipeline has stopped.
func (pl *pipeline) goStep(step func() error) bool {
	if pl.stopped.Err() != nil {
		return false
	}
	pl.g.Go(step)
	return true
}

// fail stops the pipeline with err.
func (pl *pipeline) fail(err error) { pl.g.Go(func() error { return err }) }

// wait waits for the steps and returns the first error, or the run's
// context's if it ended.
func (pl *pipeline) wait() error {
	if err := pl.g.Wait(); err != nil {
		return err
	}
	return pl.ctx.Err()
}

func (p *Party) count(ctx context.Context) (int64, error) {
	return p.Directory.CountAccounts(ctx)
}

// Begin records job jobID as a run started here, if it is not recorded
// yet, so that it shows before Run gets to it; a failed job started again
// shows as running at once (not its old failure). A full run does not
// build on the kept sets even if it could.
func (p *Party) Begin(ctx context.Context, jobID string, epoch uint32, full bool) error {
	j, err := p.Jobs.Job(ctx, jobID)
	if err == nil && j.State == store.JobSuperseded {
		return SupersededError(jobID)
	}
	if err == nil && j.State != store.JobDone {
		// Resumed: refused at once if this party lost its staging.
		if err := p.whole(ctx, jobID); err != nil {
			return err
		}
	}
	if err == nil && j.State == store.JobFailed {
		raw, _ := json.Marshal(Progress{Phase: "resuming"})
		return p.Jobs.UpdateJob(ctx, jobID, store.JobRunning, raw, p.now())
	}
	if !errors.Is(err, storeerr.ErrNotFound) {
		return err
	}
	if err := p.olderGroup(ctx); err != nil {
		return err
	}
	own, err := p.count(ctx)
	if err != nil {
		return err
	}
	pr := params{Role: "initiator", Epoch: epoch, BatchSize: p.batch(), OwnSize: own, Started: p.now().UTC()}
	if pr.Changes, err = p.Staging.Changes(ctx); err != nil {
		return err
	}
	if !full {
		if pr.Base, pr.Retired, err = p.base(ctx, epoch); err != nil {
			return err
		}
	}
	raw, _ := json.Marshal(pr)
	err = p.Jobs.CreateJob(ctx, store.Job{ID: jobID, Kind: Kind, State: store.JobRunning, Params: raw,
		CreatedAt: pr.Started, UpdatedAt: pr.Started})
	if errors.Is(err, storeerr.ErrConflict) {
		return nil // begun meanwhile
	}
	if err != nil {
		return err
	}
	return p.Staging.StartStaging(ctx, jobID)
}

// whole refuses a job whose staging on this party is gone (LostError),
// unless its links are made already (its staging is dropped then): a
// job resumed after a crash of the store fails at once, rather than at
// its end.
func (p *Party) whole(ctx context.Context, jobID string) error {
	ok, err := p.Staging.Staged(ctx, jobID)
	if err != nil || ok {
		return err
	}
	linked, err := p.Jobs.Checkpoints(ctx, jobID, "linked")
	if err != nil || len(linked) > 0 {
		return err
	}
	return LostError(jobID)
}

// Run runs (or resumes) job jobID as the initiator against peer, and
// returns its result; it builds on the last run where it can.
func (p *Party) Run(ctx context.Context, peer Peer, jobID string, epoch uint32) (Result, error) {
	return p.RunAgainIf(ctx, peer, jobID, epoch, false, nil)
}

// RunFull is Run that does not build on the last run.
func (p *Party) RunFull(ctx context.Context, peer Peer, jobID string, epoch uint32) (Result, error) {
	return p.RunAgainIf(ctx, peer, jobID, epoch, true, nil)
}

// RunAgainIf is Run that, when an attempt fails and again says so (a
// resume was asked for while the attempt ran), makes another attempt at
// once; the job shows as running throughout, and only the last attempt's
// failure is recorded.
func (p *Party) RunAgainIf(ctx context.Context, peer Peer, jobID string, epoch uint32, full bool, again func() bool) (Result, error) {
	if err := p.Begin(ctx, jobID, epoch, full); err != nil {
		return Result{}, err
	}
	j, err := p.Jobs.Job(ctx, jobID)
	var pr params
	switch {
	case err != nil:
		return Result{}, err
	default:
		if err := json.Unmarshal(j.Params, &pr); err != nil || pr.Role != "initiator" {
			return Result{}, fmt.Errorf("linkjob: job %s is not a link run started here", jobID)
		}
		if j.State == store.JobDone {
			var prog Progress
			_ = json.Unmarshal(j.Progress, &prog)
			if prog.Result != nil {
				return *prog.Result, nil
			}
		}
	}
	res, err := p.run(ctx, peer, jobID, pr)
	for err != nil && ctx.Err() == nil && again != nil && again() {
		res, err = p.run(ctx, peer, jobID, pr)
	}
	prog := Progress{Phase: "done", Result: &res}
	state := store.JobDone
	if err != nil {
		prog = Progress{Phase: "failed", Error: err.Error(), Code: Code(err)}
		state = store.JobFailed
		if ctx.Err() != nil {
			state = store.JobRunning // stopped: run it again to resume
		}
		// A job superseded meanwhile stays so: the store keeps its state.
	}
	raw, _ := json.Marshal(prog)
	_ = p.Jobs.UpdateJob(context.WithoutCancel(ctx), jobID, state, raw, p.now())
	return res, err
}

func (p *Party) progress(ctx context.Context, jobID string, prog Progress) {
	raw, _ := json.Marshal(prog)
	_ = p.Jobs.UpdateJob(ctx, jobID, store.JobRunning, raw, p.now())
}

// tracker keeps a run's progress, written by both directions at once.
type tracker struct {
	mu   sync.Mutex
	prog Progress
}

func (t *tracker) add(p *Party, ctx context.Context, jobID string, sent, received int64) {
	t.mu.Lock()
	t.prog.Sent += sent
	t.prog.Received += received
	prog := t.prog
	t.mu.Unlock()
	p.progress(ctx, jobID, prog)
}

func (p *Party) run(ctx context.Context, peer Peer, jobID string, pr params) (Result, error) {
	if err := p.whole(ctx, jobID); err != nil {
		return Result{}, err
	}
	opened, err := peer.Open(ctx, Open{JobID: jobID, Epoch: pr.Epoch, Group: psi.Group, Size: pr.OwnSize, Most: Declared(pr.OwnSize, pr.BatchSize),
		BatchSize: pr.BatchSize, Base: pr.Base, Retired: pr.Retired})
	if err != nil {
		return Result{}, fmt.Errorf("linkjob: opening the job at the peer: %w", err)
	}
	if opened.Group != psi.Group {
		return Result{}, GroupError(opened.Group)
	}
	if opened.Incremental && pr.Base == "" {
		return Result{}, protocolError("the peer builds on a run this party did not offer")
	}
	if len(opened.Retired) > MaxRetired {
		return Result{}, protocolError("the peer retires %d values, more than %d", len(opened.Retired), MaxRetired)
	}
	if _, err := decodeValues(opened.Retired); err != nil {
		return Result{}, err
	}
	pr.Incremental, pr.PeerRetired, pr.PeerSize = opened.Incremental, opened.Retired, opened.Size
	// Both directions at once: while the peer re-blinds this party's
	// batches, this party re-blinds the peer's, and each side's store
	// work overlaps the other's group operations.
	t := &tracker{prog: Progress{Phase: "exchanging"}}
	var wg sync.WaitGroup
	var sendErr, recvErr error
	wg.Go(func() { sendErr = p.sendAll(ctx, peer, jobID, pr, t) })
	wg.Go(func() { recvErr = p.receiveAll(ctx, peer, jobID, pr, t) })
	wg.Wait()
	if err := errors.Join(sendErr, recvErr); err != nil {
		return Result{}, err
	}
	t.prog.Phase = "matching"
	p.progress(ctx, jobID, t.prog)
	// Both parties turn their matches into links at once.
	var theirs Result
	var matched int64
	var changed bool
	var finishErr, linkErr error
	wg.Go(func() { theirs, finishErr = peer.Finish(ctx, jobID) })
	wg.Go(func() { matched, changed, linkErr = p.link(ctx, jobID, pr) })
	wg.Wait()
	if finishErr != nil {
		return Result{}, fmt.Errorf("linkjob: finishing at the peer: %w", finishErr)
	}
	if linkErr != nil {
		return Result{}, linkErr
	}
	// An account erased, or given another number, after its element
	// was sent is linked on the other side (which has its value) and
	// not on its own: the parties agree again once the next run hands
	// the change over. Without such a change on either side, the counts
	// differ only if a party did not follow the protocol.
	changed = changed || theirs.Changed
	if matched != theirs.Matched && !changed {
		return Result{}, protocolError("this party holds %d links, the peer %d", matched, theirs.Matched)
	}
	return Result{Matched: matched, OwnSize: pr.OwnSize, PeerSize: opened.Size, Sent: t.prog.Sent, Received: t.prog.Received,
		Incremental: pr.Incremental, Seconds: p.now().Sub(pr.Started).Seconds(), Changed: changed, PeerMatched: theirs.Matched}, nil
}

// Declared is the most elements an initiator with a set of size
// elements declares it will send, in batches of batch: the set, 1% more
// and one batch, for the accounts it gains while the run goes on (a run
// resumed after an import sends them too). A directory that grows past
// it fails the run (ErrGrew): the next run, declaring the new size,
// links them.
func Declared(size int64, batch int) int64 {
	size = max(size, 0)
	return size + size/100 + int64(batch)
}

// ErrGrew is the initiator's error when its directory grew, during a
// run, past the elements the run declared it would send.
var ErrGrew = errors.New("linkjob: the directory grew past what the run declared")

// sendAll sends this party's elements to be re-blinded by the peer and
// keeps the doubly blinded values of its rows. Batches are read in order,
// staged as they are read, before they are sent, and sent a few at a
// time; each is checkpointed once its values and every batch's before it
// are kept. A resumed run sends the batches an earlier attempt staged
// again as they were (the peer answers them again at no cost to what the
// job may have re-blinded: see Responder), and reads on from where the
// last of them ended (in the store's order, which it asks the staging
// for), from the directory as it is then: no account is sent twice or
// left out. An account erased or given another number after its batch
// was staged goes at Keep (see Staging.Changes); one imported among
// accounts already staged links in the next run. The last batch,
// shorter than the batch size, is sent even when empty: it tells the
// peer that no batch follows, so that the peer drops what an earlier
// attempt sent after it.
func (p *Party) sendAll(ctx context.Context, peer Peer, jobID string, pr params, t *tracker) error {
	cps, err := p.Jobs.Checkpoints(ctx, jobID, "sent")
	if err != nil {
		return err
	}
	done := map[int64]bool{}
	for _, c := range cps {
		done[c.Seq] = true
	}
	pl := newPipeline(ctx)
	after := ""
	kept := make(chan struct{}) // closed once the batch before is kept
	close(kept)
	most, sent := Declared(pr.OwnSize, pr.BatchSize), int64(0)
	for seq := int64(1); ; seq++ {
		var rows []Row
		n, last, err := p.Staging.BatchEnd(ctx, jobID, seq)
		switch {
		case err != nil || done[seq]:
		case n > 0:
			rows, err = p.Staging.OwnBatch(ctx, jobID, seq)
		default:
			if rows, last, err = p.batchAfter(ctx, after, pr.Incremental); err == nil && len(rows) > 0 {
				err = p.Staging.StageOwn(ctx, jobID, seq, rows)
			}
			n = len(rows)
		}
		if sent += int64(n); err == nil && sent > most {
			err = fmt.Errorf("%w: more than the %d elements it declared: run again", ErrGrew, most)
		}
		if err != nil {
			pl.fail(err)
			break
		}
		after = last
		if done[seq] {
			t.add(p, ctx, jobID, int64(n), 0)
		} else {
			before, mine := kept, make(chan struct{})
			if !pl.goStep(func() error { return p.sendBatch(ctx, pl, peer, jobID, seq, rows, before, mine, t) }) {
				break
			}
			kept = mine
		}
		if n < pr.BatchSize {
			break
		}
	}
	return pl.wait()
}

// sendBatch has one batch re-blinded by the peer and, once the batch
// before it is kept (before closed), keeps its values and closes kept.
func (p *Party) sendBatch(ctx context.Context, pl *pipeline, peer Peer, jobID string, seq int64, rows []Row, before <-chan struct{}, kept chan<- struct{}, t *tracker) error {
	els := make([]psi.Element, len(rows))
	for i, r := range rows {
		els[i] = r.Element
	}
	vals, err := peer.Reblind(ctx, jobID, seq, els)
	if err != nil {
		return fmt.Errorf("linkjob: batch %d: %w", seq, err)
	}
	if len(vals) != len(els) {
		return protocolError("batch %d: sent %d elements, got %d back", seq, len(els), len(vals))
	}
	// Values are checked like any element the peer sends: one that is
	// not canonical, or of small order, refuses the batch before
	// anything of it is kept.
	if err := psi.CheckElements(vals); err != nil {
		return protocolError("batch %d: the peer's values: %v", seq, err)
	}
	select {
	case <-before:
	case <-pl.stopped.Done():
		return pl.stopped.Err()
	}
	if err := p.Staging.SetOwnValues(ctx, jobID, seq, vals); err != nil {
		return err
	}
	if _, err := p.Jobs.PutCheckpoint(ctx, store.Checkpoint{JobID: jobID, Step: "sent", Seq: seq}); err != nil {
		return err
	}
	close(kept)
	t.add(p, ctx, jobID, int64(len(rows)), 0)
	return nil
}

// receiveAll re-blinds the peer's elements, keeps them as the peer's
// values and returns them to the peer. The peer's batches are fetched in
// order (it serves one after the other) and re-blinded and returned a few
// at a time; a resumed run fetches only the batches without a checkpoint.
func (p *Party) receiveAll(ctx context.Context, peer Peer, jobID string, pr params, t *tracker) error {
	cps, err := p.Jobs.Checkpoints(ctx, jobID, "received")
	if err != nil {
		return err
	}
	done := map[int64]bool{}
	var received int64
	last := false
	for _, c := range cps {
		var m receivedMark
		_ = json.Unmarshal(c.Data, &m)
		done[c.Seq] = true
		received += m.Elements
		last = last || m.Last
	}
	t.add(p, ctx, jobID, 0, received)
	if last {
		return nil // the last batch came back, and every one before it
	}
	// This party is an oracle under its key for the peer's elements as
	// the peer is for this party's: it re-blinds no more than the set
	// the peer declared allows (as Declared gives it room for accounts
	// the peer gains during the run), in full batches but the last.
	most := Declared(pr.PeerSize, pr.BatchSize)
	pl := newPipeline(ctx)
	for seq := int64(1); ; seq++ {
		if done[seq] {
			continue
		}
		els, last, err := peer.Elements(ctx, jobID, seq)
		if err != nil {
			pl.fail(fmt.Errorf("linkjob: peer batch %d: %w", seq, err))
			break
		}
		if len(els) > pr.BatchSize || !last && len(els) != pr.BatchSize {
			pl.fail(protocolError("peer batch %d has %d elements: want %d, or at most that in the last batch", seq, len(els), pr.BatchSize))
			break
		}
		if received += int64(len(els)); received > most {
			pl.fail(protocolError("the peer sent more than the %d elements its set of %d allows", most, pr.PeerSize))
			break
		}
		if last {
			// The last checkpoint says every batch is back: it is
			// written after all the others.
			if err := pl.wait(); err != nil {
				return err
			}
			return p.receiveBatch(ctx, peer, jobID, seq, els, true, t)
		}
		if !pl.goStep(func() error { return p.receiveBatch(ctx, peer, jobID, seq, els, false, t) }) {
			break
		}
	}
	return pl.wait()
}

// receivedMark is a received batch's checkpoint: its size, and whether it
// was the last (written after all the others).
type receivedMark struct {
	Elements int64 `json:"elements"`
	Last     bool  `json:"last,omitempty"`
}

// receiveBatch re-blinds one batch of the peer's, keeps and returns it.
func (p *Party) receiveBatch(ctx context.Context, peer Peer, jobID string, seq int64, els []psi.Element, last bool, t *tracker) error {
	if len(els) > 0 {
		vals, err := p.Key.ReblindBatch(els)
		if err != nil {
			return protocolError("peer batch %d: %v", seq, err)
		}
		if err := p.Staging.StageTheirs(ctx, jobID, seq, vals); err != nil {
			return err
		}
		if err := peer.Reblinded(ctx, jobID, seq, vals); err != nil {
			return fmt.Errorf("linkjob: returning peer batch %d: %w", seq, err)
		}
	}
	mark, _ := json.Marshal(receivedMark{Elements: int64(len(els)), Last: last})
	if _, err := p.Jobs.PutCheckpoint(ctx, store.Checkpoint{JobID: jobID, Step: "received", Seq: seq, Data: mark}); err != nil {
		return err
	}
	t.add(p, ctx, jobID, 0, int64(len(els)))
	return nil
}

// link keeps the job's sets, turns the matches into links, drops the
// links a full run did not confirm, and drops the staging; once per job (a
// retry answers the count). The count is of all the links this party
// holds; changed says whether an account changed number or was erased
// since the job started, before the count.
func (p *Party) link(ctx context.Context, jobID string, pr params) (n int64, changed bool, err error) {
	n, err = p.linkOnce(ctx, jobID, pr)
	if err != nil {
		return 0, false, err
	}
	now, err := p.Staging.Changes(ctx)
	if err != nil {
		return 0, false, err
	}
	return n, pr.Changes == 0 || now != pr.Changes, nil
}

func (p *Party) linkOnce(ctx context.Context, jobID string, pr params) (int64, error) {
	done, err := p.Jobs.Checkpoints(ctx, jobID, "linked")
	if err != nil {
		return 0, err
	}
	if len(done) > 0 {
		var n int64
		_ = json.Unmarshal(done[0].Data, &n)
		return n, nil
	}
	k := Keep{JobID: jobID, Epoch: pr.Epoch, Full: !pr.Incremental, Confirmed: pr.Started, Base: pr.Base, Changes: pr.Changes}
	if pr.Incremental {
		if k.Retired, err = decodeValues(pr.Retired); err != nil {
			return 0, err
		}
		if k.PeerRetired, err = decodeValues(pr.PeerRetired); err != nil {
			return 0, err
		}
	}
	if err := p.Staging.Keep(ctx, k); err != nil {
		err = keepError(k, err)
		if errors.Is(err, ErrStale) || errors.Is(err, ErrSuperseded) {
			// It can never finish: its staging goes.
			_ = p.Staging.DropStaging(ctx, jobID)
		}
		return 0, err
	}
	now := p.now().UTC()
	mk := func(r Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.DeriveLinkID(r.Value, pr.Epoch), Epoch: pr.Epoch, CreatedAt: now}
	}
	if k.Full {
		err = p.Staging.Relink(ctx, k, mk)
	} else {
		err = p.Staging.Matched(ctx, k, p.batch(), func(rows []Row) error {
			ls := make([]store.Link, len(rows))
			for i, r := range rows {
				ls[i] = mk(r)
			}
			return p.Links.PutLinks(ctx, ls, pr.Changes)
		})
	}
	if err != nil {
		return 0, err
	}
	n, err := p.Links.CountLinks(ctx)
	if err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(n)
	if _, err := p.Jobs.PutCheckpoint(ctx, store.Checkpoint{JobID: jobID, Step: "linked", Seq: 1, Data: raw}); err != nil {
		return 0, err
	}
	return n, p.Staging.DropStaging(ctx, jobID)
}

// decodeValues reads doubly blinded values in their wire form, strictly:
// canonical encodings, not of small order.
func decodeValues(in []string) ([]psi.Element, error) {
	els, err := DecodeElements(in)
	if err != nil {
		return nil, err
	}
	if err := psi.CheckElements(els); err != nil {
		return nil, protocolError("retired values: %v", err)
	}
	return els, nil
}

// The staging's records and the jobs are the store's.
type (
	Row      = store.StagedRow
	Count    = store.ReblindCount
	Keep     = store.RunKeep
	Job      = store.Job
	JobState = store.JobState
)

// The states of a job.
const (
	Running    = store.JobRunning
	Done       = store.JobDone
	Failed     = store.JobFailed
	Superseded = store.JobSuperseded
)

// Kind is the job kind of a link run.
const Kind = store.LinkJobKind
