package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
)

// Importer streams a directory file into a store: each number is
// normalized, its pseudonyms derived under the current key epoch, and the
// number dropped. Memory is bounded by a few batches, whatever the file's
// size.
type Importer struct {
	Store   Store
	Deriver *pseudonym.Deriver
	// BatchSize is how many rows go to the store in one transaction
	// (default 5,000).
	BatchSize int
	// Log receives progress; it never receives a number.
	Log *slog.Logger
	// Now stamps imported accounts (default time.Now).
	Now func() time.Time
	// Purposes, if set, are the purposes a consent may be to (the
	// catalogue's): a row with a consent to another is refused.
	Purposes []string
}

// Stats counts what an import did.
type Stats struct {
	Rows     int // rows read, bad ones included
	Imported int // rows stored
	Invalid  int // rows refused
}

type importBatch struct {
	rows     []Row
	errs     []*RowError // parse errors, in line order with the rows
	accounts []Account
	lines    []int // the line of each account
	last     int   // the last line in the batch
	err      error // the derivation failed: nothing of the batch is stored
	done     chan struct{}
}

// Import reads every row of r. Bad rows go to report (in line order), as
// "line N: REASON", and nothing of them is stored; good rows are stored in
// batches. The error is nil when the file was read to its end, even if some
// rows were bad: see Stats.Invalid. An import that stops part way (an error,
// a cancelled context, a killed process) can be run again to the same end
// state: every write replaces the account's row.
func (im *Importer) Import(ctx context.Context, r io.Reader, report func(*RowError)) (Stats, error) {
	var st Stats
	rd, err := NewReader(r)
	if err != nil {
		return st, err
	}
	size := im.BatchSize
	if size <= 0 {
		size = 5000
	}
	now := time.Now
	if im.Now != nil {
		now = im.Now
	}
	log := im.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := runtime.GOMAXPROCS(0)
	work := make(chan *importBatch, workers)
	ordered := make(chan *importBatch, workers+1)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range work {
				im.derive(b, now())
				close(b.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		readErr <- readBatches(ctx, rd, size, func(b *importBatch) bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
				return true
			case <-ctx.Done():
				close(b.done) // never derived: the writer has stopped and skips it
				return false
			}
		})
	}()

	// An account id read twice in one import is a bad row, the second
	// time: the store remembers the ids this run read (ClaimIDs).
	var runID [12]byte
	_, _ = rand.Read(runID[:])
	run := hex.EncodeToString(runID[:])
	defer func() { _ = im.Store.EndImport(context.WithoutCancel(ctx), run) }()
	var storeErr error
	for b := range ordered {
		<-b.done
		if storeErr != nil {
			continue // drain
		}
		if b.err != nil {
			storeErr = fmt.Errorf("directory: deriving the pseudonyms of rows up to line %d: %w", b.last, b.err)
			cancel()
			continue
		}
		if len(b.accounts) > 0 {
			if err := im.dropRepeated(ctx, run, b); err != nil {
				storeErr = fmt.Errorf("directory: checking the account ids of rows up to line %d: %w", b.last, err)
				cancel()
				continue
			}
		}
		for _, e := range b.errs {
			report(e)
		}
		st.Rows += len(b.accounts) + len(b.errs)
		st.Invalid += len(b.errs)
		if len(b.accounts) > 0 {
			if err := im.Store.PutAccounts(ctx, b.accounts); err != nil {
				storeErr = fmt.Errorf("directory: storing rows up to line %d: %w", b.last, err)
				cancel()
				continue
			}
		}
		st.Imported += len(b.accounts)
		log.Info("directory import progress", "rows", st.Rows, "imported", st.Imported, "invalid", st.Invalid)
	}
	wg.Wait()
	if storeErr != nil {
		return st, storeErr
	}
	if err := <-readErr; err != nil {
		return st, err
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	// A store that keeps planner statistics refreshes them after a bulk
	// change, so that matching plans for the directory's real size.
	if a, ok := im.Store.(interface {
		Analyze(context.Context, int) error
	}); ok && st.Imported > 0 {
		if err := a.Analyze(ctx, st.Imported); err != nil {
			return st, fmt.Errorf("directory: refreshing statistics: %w", err)
		}
	}
	return st, nil
}

