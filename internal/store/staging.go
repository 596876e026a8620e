package store

import (
	"time"

	"github.com/linkd/linkd/crypto/psi"
)

// LinkJobKind is the job kind of a link run.
const LinkJobKind = "link"

// StagedRow is one staged element of this party's own: the account, the element
// sent or received singly blinded, and the doubly blinded value once known.
type StagedRow struct {
	AccountID string
	Element   psi.Element
	Value     psi.Element
}

// ReblindCount is what Store.StageReblinded counted: the values the job had
// re-blinded before, those of the batch that were new to it, and whether
// they were staged (within the most the job may re-blind).
type ReblindCount struct {
	Before, Fresh int64
	Staged        bool
}

// RunKeep is what a finished job changes in the kept sets. A full run
// replaces them by its staging (its links are replaced by Relink); an
// incremental one takes out one of the other's values for each of its
// retired values listed, and this party's retired values handed over,
// adds its staging, and drops the links of the accounts staged and of
// every row whose value the job touched (Matched links them anew, or
// not). Staged rows whose account no longer holds the element staged go
// to the retired values instead. A value two accounts hold is among the
// other's values, and among the retired ones, twice.
type RunKeep struct {
	JobID string
	Epoch uint32
	Full  bool
	// Base is the run an incremental job builds on.
	Base string
	// Confirmed is when the job began (its record's creation): the
	// links a full run confirms count their retention from then, and
	// the jobs begun before it are superseded.
	Confirmed time.Time
	// Changes is the store's Changes when the job started (0 if not known):
	// a store may skip checking the staged rows against the accounts
	// when it has not changed since.
	Changes     int64
	Retired     []psi.Element // this party's, handed over
	PeerRetired []psi.Element // the other's
}
