// Package policies loads the policy bundle that compliance reviews and
// answers every authorization and flow decision of linkd from it.
//
// A bundle is a directory (the default one is this package's own, embedded
// in the binary) holding:
//
//	linkd.cedarschema      the vocabulary: Caller, Resource, actions, context
//	*.cedar                Cedar policies, each with a unique @id("...")
//	catalogue.yaml         the tables: purposes and lawful basis per region,
//	                       retention, minimum audience size, signal types and
//	                       their minimum confidence per direction, limits and
//	                       budgets, enforcement level per rule
//	catalogue.schema.json  the JSON Schema the catalogue must satisfy
//	tests/*.yaml           requests and the decisions they must get
//
// Load parses and validates all of it (Cedar syntax, the policies against
// the schema, the catalogue against its JSON Schema, every policy named)
// and runs the tests; a bundle with any problem is refused as a whole.
// Decide evaluates a Request: the catalogue values the request needs are
// looked up first and handed to Cedar as context, so the Cedar files say
// what is allowed and the catalogue says with which numbers.
//
// Decisions are deny by default: a request no policy permits is denied,
// and Decision.Rules is empty. Any forbid that applies wins over every
// permit, unless the catalogue sets that forbid to "monitor".
//
// This package depends on nothing else of linkd's, so that it can be read
// and tested apart from the code it governs.
package policies

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/cedar-policy/cedar-go"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
	"github.com/cedar-policy/cedar-go/x/exp/schema"
	"github.com/cedar-policy/cedar-go/x/exp/schema/validate"
)

//go:embed linkd.cedarschema *.cedar catalogue.yaml catalogue.schema.json tests/*.yaml
var defaultFS embed.FS

// File names of a bundle.
const (
	SchemaFile          = "linkd.cedarschema"
	CatalogueFile       = "catalogue.yaml"
	CatalogueSchemaFile = "catalogue.schema.json"
	TestsDir            = "tests"
)

// DefaultFS is the reviewed bundle compiled into the binary.
func DefaultFS() fs.FS { return defaultFS }

// Problem is one thing wrong with a bundle, where it is.
type Problem struct {
	File   string
	Line   int // 0 when unknown
	Column int
	Msg    string
}

func (p Problem) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	case p.File != "":
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return p.Msg
}

// Problems is the error of a bundle that does not load.
type Problems []Problem

