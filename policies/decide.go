package policies

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// Request is one question to the bundle: may this caller do this action on
// this resource, in this context? Zero fields mean "not concerned": no
// purpose, no region, no signal, size 0.
type Request struct {
	// The caller: the role and tenant of its API key, or role "system" for
	// flows linkd starts itself.
	Role   string `json:"role" yaml:"role"`
	Tenant string `json:"tenant,omitempty" yaml:"tenant"`
	// Action, as the schema names it: "audience.create", "signal.cross"...
	Action   string   `json:"action" yaml:"action"`
	Resource Resource `json:"resource" yaml:"resource"`

	Purpose    string  `json:"purpose,omitempty" yaml:"purpose"`
	Region     string  `json:"region,omitempty" yaml:"region"`       // ISO 3166 alpha-2 of the people concerned
	Direction  string  `json:"direction,omitempty" yaml:"direction"` // between the parties
	Consent    bool    `json:"consent,omitempty" yaml:"consent"`     // of the people concerned, to Purpose
	SignalType string  `json:"signal_type,omitempty" yaml:"signal_type"`
	Confidence float64 `json:"confidence,omitempty" yaml:"confidence"` // 0 to 1
	Size       int64   `json:"size,omitempty" yaml:"size"`             // of an audience
}

// Resource is what a request acts on.
type Resource struct {
	Kind   string `json:"kind" yaml:"kind"` // service, audience, signal, link, policy, audit
	ID     string `json:"id,omitempty" yaml:"id"`
	Tenant string `json:"tenant,omitempty" yaml:"tenant"` // the owning advertiser, if any
}

// Decision is the bundle's answer to a Request.
type Decision struct {
	Allow bool `json:"allow"`
	// Rules are the ids of the policies that decided: the permits that
	// allowed, or the forbids that denied. Empty on a default deny.
	Rules []string `json:"rules"`
	// DefaultDeny is set when no policy permitted the request.
	DefaultDeny bool `json:"default_deny"`
	// Monitored are forbid rules in "monitor" enforcement that would have
	// denied this allowed request.
	Monitored []string `json:"monitored,omitempty"`
	// Catalogue holds the catalogue values the decision used.
	Catalogue map[string]any `json:"catalogue"`
	// Errors are policies that could not be evaluated (they are skipped,
	// as Cedar does).
	Errors     []string `json:"errors,omitempty"`
	BundleHash string   `json:"bundle_hash"`
}

// Rule names what decided, for logs and the audit log: the rule ids joined
// by ",", or "default-deny".
func (d Decision) Rule() string {
	if len(d.Rules) == 0 {
		return "default-deny"
	}
	return strings.Join(d.Rules, ",")
}

