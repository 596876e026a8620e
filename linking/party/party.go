// Package party names the two parties that link their users: the social
// network and the messenger. Each runs its own linkd; a party is who
// holds a key file, serves the API and links with the other.
package party

import "errors"

// Party is one of the two parties.
type Party string

// The parties.
const (
	Social    Party = "social"
	Messenger Party = "messenger"
)

// ErrUnknown is Parse's error for a name that is neither party.
var ErrUnknown = errors.New("party: must be messenger or social")

// Parse returns the party named s.
func Parse(s string) (Party, error) {
	switch p := Party(s); p {
	case Social, Messenger:
		return p, nil
	}
	return "", ErrUnknown
}

// Other is the party that is not p.
func (p Party) Other() Party {
	if p == Social {
		return Messenger
	}
	return Social
}

// Outbound names the direction from p to the other party, as the policy
// bundle does ("social_to_messenger"); Inbound, the other way.
func (p Party) Outbound() string { return string(p) + "_to_" + string(p.Other()) }

// Inbound names the direction from the other party to p.
func (p Party) Inbound() string { return p.Other().Outbound() }

func (p Party) String() string { return string(p) }
