package api

import (
	"context"

	"github.com/linkd/linkd/access"
)

// AuthzRequest is what every route asks before it acts.
type AuthzRequest struct {
	Role     access.Role
	Tenant   string
	Action   string         // e.g. "oprf.evaluate"
	Resource string         // the route, or the resource's id
	Context  map[string]any // purpose, region, direction, confidence, size...
}

// Decision is an authorization's answer: whether, which rule decided, and
// the hash of the rules it was decided under.
type Decision struct {
	Allow      bool
	Rule       string
	BundleHash string
}

// Authorizer is the one authorization function of the server. The
// policies package backs it with the reviewed policy files; RoleTable is
// the built-in one until then.
type Authorizer interface {
	Authorize(ctx context.Context, r AuthzRequest) (Decision, error)
}

// RoleTable allows an action to the roles listed for it and denies
// everything else: deny by default.
type RoleTable map[string][]access.Role

// DefaultRoles is the built-in table of who may do what.
var DefaultRoles = RoleTable{
	"oprf.config":   {access.RoleAdvertiser, access.RoleAdmin},
	"oprf.evaluate": {access.RoleAdvertiser},
	"audit.read":    {access.RoleCompliance},
}

// Authorize implements Authorizer.
func (t RoleTable) Authorize(_ context.Context, r AuthzRequest) (Decision, error) {
	for _, role := range t[r.Action] {
		if role == r.Role {
			return Decision{Allow: true, Rule: "roles:" + r.Action, BundleHash: "builtin"}, nil
		}
	}
	return Decision{Allow: false, Rule: "default-deny", BundleHash: "builtin"}, nil
}
