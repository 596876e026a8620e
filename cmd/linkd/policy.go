package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/linkd/linkd/policies"
)

func init() {
	register(command{"policy", "lint, test, explain, diff and report the policy bundle", runPolicy})
}

const policyHelp = `
Works on a policy bundle: the directory with the Cedar policies (*.cedar),
their schema (linkd.cedarschema), catalogue.yaml with its JSON Schema, and
the policy tests in tests/*.yaml. Without DIR, the bundle in $LINKD_POLICIES,
or else the default bundle built into linkd.

  lint [DIR]            every problem as file:line:column: message; exit 1 if any
  test [DIR]            run the policy tests; prints "N passed, M failed"; exit 1 on a failure
  explain [DIR] FILE    decide the request in FILE (YAML or JSON; - for stdin):
                        the decision, the deciding rules, the catalogue values used
  diff OLD NEW          the test requests of either bundle whose decision changes
  report [DIR]          the catalogue as a record of processing (--format markdown|html)`

func runPolicy(e *env, args []string) int {
	fs := newFlags(e, "policy", "policy lint|test|explain|diff|report [flags] [DIR]", policyHelp)
	sub, code, ok := subcommand(e, fs, args, "lint", "test", "explain", "diff", "report")
	if !ok {
		return code
	}
	switch sub {
	case "lint":
		return policyLint(e, args[1:])
	case "test":
		return policyTest(e, args[1:])
	case "explain":
		return policyExplain(e, args[1:])
	case "diff":
		return policyDiff(e, args[1:])
	}
	return policyReport(e, args[1:])
}

// bundleSource is the directory a command works on, with the name it is
// shown by: the directory, or "(built-in)" for the default bundle.
func bundleSource(e *env, dir string) (fs.FS, string) {
	if dir == "" {
		dir = e.getenv("LINKD_POLICIES")
	}
	if dir == "" {
		return policies.DefaultFS(), "(built-in)"
	}
	return os.DirFS(dir), dir
}

// printProblems writes each problem with its path under dir.
func printProblems(w io.Writer, dir string, err error) {
	ps, ok := err.(policies.Problems)
	if !ok {
		fmt.Fprintf(w, "%s: %v\n", dir, err)
		return
	}
	for _, p := range ps {
		if dir != "(built-in)" && p.File != "" {
			p.File = filepath.Join(dir, p.File)
		}
		fmt.Fprintln(w, p.String())
	}
}

func oneDir(e *env, fs *flag.FlagSet, args []string) (string, int, bool) {
	if code, ok := parse(e, fs, args); !ok {
		return "", code, false
	}
	if fs.NArg() > 1 {
		return "", usageError(e, fs, "unexpected argument %q", fs.Arg(1)), false
	}
	return fs.Arg(0), 0, true
}

func policyLint(e *env, args []string) int {
	fs := newFlags(e, "policy lint", "policy lint [DIR]", "Reports every problem of the bundle as file:line:column: message, and exits 1 if there is any.")
	dir, code, ok := oneDir(e, fs, args)
	if !ok {
		return code
	}
	fsys, name := bundleSource(e, dir)
	if probs := policies.Lint(fsys); len(probs) > 0 {
		printProblems(e.stderr, name, probs)
		fmt.Fprintf(e.stderr, "%d problems\n", len(probs))
		return exitInput
	}
	fmt.Fprintf(e.stdout, "%s: no problems\n", name)
	return exitOK
}

func policyTest(e *env, args []string) int {
	fs := newFlags(e, "policy test", "policy test [-v] [DIR]", "Runs the bundle's policy tests (tests/*.yaml) and prints \"N passed, M failed\"; exits 1 if any fails or the bundle has problems.")
	verbose := fs.Bool("v", false, "print every test, not only the failures")
	dir, code, ok := oneDir(e, fs, args)
	if !ok {
		return code
	}
	fsys, name := bundleSource(e, dir)
	b, probs := policies.Parse(fsys)
	if len(probs) > 0 {
		printProblems(e.stderr, name, probs)
		fmt.Fprintf(e.stderr, "%d problems: no test ran\n", len(probs))
		return exitInput
	}
	var passed, failed int
	for _, r := range b.RunTests() {
		where := r.Case.File
		if name != "(built-in)" {
			where = filepath.Join(name, where)
		}
		if r.Pass {
			passed++
			if *verbose {
				fmt.Fprintf(e.stdout, "ok   %s:%d: %s (%s)\n", where, r.Case.Line, r.Case.Name, r.Decision.Rule())
			}
			continue
		}
		failed++
		fmt.Fprintf(e.stdout, "FAIL %s:%d: %s: %s\n", where, r.Case.Line, r.Case.Name, r.Why)
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitInput
	}
	return exitOK
}

