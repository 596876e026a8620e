package api

import (
	"context"
	"strings"

	"github.com/linkd/linkd/policies"
)

// Authorizer is the one authorization function of the server: every keyed
// route, and every flow a route starts (audience creation, extension, size
// reporting, signal crossing), asks it. Its questions and answers are the
// policy bundle's: a policies.Request and a policies.Decision, whose rule
// ids and bundle hash go into the audit log.
type Authorizer interface {
	Authorize(ctx context.Context, r policies.Request) (policies.Decision, error)
}

// BundleAuthorizer decides under the bundle it returns, which may change
// between calls (a reload).
type BundleAuthorizer func() *policies.Bundle

// Authorize implements Authorizer.
func (f BundleAuthorizer) Authorize(_ context.Context, r policies.Request) (policies.Decision, error) {
	return f().Decide(r), nil
}

// resourceKind is the kind of resource an action acts on, as the policy
// schema names it.
func resourceKind(action string) string {
	prefix, _, _ := strings.Cut(action, ".")
	switch prefix {
	case "oprf":
		return "service"
	case "peer":
		return "party"
	}
	return prefix
}
