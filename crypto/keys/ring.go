package keys

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrUnknownEpoch is returned for an epoch the ring does not hold.
var ErrUnknownEpoch = errors.New("keys: unknown key epoch")

// Epoch is one generation of a party's keys.
type Epoch struct {
	ID      uint32
	Created time.Time
	master  Secret
}

// Ring is a party's key epochs, one of which is current: new pseudonyms are
// made under the current epoch, and older epochs stay until retired so that
// a rotation needs no downtime.
type Ring struct {
	party   string
	current uint32
	epochs  []Epoch // ascending by ID
}

// NewRing returns a ring for party with one fresh epoch, numbered 1.
func NewRing(party string, now time.Time) (*Ring, error) {
	if party == "" {
		return nil, errors.New("keys: a key ring needs a party name")
	}
	m, err := NewSecret()
	if err != nil {
		return nil, err
	}
	return &Ring{party: party, current: 1, epochs: []Epoch{{ID: 1, Created: now.UTC(), master: m}}}, nil
}

// Party returns the name of the party the ring belongs to.
func (r *Ring) Party() string { return r.party }

// Current returns the current epoch's id.
func (r *Ring) Current() uint32 { return r.current }

// Epochs returns the ring's epochs, oldest first. Their secrets stay inside.
func (r *Ring) Epochs() []Epoch { return slices.Clone(r.epochs) }

// Key derives the key for purpose p in the given epoch.
func (r *Ring) Key(p Purpose, epoch uint32) (Secret, error) {
	i, ok := r.find(epoch)
	if !ok {
		return Secret{}, fmt.Errorf("%w: %d", ErrUnknownEpoch, epoch)
	}
	return derive(r.epochs[i].master, p, epoch)
}

// Rotate adds a fresh epoch, numbered one past the highest, and makes it
// current. Older epochs stay, so that what was made under them can still
// be read.
func (r *Ring) Rotate(now time.Time) (uint32, error) {
	m, err := NewSecret()
	if err != nil {
		return 0, err
	}
	id := r.epochs[len(r.epochs)-1].ID + 1
	if id == 0 {
		return 0, errors.New("keys: epoch numbers exhausted")
	}
	r.epochs = append(r.epochs, Epoch{ID: id, Created: now.UTC(), master: m})
	r.current = id
	return id, nil
}

func (r *Ring) find(epoch uint32) (int, bool) {
	return slices.BinarySearchFunc(r.epochs, epoch, func(e Epoch, id uint32) int {
		switch {
		case e.ID < id:
			return -1
		case e.ID > id:
			return 1
		}
		return 0
	})
}

// EpochIDs returns the ring's epoch ids, oldest first.
func (r *Ring) EpochIDs() []uint32 {
	ids := make([]uint32, len(r.epochs))
	for i, e := range r.epochs {
		ids[i] = e.ID
	}
	return ids
}

// Format implements fmt.Formatter: a ring prints its party and epoch ids,
// never a secret.
func (r *Ring) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "keys.Ring{party: %s, current: %d, epochs: %v}", r.party, r.current, r.EpochIDs())
}
