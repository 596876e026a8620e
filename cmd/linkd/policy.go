package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/policies"
)

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

// policyCmd works on a policy bundle.
type policyCmd struct {
	Lint    policyLintCmd    `cmd:"" help:"Report every problem of the bundle as file:line:column: message."`
	Test    policyTestCmd    `cmd:"" help:"Run the bundle's policy tests."`
	Explain policyExplainCmd `cmd:"" help:"Decide a request, or explain an audit entry, and say why."`
	Diff    policyDiffCmd    `cmd:"" help:"The requests whose decision changes between two bundles."`
	Report  policyReportCmd  `cmd:"" help:"The catalogue as a record of processing."`
}

func (policyCmd) Help() string { return strings.TrimSpace(policyHelp) }

// bundleArg is the bundle a command works on.
type bundleArg struct {
	Dir string `arg:"" optional:"" placeholder:"DIR" help:"The bundle's directory (default $LINKD_POLICIES, else the built-in bundle)."`
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

type policyLintCmd struct {
	bundleArg
	outputFlag
}

func (policyLintCmd) Help() string {
	return "Reports every problem of the bundle as file:line:column: message, and exits 1 if there is any."
}

func (c *policyLintCmd) Run(e *env) error {
	fsys, name := bundleSource(e, c.Dir)
	probs := policies.Lint(fsys)
	if c.Output == outputJSON {
		out := []map[string]any{}
		for _, p := range probs {
			if name != "(built-in)" && p.File != "" {
				p.File = filepath.Join(name, p.File)
			}
			out = append(out, map[string]any{"file": p.File, "line": p.Line, "column": p.Column, "message": p.Msg})
		}
		if err := writeJSON(e, map[string]any{"bundle": name, "problems": out}); err != nil {
			return err
		}
		return done(min(len(probs), exitInput))
	}
	if len(probs) > 0 {
		printProblems(e.stderr, name, probs)
		fmt.Fprintf(e.stderr, "%d problems\n", len(probs))
		return exitCode(exitInput)
	}
	fmt.Fprintf(e.stdout, "%s: no problems\n", name)
	return nil
}

type policyTestCmd struct {
	bundleArg
	outputFlag
	Verbose bool `short:"v" help:"Print every test, not only the failures."`
}

func (policyTestCmd) Help() string {
	return `Runs the bundle's policy tests (tests/*.yaml) and prints "N passed, M failed"; exits 1 if any fails or the bundle has problems.`
}

func (c *policyTestCmd) Run(e *env) error {
	verbose := &c.Verbose
	fsys, name := bundleSource(e, c.Dir)
	b, probs := policies.Parse(fsys)
	if len(probs) > 0 {
		printProblems(e.stderr, name, probs)
		fmt.Fprintf(e.stderr, "%d problems: no test ran\n", len(probs))
		return exitCode(exitInput)
	}
	var passed, failed int
	results := []map[string]any{}
	for _, r := range b.RunTests() {
		where := r.Case.File
		if name != "(built-in)" {
			where = filepath.Join(name, where)
		}
		res := map[string]any{"file": where, "line": r.Case.Line, "name": r.Case.Name, "pass": r.Pass, "rule": r.Decision.Rule()}
		if !r.Pass {
			res["why"] = r.Why
		}
		results = append(results, res)
		if c.Output == outputJSON {
			if r.Pass {
				passed++
			} else {
				failed++
			}
			continue
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
	if c.Output == outputJSON {
		if err := writeJSON(e, map[string]any{"bundle": name, "passed": passed, "failed": failed, "tests": results}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return exitCode(exitInput)
	}
	return nil
}

type policyExplainCmd struct {
	serverFlags
	outputFlag
	JSON  bool     `hidden:"" help:"Print the decision as JSON (as --output json)."`
	Audit int64    `placeholder:"SEQ" help:"Explain the audit entry with this sequence number (needs --server)."`
	Args  []string `arg:"" optional:"" placeholder:"[DIR] FILE" help:"The bundle's directory (optional) and the request's FILE (YAML or JSON; - for standard input)."`
}

func (policyExplainCmd) Help() string {
	return `Decides the request in FILE (YAML or JSON, - for stdin) under the bundle and prints the decision,
the rules that decided and the catalogue values the decision used. A request:

  {role: advertiser, tenant: acme, action: audience.extend, resource: {kind: audience, tenant: acme},
   purpose: ads, region: DE, direction: social_to_messenger, consent: true}

With --server and a compliance key, asks a running server instead: --audit SEQ explains the audit
entry SEQ under the bundle it was decided under ("why was this allowed?").`
}

func (c *policyExplainCmd) Run(e *env) error {
	const cmd = "policy explain"
	seq, server, key := &c.Audit, &c.Server, &c.Key
	asJSON := c.JSON || c.Output == outputJSON
	var dir, file string
	switch {
	case *seq != 0 && len(c.Args) == 0:
	case len(c.Args) == 1 && *seq == 0:
		file = c.Args[0]
	case len(c.Args) == 2 && *seq == 0 && *server == "":
		dir, file = c.Args[0], c.Args[1]
	default:
		return usage(e, cmd, "want [DIR] FILE, or --audit SEQ with --server")
	}
	if *seq < 0 {
		return usage(e, cmd, "--audit: want a sequence number from 1")
	}
	if (*seq != 0 || *server != "") && (*server == "" || *key == "") {
		return usage(e, cmd, "asking a server needs --server (or LINKD_SERVER) and --key (or LINKD_KEY)")
	}
	var req *policies.Request
	if file != "" {
		var data []byte
		var err error
		if file == "-" {
			data, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
		r, err := policies.ParseRequest(file, data)
		if err != nil {
			printProblems(e.stderr, ".", err)
			return exitCode(exitInput)
		}
		req = &r
	}
	if *server != "" {
		return done(explainRemote(e, *server, *key, req, *seq, asJSON))
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitCode(exitInput)
	}
	if err := b.CheckAction(req.Action); err != nil {
		return failed(e, cmd, "%s", strings.TrimPrefix(err.Error(), "policies: "))
	}
	d := b.Decide(*req)
	if asJSON {
		return writeJSON(e, map[string]any{"request": req, "decision": d})
	}
	var rules []explainedRule
	for _, r := range b.DecidingRules(d) {
		rules = append(rules, explainedRule{ID: r.ID, Effect: r.Effect, File: r.File, Line: r.Line})
	}
	writeExplanation(e.stdout, d, rules)
	return nil
}

// explainedRule is a deciding rule and where it is written.
type explainedRule struct {
	ID     string `json:"id"`
	Effect string `json:"effect"`
	File   string `json:"file"`
	Line   int    `json:"line"`
}

// explainRemote asks a server's POST /v1/policies/explain.
func explainRemote(e *env, server, key string, req *policies.Request, seq int64, asJSON bool) int {
	body := map[string]any{}
	if req != nil {
		body["request"] = req
	} else {
		body["audit_seq"] = seq
	}
	data, _ := json.Marshal(body)
	hreq, err := http.NewRequest(http.MethodPost, strings.TrimRight(server, "/")+"/v1/policies/explain", bytes.NewReader(data))
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd policy explain: --server: %v\n", err)
		return exitUsage
	}
	hreq.Header.Set("Authorization", "Bearer "+key)
	hreq.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(hreq)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd policy explain: %v\n", err)
		return exitInput
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Message != "" {
			fmt.Fprintf(e.stderr, "linkd policy explain: the server answered %d %s: %s\n", resp.StatusCode, eb.Error.Code, eb.Error.Message)
		} else {
			fmt.Fprintf(e.stderr, "linkd policy explain: the server answered %s\n", resp.Status)
		}
		return exitInput
	}
	if asJSON {
		_, _ = e.stdout.Write(raw)
		return exitOK
	}
	var out struct {
		Decision policies.Decision `json:"decision"`
		Rules    []explainedRule   `json:"rules"`
		Under    string            `json:"under"`
		Recorded *struct {
			Seq       int64     `json:"seq"`
			Time      time.Time `json:"time"`
			Actor     string    `json:"actor"`
			Decision  string    `json:"decision"`
			Rule      string    `json:"rule"`
			RequestID string    `json:"request_id"`
		} `json:"recorded"`
		Request policies.Request `json:"request"`
		Note    string           `json:"note"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		fmt.Fprintf(e.stderr, "linkd policy explain: the server's answer is not an explanation: %v\n", err)
		return exitInput
	}
	if r := out.Recorded; r != nil {
		fmt.Fprintf(e.stdout, "audit entry %d: %s by %s at %s (rule %s, request %s)\n", r.Seq, r.Decision, r.Actor,
			r.Time.Format(time.RFC3339), r.Rule, r.RequestID)
		q := out.Request
		fmt.Fprintf(e.stdout, "request: role %s, tenant %q, action %s on %s\n", q.Role, q.Tenant, q.Action, q.Resource.Kind)
		fmt.Fprintf(e.stdout, "decided again under the %s bundle:\n", out.Under)
	}
	writeExplanation(e.stdout, out.Decision, out.Rules)
	if out.Note != "" {
		fmt.Fprintf(e.stdout, "note: %s\n", out.Note)
	}
	return exitOK
}

// writeExplanation prints a decision for a person: what, why, under which
// bundle, with which catalogue values.
func writeExplanation(w io.Writer, d policies.Decision, rules []explainedRule) {
	fmt.Fprintf(w, "decision: %s\n", verdict(d))
	if d.DefaultDeny {
		fmt.Fprintln(w, "because: no rule permits this request (default deny)")
	}
	monitored := map[string]bool{}
	for _, id := range d.Monitored {
		monitored[id] = true
	}
	for _, r := range rules {
		if monitored[r.ID] {
			fmt.Fprintf(w, "monitored: forbid %s (%s:%d) would have denied it; it is in monitor enforcement\n", r.ID, r.File, r.Line)
			continue
		}
		fmt.Fprintf(w, "because: %s %s (%s:%d)\n", r.Effect, r.ID, r.File, r.Line)
	}
	for _, msg := range d.Errors {
		fmt.Fprintf(w, "skipped: %s\n", msg)
	}
	for _, k := range slices.Sorted(maps.Keys(d.Catalogue)) {
		fmt.Fprintf(w, "catalogue: %s = %v\n", k, d.Catalogue[k])
	}
	fmt.Fprintf(w, "bundle: %s\n", d.BundleHash)
}

type policyDiffCmd struct {
	serverFlags
	outputFlag
	Days int    `default:"30" help:"How many days of the audit log to replay, with --server (1 to 3650)."`
	Old  string `arg:"" placeholder:"OLD" help:"The running bundle's directory."`
	New  string `arg:"" placeholder:"NEW" help:"The proposed bundle's directory."`
}

func (policyDiffCmd) Help() string {
	return "Decides every test request of both bundles under each and lists those whose decision or deciding rules change;\n" +
		"with --server and a compliance key, also every request the party's audit log recorded in the last --days days.\n" +
		"Exits 1 when any decision changes, 0 when none does. Both bundles must lint clean; their own tests may fail."
}

func (c *policyDiffCmd) Run(e *env) error {
	const cmd = "policy diff"
	server, key, days := &c.Server, &c.Key, &c.Days
	if *server != "" && *key == "" {
		return usage(e, cmd, "--server needs --key (or LINKD_KEY)")
	}
	if *days < 1 || *days > 3650 {
		return usage(e, cmd, "--days must be between 1 and 3650")
	}
	dirs := [2]string{c.Old, c.New}
	var bs [2]*policies.Bundle
	for i := range bs {
		// The bundles must be valid; their own tests may fail (a
		// proposed change whose tests are not updated yet).
		b, probs := policies.Parse(os.DirFS(dirs[i]))
		if len(probs) > 0 {
			printProblems(e.stderr, dirs[i], probs)
			return exitCode(exitInput)
		}
		bs[i] = b
	}
	changes := policies.Diff(bs[0], bs[1])
	replayed := 0
	if *server != "" {
		ctx, stop := e.context()
		defer stop()
		cases, err := auditRequests(ctx, client.New(*server, *key, 30*time.Second), time.Now().AddDate(0, 0, -*days))
		if err != nil {
			return failed(e, cmd, "reading the audit log: %v", err)
		}
		replayed = len(cases)
		changes = append(changes, policies.DiffRequests(bs[0], bs[1], cases)...)
	}
	if c.Output == outputJSON {
		out := []map[string]any{}
		for _, ch := range changes {
			out = append(out, map[string]any{"file": ch.Case.File, "line": ch.Case.Line, "name": ch.Case.Name,
				"old": map[string]string{"decision": verdict(ch.Old), "rule": ch.Old.Rule()},
				"new": map[string]string{"decision": verdict(ch.New), "rule": ch.New.Rule()}})
		}
		if err := writeJSON(e, map[string]any{"changes": out, "audit_requests_replayed": replayed}); err != nil {
			return err
		}
		return done(min(len(changes), exitInput))
	}
	for _, ch := range changes {
		fmt.Fprintf(e.stdout, "%s:%d: %s\n    old: %s (%s)\n    new: %s (%s)\n", ch.Case.File, ch.Case.Line, ch.Case.Name,
			verdict(ch.Old), ch.Old.Rule(), verdict(ch.New), ch.New.Rule())
	}
	if *server != "" {
		fmt.Fprintf(e.stdout, "%d requests of the audit log replayed (the last %d days)\n", replayed, *days)
	}
	fmt.Fprintf(e.stdout, "%d requests change decision\n", len(changes))
	return done(min(len(changes), exitInput))
}

// auditRequests reads the requests the audit log recorded since, oldest
// first, each named by its entry ("audit" and its seq, the action and the
// time). An entry without a request (a rate-limit refusal's) is left out.
func auditRequests(ctx context.Context, c *client.Client, since time.Time) ([]policies.TestCase, error) {
	type entry struct {
		Seq     int64           `json:"seq"`
		Time    time.Time       `json:"time"`
		Action  string          `json:"action"`
		Request json.RawMessage `json:"request"`
	}
	q := url.Values{"since": {since.UTC().Format(time.RFC3339)}}
	items, err := client.List[entry](ctx, c, "/v1/audit", q, "after", 0)
	if err != nil {
		return nil, err
	}
	var out []policies.TestCase
	for _, it := range items {
		var r policies.Request
		if len(it.Request) == 0 || json.Unmarshal(it.Request, &r) != nil || r.Action == "" {
			continue
		}
		out = append(out, policies.TestCase{File: "audit", Line: int(it.Seq),
			Name: fmt.Sprintf("%s at %s", it.Action, it.Time.UTC().Format(time.RFC3339)), Request: r})
	}
	return out, nil
}

func verdict(d policies.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

type policyReportCmd struct {
	serverFlags
	bundleArg
	Format string `enum:"markdown,html" default:"markdown" placeholder:"FORMAT" help:"markdown or html."`
	Since  string `placeholder:"DAY" help:"The day (UTC, 2026-11-01) the signals' figures start at (default: the server's, 30 days ago)."`
}

func (policyReportCmd) Help() string {
	return "Prints the catalogue as a record of processing: purposes and lawful basis, kinds of data and retention,\n" +
		"flows between the parties and the rules that decide them, limits. With --server and a compliance key, also\n" +
		"how the signals of each type fared at that party (GET /v1/signals/report), beside the minimum confidences."
}

func (c *policyReportCmd) Run(e *env) error {
	const cmd = "policy report"
	format, server, key, since, dir := &c.Format, &c.Server, &c.Key, &c.Since, c.Dir
	if *server != "" && *key == "" {
		return usage(e, cmd, "--server needs --key (or LINKD_KEY)")
	}
	if *since != "" {
		if _, err := time.Parse(time.DateOnly, *since); err != nil {
			return usage(e, cmd, "--since: a day such as 2026-11-01")
		}
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitCode(exitInput)
	}
	var fared *policies.SignalsFared
	if *server != "" {
		fared = &policies.SignalsFared{Party: *server}
		path := "/v1/signals/report"
		if *since != "" {
			path += "?since=" + url.QueryEscape(*since)
		}
		ctx, stop := e.context()
		err := client.New(*server, *key, 30*time.Second).Call(ctx, http.MethodGet, path, nil, fared)
		stop()
		if err != nil {
			return failed(e, cmd, "how the signals fared: %v", err)
		}
	}
	out, err := b.ReportWith(*format, fared)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	_, _ = e.stdout.Write(out)
	return nil
}
