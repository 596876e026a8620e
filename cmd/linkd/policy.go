package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
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
	fs := newFlags(e, "policy explain", "policy explain [--json] [DIR] FILE | --server URL --key KEY (--audit SEQ | FILE)",
		`Decides the request in FILE (YAML or JSON, - for stdin) under the bundle and prints the decision,
the rules that decided and the catalogue values the decision used. A request:

  {role: advertiser, tenant: acme, action: audience.extend, resource: {kind: audience, tenant: acme},
   purpose: ads, region: DE, direction: social_to_messenger, consent: true}

With --server and a compliance key, asks a running server instead: --audit SEQ explains the audit
entry SEQ under the bundle it was decided under ("why was this allowed?").`)
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	server := fs.String("server", e.getenv("LINKD_SERVER"), "ask the server at `URL` (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "compliance API `key` for --server (default $LINKD_KEY)")
	seq := fs.Int64("audit", 0, "explain the audit entry with this sequence `number` (needs --server)")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	var dir, file string
	switch {
	case *seq != 0 && fs.NArg() == 0:
	case fs.NArg() == 1 && *seq == 0:
		file = fs.Arg(0)
	case fs.NArg() == 2 && *seq == 0 && *server == "":
		dir, file = fs.Arg(0), fs.Arg(1)
	default:
		return usageError(e, fs, "want [DIR] FILE, or --audit SEQ with --server")
	}
	if *seq < 0 {
		return usageError(e, fs, "--audit: want a sequence number from 1")
	}
	if (*seq != 0 || *server != "") && (*server == "" || *key == "") {
		return usageError(e, fs, "asking a server needs --server (or LINKD_SERVER) and --key (or LINKD_KEY)")
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
			fmt.Fprintf(e.stderr, "linkd policy explain: %v\n", err)
			return exitInput
		}
		r, err := policies.ParseRequest(file, data)
		if err != nil {
			printProblems(e.stderr, ".", err)
			return exitInput
		}
		req = &r
	}
	if *server != "" {
		return explainRemote(e, *server, *key, req, *seq, *asJSON)
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitInput
	}
	if err := b.CheckAction(req.Action); err != nil {
		fmt.Fprintf(e.stderr, "linkd policy explain: %s\n", strings.TrimPrefix(err.Error(), "policies: "))
		return exitInput
	}
	d := b.Decide(*req)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"request": req, "decision": d})
		return exitOK
	}
	var rules []explainedRule
	for _, r := range b.DecidingRules(d) {
		rules = append(rules, explainedRule{ID: r.ID, Effect: r.Effect, File: r.File, Line: r.Line})
	}
	writeExplanation(e.stdout, d, rules)
	return exitOK
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

func policyDiff(e *env, args []string) int {
	fs := newFlags(e, "policy diff", "policy diff [--server URL --key KEY [--days N]] OLD NEW",
		"Decides every test request of both bundles under each and lists those whose decision or deciding rules change;\n"+
			"with --server, also every request the party's audit log recorded in the last --days days. Exits 1 when any\n"+
			"decision changes, 0 when none does. Both bundles must lint clean; their own tests may fail.")
	server := fs.String("server", e.getenv("LINKD_SERVER"), "`URL` of a party's API whose audit log to replay (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "compliance API `key` for --server (default $LINKD_KEY)")
	days := fs.Int("days", 30, "how many `days` of the audit log to replay, with --server")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() != 2 {
		return usageError(e, fs, "want two bundle directories, OLD and NEW")
	}
	if *server != "" && *key == "" {
		return usageError(e, fs, "--server needs --key (or LINKD_KEY)")
	}
	if *days < 1 || *days > 3650 {
		return usageError(e, fs, "--days must be between 1 and 3650")
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
	replayed := 0
	if *server != "" {
		ctx, stop := e.context()
		defer stop()
		cases, err := auditRequests(ctx, client.New(*server, *key, 30*time.Second), time.Now().AddDate(0, 0, -*days))
		if err != nil {
			fmt.Fprintf(e.stderr, "linkd policy diff: reading the audit log: %v\n", err)
			return exitInput
		}
		replayed = len(cases)
		changes = append(changes, policies.DiffRequests(bs[0], bs[1], cases)...)
	}
	for _, c := range changes {
		fmt.Fprintf(e.stdout, "%s:%d: %s\n    old: %s (%s)\n    new: %s (%s)\n", c.Case.File, c.Case.Line, c.Case.Name,
			verdict(c.Old), c.Old.Rule(), verdict(c.New), c.New.Rule())
	}
	if *server != "" {
		fmt.Fprintf(e.stdout, "%d requests of the audit log replayed (the last %d days)\n", replayed, *days)
	}
	fmt.Fprintf(e.stdout, "%d requests change decision\n", len(changes))
	if len(changes) > 0 {
		return exitInput
	}
	return exitOK
}

// auditRequests reads the requests the audit log recorded since, oldest
// first, each named by its entry ("audit" and its seq, the action and the
// time). An entry without a request (a rate-limit refusal's) is left out.
func auditRequests(ctx context.Context, c *client.Client, since time.Time) ([]policies.TestCase, error) {
	var out []policies.TestCase
	after := ""
	for {
		q := url.Values{"since": {since.UTC().Format(time.RFC3339)}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Items []struct {
				Seq     int64           `json:"seq"`
				Time    time.Time       `json:"time"`
				Action  string          `json:"action"`
				Request json.RawMessage `json:"request"`
			} `json:"items"`
			Next string `json:"next"`
		}
		if err := c.Call(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var r policies.Request
			if len(it.Request) == 0 || json.Unmarshal(it.Request, &r) != nil || r.Action == "" {
				continue
			}
			out = append(out, policies.TestCase{File: "audit", Line: int(it.Seq),
				Name: fmt.Sprintf("%s at %s", it.Action, it.Time.UTC().Format(time.RFC3339)), Request: r})
		}
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}

func verdict(d policies.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

func policyReport(e *env, args []string) int {
	fs := newFlags(e, "policy report", "policy report [--format markdown|html] [--server URL --key KEY [--since TIME]] [DIR]",
		"Prints the catalogue as a record of processing: purposes and lawful basis, kinds of data and retention,\nflows between the parties and the rules that decide them, limits. With --server, also how the\nsignals of each type fared at that party (GET /v1/signals/report), beside the minimum confidences.")
	format := fs.String("format", "markdown", "`format` of the report: markdown or html")
	server := fs.String("server", e.getenv("LINKD_SERVER"), "`URL` of a party's API, for how its signals fared (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "compliance API `key` for --server (default $LINKD_KEY)")
	since := fs.String("since", "", "the `day` (UTC, 2026-11-01) the signals' figures start at (default: the server's, 30 days ago)")
	dir, code, ok := oneDir(e, fs, args)
	if !ok {
		return code
	}
	if *format != "markdown" && *format != "html" {
		return usageError(e, fs, "--format must be markdown or html, not %q", *format)
	}
	if *server != "" && *key == "" {
		return usageError(e, fs, "--server needs --key (or LINKD_KEY)")
	}
	if *since != "" {
		if _, err := time.Parse(time.DateOnly, *since); err != nil {
			return usageError(e, fs, "--since: a day such as 2026-11-01")
		}
	}
	fsys, name := bundleSource(e, dir)
	b, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitInput
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
			fmt.Fprintf(e.stderr, "linkd policy report: how the signals fared: %v\n", err)
			return exitInput
		}
	}
	out, err := b.ReportWith(*format, fared)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd policy report: %v\n", err)
		return exitInput
	}
	_, _ = e.stdout.Write(out)
	return exitOK
}
