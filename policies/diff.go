package policies

import "slices"

// Change is a test request whose decision differs between two bundles.
type Change struct {
	Case TestCase `json:"case"`
	Old  Decision `json:"old"`
	New  Decision `json:"new"`
}

// Diff decides the test requests of both bundles under each and returns
// those whose decision (allow or deny, or the deciding rules) changes, in
// the order of old's tests, then new's. A request both bundles test is
// compared once.
func Diff(old, new *Bundle) []Change {
	return DiffRequests(old, new, append(old.Tests(), new.Tests()...))
}

func requestKey(r Request) string {
	b, _ := jsonMarshal(r)
	return string(b)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// DiffRequests decides each of reqs under both bundles and returns those
// whose decision or deciding rules change, named by cases[i] (the
// request's origin: an audit entry, say), each distinct request once.
func DiffRequests(old, new *Bundle, cases []TestCase) []Change {
	var out []Change
	seen := map[string]bool{}
	for _, tc := range cases {
		key := requestKey(tc.Request)
		if seen[key] {
			continue
		}
		seen[key] = true
		o, n := old.Decide(tc.Request), new.Decide(tc.Request)
		if o.Allow != n.Allow || !slices.Equal(sortedCopy(o.Rules), sortedCopy(n.Rules)) {
			out = append(out, Change{Case: tc, Old: o, New: n})
		}
	}
	return out
}
