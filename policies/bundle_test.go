package policies

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// bundleFS copies the default bundle, then applies edits: a file's new
// content, or "" to delete it.
func bundleFS(t *testing.T, edits map[string]string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(DefaultFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(DefaultFS(), p)
		m[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range edits {
		if content == "" {
			delete(m, name)
			continue
		}
		m[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return m
}

func defaultFile(t *testing.T, name string) string {
	t.Helper()
	data, err := fs.ReadFile(DefaultFS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDefaultBundleLoadsAndPassesItsTests(t *testing.T) {
	b, err := Load(DefaultFS())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Tests()) < 30 {
		t.Errorf("the default bundle has %d tests; it should state a decision for every rule", len(b.Tests()))
	}
	tested := map[string]bool{}
	for _, r := range b.RunTests() {
		if !r.Pass {
			t.Errorf("%s: %s", r.Case.Name, r.Why)
		}
		for _, id := range r.Decision.Rules {
			tested[id] = true
		}
	}
	for _, r := range b.Rules() {
		if !tested[r.ID] {
			t.Errorf("rule %s (%s:%d) decides none of the bundle's tests", r.ID, r.File, r.Line)
		}
	}
	if len(b.Hash()) != 64 {
		t.Errorf("hash %q", b.Hash())
	}
}

func TestHashNamesTheContent(t *testing.T) {
	a, err := Load(bundleFS(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != Default().Hash() {
		t.Error("the same files hash differently")
	}
	cat := strings.Replace(defaultFile(t, CatalogueFile), "min_audience_size: 100", "min_audience_size: 90", 1)
	tests := strings.Replace(defaultFile(t, "tests/audiences.yaml"), "size: 99}", "size: 89}", 1)
	b, err := Load(bundleFS(t, map[string]string{CatalogueFile: cat, "tests/audiences.yaml": tests}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() == b.Hash() {
		t.Error("a changed catalogue keeps its hash")
	}
	if d := b.Decide(Request{Role: "advertiser", Tenant: "t", Action: "audience.size",
		Resource: Resource{Kind: "audience", Tenant: "t"}, Size: 95}); !d.Allow {
		t.Errorf("min size 90 in the catalogue, size 95 denied: %+v", d)
	}
}

func TestDefaultDenyNamesNoRule(t *testing.T) {
	d := Default().Decide(Request{Role: "advertiser", Tenant: "t", Action: "link.run", Resource: Resource{Kind: "link"}})
	if d.Allow || !d.DefaultDeny || len(d.Rules) != 0 || d.Rule() != "default-deny" {
		t.Errorf("%+v", d)
	}
	d = Default().Decide(Request{Role: "advertiser", Tenant: "t", Action: "no.such.action", Resource: Resource{Kind: "service"}})
	if d.Allow {
		t.Errorf("an action outside the schema was allowed: %+v", d)
	}
}

func TestDecisionReportsCatalogueValues(t *testing.T) {
	d := Default().Decide(Request{Role: "trust_safety", Action: "signal.cross", Resource: Resource{Kind: "signal"},
		Purpose: "safety", Region: "fr", Direction: SocialToMessenger, SignalType: "spam", Confidence: 0.85})
	if !d.Allow || d.Rule() != "signal-crosses-at-confidence" {
		t.Fatalf("%+v", d)
	}
	want := map[string]any{"region_group": "EU", "lawful_basis": "legitimate_interests", "signal_crosses": true,
		"min_confidence": 0.8, "purpose_known": true}
	for k, v := range want {
		if d.Catalogue[k] != v {
			t.Errorf("catalogue value %s = %v, want %v", k, d.Catalogue[k], v)
		}
	}
}

func TestMonitoredForbidLetsThroughAndSaysSo(t *testing.T) {
	cat := strings.Replace(defaultFile(t, CatalogueFile), "enforcement: {}", "enforcement:\n  extend-needs-consent: monitor", 1)
	tests := strings.Replace(defaultFile(t, "tests/audiences.yaml"), "consent: false}\n  expect: deny\n  rules: [extend-needs-consent]",
		"consent: false}\n  expect: allow\n  rules: [advertiser-own-audiences]", 1)
	b, err := Load(bundleFS(t, map[string]string{CatalogueFile: cat, "tests/audiences.yaml": tests}))
	if err != nil {
		t.Fatal(err)
	}
	d := b.Decide(Request{Role: "advertiser", Tenant: "acme", Action: "audience.extend", Resource: Resource{Kind: "audience", Tenant: "acme"},
		Purpose: "ads", Region: "US", Direction: SocialToMessenger})
	if !d.Allow || len(d.Monitored) != 1 || d.Monitored[0] != "extend-needs-consent" {
		t.Errorf("%+v", d)
	}
	// Enforced rules still deny.
	d = b.Decide(Request{Role: "advertiser", Tenant: "acme", Action: "audience.extend", Resource: Resource{Kind: "audience", Tenant: "acme"},
		Purpose: "safety", Region: "US", Direction: SocialToMessenger, Consent: true})
	if d.Allow {
		t.Errorf("%+v", d)
	}
}

func TestBrokenBundlesAreRefusedWithWhere(t *testing.T) {
	roles := defaultFile(t, "roles.cedar")
	cases := []struct {
		name  string
		edits map[string]string
		want  string // in the problem's text, file:line:col included
	}{
		{"cedar syntax", map[string]string{"extra.cedar": "permit (principal, action, resource)\nwhen { principal.role == };\n"},
			"extra.cedar:2:"},
		{"no id", map[string]string{"extra.cedar": "permit (principal, action, resource);\n"},
			`extra.cedar:1:1: policy has no @id`},
		{"duplicate id", map[string]string{"extra.cedar": "\n@id(\"advertiser-oprf\")\nforbid (principal, action, resource);\n"},
			`roles.cedar:5:1: policy id "advertiser-oprf" is already used at extra.cedar:2`},
		{"unknown attribute", map[string]string{"extra.cedar": "@id(\"x\")\npermit (principal, action, resource) when { principal.department == \"ads\" };\n"},
			`extra.cedar:1:1: policy "x":`},
		{"unknown action", map[string]string{"extra.cedar": "@id(\"x\")\npermit (principal, action == Action::\"audience.sell\", resource);\n"},
			`extra.cedar:1:1: policy "x":`},
		{"catalogue type", map[string]string{CatalogueFile: strings.Replace(defaultFile(t, CatalogueFile), "min_audience_size: 100", "min_audience_size: lots", 1)},
			fmt.Sprintf("catalogue.yaml:%d:20: /min_audience_size: got string, want integer", lineOf(t, CatalogueFile, "min_audience_size: 100"))},
		{"catalogue unknown key", map[string]string{CatalogueFile: defaultFile(t, CatalogueFile) + "colour: blue\n"},
			fmt.Sprintf("catalogue.yaml:%d:1: /: additional properties 'colour' not allowed", strings.Count(defaultFile(t, CatalogueFile), "\n")+1)},
		{"catalogue basis", map[string]string{CatalogueFile: strings.Replace(defaultFile(t, CatalogueFile), "EU: consent", "EU: because", 1)},
			fmt.Sprintf("catalogue.yaml:%d:11: /purposes/ads/lawful_basis/EU: value must be one of", lineOf(t, CatalogueFile, "EU: consent"))},
		{"catalogue region twice", map[string]string{CatalogueFile: strings.Replace(defaultFile(t, CatalogueFile), "UK: [GB]", "UK: [GB, FR]", 1)},
			fmt.Sprintf("catalogue.yaml:%d:12: FR is already in region group EU", lineOf(t, CatalogueFile, "UK: [GB]"))},
		{"catalogue yaml", map[string]string{CatalogueFile: "version: [1\n"}, "catalogue.yaml:"},
		{"test of an unknown action", map[string]string{"tests/typo.yaml": "- name: a typo\n  request: {role: advertiser, action: audience.craete}\n  expect: deny\n"},
			`tests/typo.yaml:1:1: test "a typo": unknown action "audience.craete"; did you mean "audience.create"?`},
		{"enforcement of a missing rule", map[string]string{CatalogueFile: strings.Replace(defaultFile(t, CatalogueFile), "enforcement: {}", "enforcement:\n  no-such-rule: monitor", 1)},
			`enforcement names policy "no-such-rule"`},
		{"missing schema", map[string]string{SchemaFile: ""}, "linkd.cedarschema: missing"},
		{"failing test", map[string]string{"roles.cedar": strings.Replace(roles, `principal.role == "compliance" };`, `principal.role == "compliance" || principal.role == "advertiser" };`, 1)},
			"tests/roles.yaml:"},
		{"test file typo", map[string]string{"tests/extra.yaml": "- name: x\n  request: {role: admin, action: link.run, resource: {kind: link}}\n  expected: allow\n"},
			"tests/extra.yaml:3:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(bundleFS(t, tc.edits))
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("loaded, or not a Problems error: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("problems:\n%v\nwant one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzCatalogue: any catalogue text gives a catalogue or problems with a
// position inside the file, never a panic.
func FuzzCatalogue(f *testing.F) {
	data, err := fs.ReadFile(DefaultFS(), CatalogueFile)
	if err != nil {
		f.Fatal(err)
	}
	sch, err := fs.ReadFile(DefaultFS(), CatalogueSchemaFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("version: 1\nregions: {EU: [FR]}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, probs := parseCatalogue(in, sch)
		if (c == nil) == (len(probs) == 0) {
			t.Fatalf("catalogue %v with problems %v", c != nil, probs)
		}
		// Lines as YAML counts them: a line break is "\r\n", "\n" or a
		// lone "\r" (YAML 1.2, 5.4).
		lines := strings.Count(strings.ReplaceAll(string(in), "\r\n", "\n"), "\n") +
			strings.Count(strings.ReplaceAll(string(in), "\r\n", "\n"), "\r") + 1
		for _, p := range probs {
			if p.Line > lines {
				t.Errorf("problem at line %d of a %d-line file: %v", p.Line, lines, p)
			}
		}
	})
}

// FuzzTestFile: any test file parses or is refused, never a panic.
func FuzzTestFile(f *testing.F) {
	for _, n := range []string{"tests/roles.yaml", "tests/signals.yaml"} {
		data, err := fs.ReadFile(DefaultFS(), n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("- name: x\n  request: {role: a, action: b, resource: {kind: c}, confidence: 2}\n  expect: allow\n"))
	b := Default()
	f.Fuzz(func(t *testing.T, in []byte) {
		cases, err := ParseTestFile("tests/fuzz.yaml", in)
		if err == nil {
			b.Run(cases)
		}
	})
}

// A tag with no value once made the YAML decoder panic; tags, anchors and
// aliases are refused with their position.
func TestPlainYAMLOnly(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"- name: a\n  rules: !\n", "x.yaml:2:10: a YAML tag"},
		{"- name: a\n  rules: !]\n", "x.yaml:2:10: a YAML tag"},
		{"- name: &n a\n", "x.yaml:1:9: a YAML anchor"},
		{"- name: a\n- name: *n\n", "x.yaml:2:9: a YAML alias"},
	} {
		_, err := ParseTestFile("x.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseTestFile("x.yaml", []byte(strings.Repeat("#", maxFileSize+1))); err == nil {
		t.Error("a file over the size bound was accepted")
	}
}

func TestDiffListsRequestsThatChangeDecision(t *testing.T) {
	old := Default()
	if d := Diff(old, old); len(d) != 0 {
		t.Fatalf("a bundle differs from itself: %+v", d)
	}
	cat := strings.Replace(defaultFile(t, CatalogueFile),
		"min_confidence: { social_to_messenger: 0.8, messenger_to_social: 0.8 }\n    # A flood of received spam",
		"min_confidence: { social_to_messenger: 0.9, messenger_to_social: 0.9 }\n    # A flood of received spam", 1)
	sig := defaultFile(t, "tests/signals.yaml")
	const moved = "- name: a spam flag crosses messenger to social, EU users included"
	i := strings.Index(sig, moved)
	j := strings.Index(sig[i+1:], "\n- name:")
	if i < 0 || j < 0 || cat == defaultFile(t, CatalogueFile) {
		t.Fatal("the default bundle changed: update this test")
	}
	sig = sig[:i] + sig[i+1+j+1:]
	nb, err := Load(bundleFS(t, map[string]string{CatalogueFile: cat, "tests/signals.yaml": sig}))
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(old, nb)
	if len(d) != 1 || d[0].Case.Name != moved[len("- name: "):] || !d[0].Old.Allow || d[0].New.Allow {
		t.Fatalf("diff = %+v, want the one spam case going from allow to deny", d)
	}
	if d[0].New.Catalogue["min_confidence"] != 0.9 {
		t.Errorf("new decision's catalogue values: %v", d[0].New.Catalogue)
	}
}

func TestReportRecordsProcessing(t *testing.T) {
	b := Default()
	md, err := b.Report("markdown")
	if err != nil {
		t.Fatal(err)
	}
	html, err := b.Report("html")
	if err != nil {
		t.Fatal(err)
	}
	for kind, r := range b.Catalogue.Retention {
		row := fmt.Sprintf("| %s | %d | %s |", kind, r.Days, r.Why)
		if !strings.Contains(string(md), row) {
			t.Errorf("markdown lacks retention row %q", row)
		}
		if !strings.Contains(string(html), "<td>"+kind+"</td><td>"+strconv.Itoa(r.Days)+"</td>") {
			t.Errorf("html lacks retention of %s", kind)
		}
	}
	for _, r := range b.Rules() {
		if !strings.Contains(string(md), "| "+r.ID+" | "+r.Effect+" |") {
			t.Errorf("markdown lacks rule %s", r.ID)
		}
	}
	if !strings.Contains(string(md), "| signal.cross | signal-crosses-at-confidence") {
		t.Errorf("markdown lacks the signal crossing flow:\n%s", md)
	}
	if !strings.Contains(string(md), "| fake_account | The account impersonates a person or is automated. | 60 | no cap | at confidence 0.9 or more | never crosses |") {
		t.Errorf("markdown lacks fake_account's directions")
	}
	if !strings.Contains(string(md), "| spam | The account sent bulk unsolicited messages. | 30 | 5,000 |") {
		t.Errorf("markdown lacks spam's daily cap on the open queue")
	}
	if _, err := b.Report("pdf"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

// lineOf is the line of the default file name's first line holding s.
func lineOf(t *testing.T, name, s string) int {
	t.Helper()
	for i, l := range strings.Split(defaultFile(t, name), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s holds no %q", name, s)
	return 0
}