// Decide answers r under the bundle. It never fails: whatever Cedar cannot
// evaluate is skipped and reported in Errors, which at worst denies.
func (b *Bundle) Decide(r Request) Decision {
	c := b.Catalogue
	basis := c.LawfulBasis(r.Purpose, r.Region)
	_, known := c.Purposes[r.Purpose]
	minConf, crosses := c.MinConfidence(r.SignalType, r.Direction)
	// The catalogue values the request concerns: all are in Cedar's
	// context, but a decision reports only these.
	values := map[string]any{}
	if r.Purpose != "" {
		values["purpose_known"] = known
		values["lawful_basis"] = basis
	}
	if r.Region != "" {
		values["region_group"] = c.RegionGroup(r.Region)
	}
	if r.Size != 0 || strings.HasPrefix(r.Action, "audience.") {
		values["min_size"] = c.MinAudienceSize
	}
	if r.SignalType != "" || strings.HasPrefix(r.Action, "signal.") || r.Action == "peer.signal" {
		values["signal_crosses"] = crosses
		if crosses {
			values["min_confidence"] = minConf
		}
	}

	conf, err := confidenceDecimal(r.Confidence)
	if err != nil {
		conf = types.Decimal{}
	}
	minDec, err := confidenceDecimal(minConf)
	if err != nil || !crosses {
		minDec, _ = types.NewDecimalFromInt(1)
	}
	ctx := types.NewRecord(types.RecordMap{
		"purpose":        types.String(r.Purpose),
		"purpose_known":  types.Boolean(known),
		"lawful_basis":   types.String(basis),
		"region":         types.String(strings.ToUpper(r.Region)),
		"region_group":   types.String(c.RegionGroup(r.Region)),
		"direction":      types.String(r.Direction),
		"consent":        types.Boolean(r.Consent),
		"signal_type":    types.String(r.SignalType),
		"signal_crosses": types.Boolean(crosses),
		"confidence":     conf,
		"min_confidence": minDec,
		"size":           types.Long(r.Size),
		"min_size":       types.Long(c.MinAudienceSize),
	})
	principal := types.NewEntityUID("Caller", "caller")
	resource := types.NewEntityUID("Resource", types.String(r.Resource.Kind+":"+r.Resource.ID))
	entities := types.EntityMap{
		principal: {UID: principal, Attributes: types.NewRecord(types.RecordMap{
			"role": types.String(r.Role), "tenant": types.String(r.Tenant)})},
		resource: {UID: resource, Attributes: types.NewRecord(types.RecordMap{
			"kind": types.String(r.Resource.Kind), "tenant": types.String(r.Resource.Tenant)})},
	}
	req := cedar.Request{Principal: principal, Action: types.NewEntityUID("Action", types.String(r.Action)),
		Resource: resource, Context: ctx}

	d := Decision{BundleHash: b.hash, Catalogue: values, Rules: []string{}}
	dec, diag := cedar.Authorize(b.enforced(), entities, req)
	d.Allow = bool(dec == cedar.Allow)
	for _, reason := range diag.Reasons {
		d.Rules = append(d.Rules, string(reason.PolicyID))
	}
	for _, e := range diag.Errors {
		d.Errors = append(d.Errors, fmt.Sprintf("policy %s: %s", e.PolicyID, e.Message))
	}
	sort.Strings(d.Rules)
	d.DefaultDeny = !d.Allow && len(d.Rules) == 0
	if d.Allow && b.hasMonitored() {
		_, full := cedar.Authorize(b.policies, entities, req)
		for _, reason := range full.Reasons {
			if rule, ok := b.rule(string(reason.PolicyID)); ok && rule.Effect == "forbid" {
				d.Monitored = append(d.Monitored, rule.ID)
			}
		}
		sort.Strings(d.Monitored)
	}
	return d
}

// enforced is the policy set without the forbid rules that are only
// monitored.
func (b *Bundle) enforced() *cedar.PolicySet {
	if !b.hasMonitored() {
		return b.policies
	}
	ps := cedar.NewPolicySet()
	for id, p := range b.policies.All() {
		if r, _ := b.rule(string(id)); r.Enforce == "monitor" {
			continue
		}
		ps.Add(id, p)
	}
	return ps
}

func (b *Bundle) hasMonitored() bool {
	for _, r := range b.rules {
		if r.Enforce == "monitor" {
			return true
		}
	}
	return false
}

// DecidingRules returns the rules a decision names, the deciding ones and
// then the monitored ones, with where each is written (an id the bundle
// does not define comes back alone).
func (b *Bundle) DecidingRules(d Decision) []Rule {
	out := make([]Rule, 0, len(d.Rules)+len(d.Monitored))
	for _, id := range append(slices.Clone(d.Rules), d.Monitored...) {
		r, ok := b.rule(id)
		if !ok {
			r = Rule{ID: id}
		}
		out = append(out, r)
	}
	return out
}

func (b *Bundle) rule(id string) (Rule, bool) {
	for _, r := range b.rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// confidenceDecimal turns a confidence into Cedar's decimal, which has
// four places.
func confidenceDecimal(v float64) (types.Decimal, error) {
	if !(v >= 0 && v <= 1) {
		return types.Decimal{}, fmt.Errorf("policies: confidence %v is not between 0 and 1", v)
	}
	scaled := math.Round(v * 10000)
	if math.Abs(scaled-v*10000) > 1e-6 {
		return types.Decimal{}, fmt.Errorf("policies: confidence %v has more than four decimal places", v)
	}
	return types.NewDecimal(int64(scaled), -4)
}