func policyExplain(e *env, args []string) int {
	fs := newFlags(e, "policy explain", "policy explain [--json] [DIR] FILE",
		"Decides the request in FILE (YAML or JSON, - for stdin) under the bundle and prints the decision,\nthe rules that decided and the catalogue values the decision used. A request:\n\n  {role: advertiser, tenant: acme, action: audience.extend, resource: {kind: audience, tenant: acme},\n   purpose: ads, region: DE, direction: social_to_messenger, consent: true}")
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	var dir, file string
	switch fs.NArg() {
	case 1:
		file = fs.Arg(0)
	case 2:
		dir, file = fs.Arg(0), fs.Arg(1)
	default:
		return usageError(e, fs, "want [DIR] FILE")
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitInput
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd policy explain: %v\n", err)
		return exitInput
	}
	req, err := policies.ParseRequest(file, data)
	if err != nil {
		printProblems(e.stderr, ".", err)
		return exitInput
	}
	d := b.Decide(req)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"request": req, "decision": d})
		return exitOK
	}
	writeExplanation(e.stdout, b, d)
	return exitOK
}

// writeExplanation prints a decision for a person: what, why, under which
// bundle, with which catalogue values.
func writeExplanation(w io.Writer, b *policies.Bundle, d policies.Decision) {
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	fmt.Fprintf(w, "decision: %s\n", verdict)
	if d.DefaultDeny {
		fmt.Fprintln(w, "because: no rule permits this request (default deny)")
	}
	rules := map[string]policies.Rule{}
	for _, r := range b.Rules() {
		rules[r.ID] = r
	}
	for _, id := range d.Rules {
		r := rules[id]
		fmt.Fprintf(w, "because: %s %s (%s:%d)\n", r.Effect, id, r.File, r.Line)
	}
	for _, id := range d.Monitored {
		r := rules[id]
		fmt.Fprintf(w, "monitored: forbid %s (%s:%d) would have denied it; it is in monitor enforcement\n", id, r.File, r.Line)
	}
	for _, msg := range d.Errors {
		fmt.Fprintf(w, "skipped: %s\n", msg)
	}
	keys := make([]string, 0, len(d.Catalogue))
	for k := range d.Catalogue {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "catalogue: %s = %v\n", k, d.Catalogue[k])
	}
	fmt.Fprintf(w, "bundle: %s\n", d.BundleHash)
}

func policyDiff(e *env, args []string) int {
	fs := newFlags(e, "policy diff", "policy diff OLD NEW",
		"Decides every test request of both bundles under each and lists those whose decision or deciding rules change.\nBoth bundles must lint clean; their own tests may fail.")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return usageError(e, fs, "want two bundle directories, OLD and NEW")
	}
	var bs [2]*policies.Bundle
	for i := range bs {
		// The bundles must be valid; their own tests may fail (a
		// proposed change whose tests are not updated yet).
		b, probs := policies.Parse(os.DirFS(fs.Arg(i)))
		if len(probs) > 0 {
			printProblems(e.stderr, fs.Arg(i), probs)
			return exitInput
		}
		bs[i] = b
	}
	changes := policies.Diff(bs[0], bs[1])
	for _, c := range changes {
		fmt.Fprintf(e.stdout, "%s:%d: %s\n    old: %s (%s)\n    new: %s (%s)\n", c.Case.File, c.Case.Line, c.Case.Name,
			verdict(c.Old), c.Old.Rule(), verdict(c.New), c.New.Rule())
	}
	fmt.Fprintf(e.stdout, "%d requests change decision\n", len(changes))
	return exitOK
}

func verdict(d policies.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

func policyReport(e *env, args []string) int {
	fs := newFlags(e, "policy report", "policy report [--format markdown|html] [DIR]",
		"Prints the catalogue as a record of processing: purposes and lawful basis, kinds of data and retention,\nflows between the parties and the rules that decide them, limits.")
	format := fs.String("format", "markdown", "`format` of the report: markdown or html")
	dir, code, ok := oneDir(e, fs, args)
	if !ok {
		return code
	}
	if *format != "markdown" && *format != "html" {
		return usageError(e, fs, "--format must be markdown or html, not %q", *format)
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitInput
	}
	out, err := b.Report(*format)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd policy report: %v\n", err)
		return exitInput
	}
	_, _ = e.stdout.Write(out)
	return exitOK
}