func (ps Problems) Error() string {
	if len(ps) == 1 {
		return "policies: " + ps[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "policies: %d problems:", len(ps))
	for _, p := range ps {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// File is one file of a bundle.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Bundle is a loaded, validated policy bundle. It is immutable.
type Bundle struct {
	hash      string
	files     []File
	policies  *cedar.PolicySet
	rules     []Rule
	Catalogue *Catalogue
	tests     []TestCase
	actions   []string // the schema's, sorted
}

// Rule is one Cedar policy of the bundle.
type Rule struct {
	ID       string `json:"id"`
	Effect   string `json:"effect"` // "permit" or "forbid"
	File     string `json:"file"`
	Line     int    `json:"line"`
	Enforce  string `json:"enforcement"` // "enforce" or "monitor"
	Document string `json:"-"`
	// Why is the comment above the rule in its file (or above the rule
	// before it, when it has none of its own): what it is for, in words.
	Why string `json:"why,omitempty"`
}

// Hash is the SHA-256 of the bundle's files (names and contents), hex: it
// names the bundle a decision was taken under.
func (b *Bundle) Hash() string { return b.hash }

// Files returns the bundle's files in name order.
func (b *Bundle) Files() []File { return append([]File(nil), b.files...) }

// Rules returns the bundle's policies in file and line order.
func (b *Bundle) Rules() []Rule { return append([]Rule(nil), b.rules...) }

// Actions returns the actions the schema declares, sorted.
func (b *Bundle) Actions() []string { return slices.Clone(b.actions) }

// CheckAction is nil if the schema declares action, else an error that
// names the nearest action it does declare.
func (b *Bundle) CheckAction(action string) error {
	if _, ok := slices.BinarySearch(b.actions, action); ok {
		return nil
	}
	best, dist := "", -1
	for _, a := range b.actions {
		if d := editDistance(action, a); dist < 0 || d < dist {
			best, dist = a, d
		}
	}
	if best != "" && dist <= max(2, len(action)/3) {
		return fmt.Errorf("policies: unknown action %q; did you mean %q?", action, best)
	}
	return fmt.Errorf("policies: unknown action %q: the schema's actions are %s", action, strings.Join(b.actions, ", "))
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Tests returns the bundle's test cases.
func (b *Bundle) Tests() []TestCase { return append([]TestCase(nil), b.tests...) }

// Default loads the embedded bundle. It panics if that bundle is broken,
// which the package's tests rule out.
func Default() *Bundle {
	b, err := Load(defaultFS)
	if err != nil {
		panic(err)
	}
	return b
}

// Load reads, validates and tests the bundle in fsys (its root is the
// bundle directory). Any problem refuses the whole bundle: the error is
// Problems, each with its file and, where known, line and column.
func Load(fsys fs.FS) (*Bundle, error) {
	b, probs := parse(fsys)
	if len(probs) > 0 {
		return nil, probs
	}
	var failed Problems
	for _, r := range b.RunTests() {
		if !r.Pass {
			failed = append(failed, Problem{File: r.Case.File, Line: r.Case.Line, Column: 1, Msg: "test " + r.Case.Name + ": " + r.Why})
		}
	}
	if len(failed) > 0 {
		return nil, failed
	}
	return b, nil
}

// Lint reports every problem of the bundle in fsys without running its
// tests; nil means it parses and validates.
func Lint(fsys fs.FS) Problems {
	_, probs := parse(fsys)
	return probs
}

// parse loads everything but runs no test.
func parse(fsys fs.FS) (*Bundle, Problems) {
	var probs Problems
	b := &Bundle{policies: cedar.NewPolicySet()}

	names, err := bundleFiles(fsys)
	if err != nil {
		return nil, Problems{{Msg: "reading the bundle: " + err.Error()}}
	}
	contents := map[string][]byte{}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			probs = append(probs, Problem{File: n, Msg: "cannot read: " + err.Error()})
			continue
		}
		contents[n] = data
		b.files = append(b.files, File{Name: n, Content: string(data)})
	}
	for _, need := range []string{SchemaFile, CatalogueFile, CatalogueSchemaFile} {
		if _, ok := contents[need]; !ok {
			probs = append(probs, Problem{File: need, Msg: "missing: every bundle has " + need})
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	h := sha256.New()
	for _, f := range b.files {
		fmt.Fprintf(h, "%d:%s\n%d:", len(f.Name), f.Name, len(f.Content))
		h.Write([]byte(f.Content))
	}
	b.hash = hex.EncodeToString(h.Sum(nil))

	// The catalogue.
	cat, cprobs := parseCatalogue(contents[CatalogueFile], contents[CatalogueSchemaFile])
	probs = append(probs, cprobs...)
	b.Catalogue = cat

	// The Cedar schema.
	var sch schema.Schema
	sch.SetFilename(SchemaFile)
	var validator *validate.Validator
	if err := sch.UnmarshalCedar(contents[SchemaFile]); err != nil {
		probs = append(probs, cedarProblem(SchemaFile, err))
	} else if rs, err := sch.Resolve(); err != nil {
		probs = append(probs, cedarProblem(SchemaFile, err))
	} else {
		validator = validate.New(rs, validate.WithStrict())
		for uid := range rs.Actions {
			b.actions = append(b.actions, string(uid.ID))
		}
		slices.Sort(b.actions)
	}

	// The policies: each named, each valid against the schema.
	seen := map[string]Rule{}
	for _, n := range names {
		if path.Ext(n) != ".cedar" || path.Dir(n) != "." {
			continue
		}
		list, err := cedar.NewPolicyListFromBytes(n, contents[n])
		if err != nil {
			probs = append(probs, cedarProblem(n, err))
			continue
		}
		for _, p := range list {
			pos := p.Position()
			id, ok := p.Annotations()["id"]
			if !ok || id == "" {
				probs = append(probs, Problem{File: n, Line: pos.Line, Column: pos.Column, Msg: `policy has no @id("..."): every decision must name its rule`})
				continue
			}
			if prev, dup := seen[string(id)]; dup {
				probs = append(probs, Problem{File: n, Line: pos.Line, Column: pos.Column,
					Msg: fmt.Sprintf("policy id %q is already used at %s:%d", id, prev.File, prev.Line)})
				continue
			}
			if validator != nil {
				if err := validator.Policy(string(id), (*xast.Policy)(p.AST())); err != nil {
					for _, e := range flatten(err) {
						probs = append(probs, Problem{File: n, Line: pos.Line, Column: pos.Column, Msg: fmt.Sprintf("policy %q: %s", id, e)})
					}
					continue
				}
			}
			effect := "permit"
			if p.Effect() == cedar.Forbid {
				effect = "forbid"
			}
			r := Rule{ID: string(id), Effect: effect, File: n, Line: pos.Line, Enforce: "enforce", Document: string(p.MarshalCedar()),
				Why: commentAbove(contents[n], pos.Line)}
			if r.Why == "" && len(b.rules) > 0 && b.rules[len(b.rules)-1].File == n {
				r.Why = b.rules[len(b.rules)-1].Why
			}
			seen[r.ID] = r
			b.rules = append(b.rules, r)
			b.policies.Add(cedar.PolicyID(id), p)
		}
	}
	if len(seen) == 0 && len(probs) == 0 {
		probs = append(probs, Problem{Msg: "the bundle has no policy: everything would be denied"})
	}

	// Enforcement levels name existing forbid rules.
	if cat != nil {
		for _, id := range slices.Sorted(maps.Keys(cat.Enforcement)) {
			r, ok := seen[id]
			switch {
			case !ok:
				probs = append(probs, cat.problemAt([]string{"enforcement", id}, fmt.Sprintf("enforcement names policy %q, which no .cedar file defines", id)))
			case r.Effect != "forbid" && cat.Enforcement[id] == "monitor":
				probs = append(probs, cat.problemAt([]string{"enforcement", id}, fmt.Sprintf("policy %q is a permit: only forbid rules can be monitored", id)))
			}
		}
		for i := range b.rules {
			if lvl, ok := cat.Enforcement[b.rules[i].ID]; ok {
				b.rules[i].Enforce = lvl
			}
		}
	}

	// The tests.
	tests, tprobs := parseTests(names, contents)
	probs = append(probs, tprobs...)
	if b.actions != nil {
		for _, tc := range tests {
			if err := b.CheckAction(tc.Request.Action); err != nil {
				probs = append(probs, Problem{File: tc.File, Line: tc.Line, Column: 1, Msg: fmt.Sprintf("test %q: %s", tc.Name, strings.TrimPrefix(err.Error(), "policies: "))})
			}
		}
	}
	b.tests = tests
	if len(probs) > 0 {
		return nil, probs
	}
	return b, nil
}

// bundleFiles lists the files that make a bundle, in name order.
func bundleFiles(fsys fs.FS) ([]string, error) {
	var names []string
	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		n := e.Name()
		if !e.IsDir() && (path.Ext(n) == ".cedar" || n == SchemaFile || n == CatalogueFile || n == CatalogueSchemaFile) {
			names = append(names, n)
		}
	}
	tests, err := fs.ReadDir(fsys, TestsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range tests {
		if !e.IsDir() && (path.Ext(e.Name()) == ".yaml" || path.Ext(e.Name()) == ".yml") {
			names = append(names, path.Join(TestsDir, e.Name()))
		}
	}
	sort.Strings(names)
	return names, nil
}

// flatten splits a joined error into its messages.
func flatten(err error) []string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// Parse loads and validates the bundle in fsys without running its tests,
// so that the tests can be run and reported one by one.
func Parse(fsys fs.FS) (*Bundle, Problems) {
	return parse(fsys)
}

// commentAbove is the block of // comment lines that ends just above line
// (1-based) of src, past the rule's annotations and blank lines, as one
// line of text.
func commentAbove(src []byte, line int) string {
	lines := strings.Split(string(src), "\n")
	var block []string
	for i := min(line, len(lines)) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if c, ok := strings.CutPrefix(l, "//"); ok {
			block = append(block, strings.TrimSpace(c))
			continue
		}
		if len(block) == 0 && (l == "" || strings.HasPrefix(l, "@") || i == line-1) {
			continue // the rule's own first line, its annotations, blank lines
		}
		break
	}
	slices.Reverse(block)
	return strings.Join(block, " ")
}
