package store

import (
	"time"

	"github.com/linkd/linkd/crypto/psi"
)

// Link ties one of the party's accounts to a person on the other service.
type Link struct {
	AccountID string
	ID        psi.LinkID
	Epoch     uint32 // linking epoch the id was derived in
	CreatedAt time.Time
}
