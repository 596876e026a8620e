package policies

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	yast "github.com/goccy/go-yaml/ast"
)

// TestCase is one request of tests/*.yaml and the decision it must get.
type TestCase struct {
	Name    string  `json:"name" yaml:"name"`
	Request Request `json:"request" yaml:"request"`
	// Expect is "allow" or "deny".
	Expect string `json:"expect" yaml:"expect"`
	// Rules, when given, are exactly the rules that must decide ([] for a
	// default deny).
	Rules *[]string `json:"rules,omitempty" yaml:"rules"`

	File string `json:"file" yaml:"-"`
	Line int    `json:"line" yaml:"-"`
}

// TestResult is the outcome of one TestCase.
type TestResult struct {
	Case     TestCase
	Decision Decision
	Pass     bool
	Why      string // what differed, when it failed
}

// RunTests decides every test case of the bundle.
func (b *Bundle) RunTests() []TestResult {
	return b.Run(b.tests)
}

// Run decides the given cases under the bundle.
func (b *Bundle) Run(cases []TestCase) []TestResult {
	out := make([]TestResult, 0, len(cases))
	for _, tc := range cases {
		d := b.Decide(tc.Request)
		res := TestResult{Case: tc, Decision: d, Pass: true}
		got := "deny"
		if d.Allow {
			got = "allow"
		}
		switch {
		case got != tc.Expect:
			res.Pass, res.Why = false, fmt.Sprintf("expected %s, got %s (%s)", tc.Expect, got, d.Rule())
		case tc.Rules != nil && !sameRules(*tc.Rules, d.Rules):
			res.Pass, res.Why = false, fmt.Sprintf("expected rules [%s], got [%s]", strings.Join(*tc.Rules, ", "), strings.Join(d.Rules, ", "))
		}
		out = append(out, res)
	}
	return out
}

func sameRules(want, got []string) bool {
	w := slices.Clone(want)
	sort.Strings(w)
	return slices.Equal(w, got)
}

// parseTests reads tests/*.yaml: each a list of cases.
func parseTests(names []string, contents map[string][]byte) ([]TestCase, Problems) {
	var (
		all   []TestCase
		probs Problems
	)
	for _, n := range names {
		if !strings.HasPrefix(n, TestsDir+"/") {
			continue
		}
		cases, p := parseTestFile(n, contents[n])
		all = append(all, cases...)
		probs = append(probs, p...)
	}
	return all, probs
}

func parseTestFile(name string, data []byte) ([]TestCase, Problems) {
	file, probs := parseYAML(name, data)
	if probs != nil {
		return nil, probs
	}
	var cases []TestCase
	if err := yaml.UnmarshalWithOptions(data, &cases, yaml.Strict()); err != nil {
		return nil, Problems{yamlProblem(name, err)}
	}
	var lines []int
	if len(file.Docs) > 0 {
		if seq, ok := file.Docs[0].Body.(*yast.SequenceNode); ok {
			for _, v := range seq.Values {
				lines = append(lines, v.GetToken().Position.Line)
			}
		}
	}
	names := map[string]bool{}
	for i := range cases {
		tc := &cases[i]
		tc.File = name
		if i < len(lines) {
			tc.Line = lines[i]
		}
		at := func(msg string) {
			probs = append(probs, Problem{File: name, Line: tc.Line, Column: 1, Msg: msg})
		}
		switch {
		case tc.Name == "":
			at("test case has no name")
		case names[tc.Name]:
			at(fmt.Sprintf("test case %q is named twice", tc.Name))
		}
		names[tc.Name] = true
		if tc.Expect != "allow" && tc.Expect != "deny" {
			at(fmt.Sprintf("test case %q: expect must be allow or deny, not %q", tc.Name, tc.Expect))
		}
		if tc.Request.Action == "" || tc.Request.Role == "" {
			at(fmt.Sprintf("test case %q: the request needs a role and an action", tc.Name))
		}
		if _, err := confidenceDecimal(tc.Request.Confidence); err != nil {
			at(fmt.Sprintf("test case %q: %v", tc.Name, strings.TrimPrefix(err.Error(), "policies: ")))
		}
	}
	return cases, probs
}

// ParseRequest reads one request, in YAML or JSON, as `linkd policy
// explain` takes it. Unknown fields are refused.
func ParseRequest(name string, data []byte) (Request, error) {
	var r Request
	if _, probs := parseYAML(name, data); probs != nil {
		return r, probs
	}
	if err := yaml.UnmarshalWithOptions(data, &r, yaml.Strict()); err != nil {
		return r, Problems{yamlProblem(name, err)}
	}
	if r.Action == "" || r.Role == "" {
		return r, Problems{{File: name, Msg: "the request needs a role and an action"}}
	}
	if _, err := confidenceDecimal(r.Confidence); err != nil {
		return r, Problems{{File: name, Msg: strings.TrimPrefix(err.Error(), "policies: ")}}
	}
	return r, nil
}