// dropRepeated moves the batch's accounts whose id the import read
// before to the batch's errors.
func (im *Importer) dropRepeated(ctx context.Context, run string, b *importBatch) error {
	ids := make([]string, len(b.accounts))
	for i, a := range b.accounts {
		ids[i] = a.ID
	}
	claimed, err := im.Store.ClaimIDs(ctx, run, ids, b.lines)
	if err != nil || len(claimed) == 0 {
		return err
	}
	var bad []*RowError
	keep := b.accounts[:0]
	next := 0
	for i, a := range b.accounts {
		if next < len(claimed) && claimed[next].Index == i {
			bad = append(bad, &RowError{Line: b.lines[i], Reason: fmt.Sprintf("account_id: the same as on line %d", claimed[next].FirstLine)})
			next++
			continue
		}
		keep = append(keep, a)
	}
	b.accounts = keep
	b.errs = mergeErrors(b.errs, bad)
	return nil
}

// readBatches groups rows into batches; parse errors travel with their
// batch so that reports keep line order.
func readBatches(ctx context.Context, rd *Reader, size int, emit func(*importBatch) bool) error {
	b := &importBatch{done: make(chan struct{})}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if len(b.rows)+len(b.errs) > 0 {
				emit(b)
			}
			return nil
		}
		var re *RowError
		switch {
		case errors.As(err, &re):
			b.errs = append(b.errs, re)
			b.last = re.Line
		case err != nil:
			return err
		default:
			b.rows = append(b.rows, row)
			b.last = row.Line
		}
		if len(b.rows)+len(b.errs) >= size {
			if !emit(b) {
				return ctx.Err()
			}
			b = &importBatch{done: make(chan struct{})}
		}
	}
}

// maxClockSkew is how far ahead of the import's clock a consent may be
// dated: the account system's clock may run a little ahead; a consent
// dated later would outrank every withdrawal until then.
const maxClockSkew = 5 * time.Minute

// derive normalizes and derives a batch; rows whose number is refused join
// the batch's errors, in line order. The raw numbers are dropped here.
func (im *Importer) derive(b *importBatch, now time.Time) {
	b.accounts = make([]Account, 0, len(b.rows))
	nums := make([]phone.Number, 0, len(b.rows))
	var bad []*RowError
	for i := range b.rows {
		row := &b.rows[i]
		region, err := phone.CheckRegion(row.Country)
		if err != nil || region == "" {
			bad = append(bad, &RowError{Line: row.Line, Reason: "country: not an ISO 3166 country code with a numbering plan"})
			continue
		}
		if i := slices.IndexFunc(row.Consents, func(c Consent) bool { return c.At.After(now.Add(maxClockSkew)) }); i >= 0 {
			bad = append(bad, &RowError{Line: row.Line, Reason: row.Consents[i].Purpose + "_consent_at: later than the import"})
			continue
		}
		if i := slices.IndexFunc(row.Consents, func(c Consent) bool { return !slices.Contains(im.Purposes, c.Purpose) }); i >= 0 && im.Purposes != nil {
			bad = append(bad, &RowError{Line: row.Line, Reason: fmt.Sprintf("%s_consent: %q is not a purpose of the catalogue (%s)",
				row.Consents[i].Purpose, row.Consents[i].Purpose, strings.Join(im.Purposes, ", "))})
			continue
		}
		n, err := phone.Normalize(row.Phone, region)
		row.Phone = ""
		if err != nil {
			var pe *phone.Error
			reason := "phone: could not be read"
			if errors.As(err, &pe) {
				reason = "phone: " + pe.ReasonText()
			}
			bad = append(bad, &RowError{Line: row.Line, Reason: reason})
			continue
		}
		nums = append(nums, n)
		b.lines = append(b.lines, row.Line)
		b.accounts = append(b.accounts, Account{ID: row.AccountID, Country: region, AdOptOut: row.AdOptOut, Consents: row.Consents,
			BlockedBusinesses: row.BlockedBusinesses, Epoch: im.Deriver.Epoch, UpdatedAt: now})
	}
	// The whole batch's group operations run back to back, not one row's
	// between two parses, so the parser and the group code do not take
	// turns in the caches on every row.
	sets, err := im.Deriver.DeriveBatch(nums)
	if err != nil {
		// Normalized numbers are short E.164 strings, which every
		// derivation takes: this is a broken invariant, not a bad row.
		b.err = err
		return
	}
	for i := range sets {
		b.accounts[i].Pseudonyms = sets[i]
	}
	b.errs = mergeErrors(b.errs, bad)
	b.rows = nil
}

func mergeErrors(a, b []*RowError) []*RowError {
	if len(b) == 0 {
		return a
	}
	out := make([]*RowError, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && a[i].Line < b[j].Line) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}
