package policies

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	yast "github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Catalogue is catalogue.yaml: the tables the policies read.
type Catalogue struct {
	Version         int                   `yaml:"version" json:"version"`
	Regions         map[string][]string   `yaml:"regions" json:"regions"`
	Purposes        map[string]Purpose    `yaml:"purposes" json:"purposes"`
	Retention       map[string]Retention  `yaml:"retention" json:"retention"`
	MinAudienceSize int64                 `yaml:"min_audience_size" json:"min_audience_size"`
	SizePrivacy     SizePrivacy           `yaml:"size_privacy" json:"size_privacy"`
	SignalTypes     map[string]SignalType `yaml:"signal_types" json:"signal_types"`
	Limits          Limits                `yaml:"limits" json:"limits"`
	Enforcement     map[string]string     `yaml:"enforcement" json:"enforcement"`

	file *yast.File // for positions of problems found after the schema
}

// Purpose is one purpose of processing.
type Purpose struct {
	Description string            `yaml:"description" json:"description"`
	Data        []string          `yaml:"data" json:"data"`
	LawfulBasis map[string]string `yaml:"lawful_basis" json:"lawful_basis"`
}

// Retention is how long one kind of data is kept, and why.
type Retention struct {
	Days int    `yaml:"days" json:"days"`
	Why  string `yaml:"why" json:"why"`
}

// SignalType is one type of abuse signal.
type SignalType struct {
	Description   string             `yaml:"description" json:"description"`
	MaxExpiryDays int                `yaml:"max_expiry_days" json:"max_expiry_days"`
	MinConfidence map[string]float64 `yaml:"min_confidence" json:"min_confidence"`
	// OpenPerDay, if set, is the most flags of the type received from
	// the other party a day (UTC) may bring into the open review queue;
	// past it, they go to quarantine for bulk review.
	OpenPerDay int64 `yaml:"open_per_day" json:"open_per_day,omitempty"`
}

// Limits are per API key (requests) and per tenant (budgets), per day
// unless named otherwise.
type Limits struct {
	RequestsPerMinute      int64 `yaml:"requests_per_minute" json:"requests_per_minute"`
	PeerRequestsPerMinute  int64 `yaml:"peer_requests_per_minute" json:"peer_requests_per_minute"`
	OPRFEvaluationsPerDay  int64 `yaml:"oprf_evaluations_per_day" json:"oprf_evaluations_per_day"`
	UploadedEntriesPerDay  int64 `yaml:"uploaded_entries_per_day" json:"uploaded_entries_per_day"`
	AudiencesCreatedPerDay int64 `yaml:"audiences_created_per_day" json:"audiences_created_per_day"`
	PeerReblindsPerDay     int64 `yaml:"peer_reblinds_per_day" json:"peer_reblinds_per_day"`
	PeerLinkJobsPerDay     int64 `yaml:"peer_link_jobs_per_day" json:"peer_link_jobs_per_day"`
}

// SizePrivacy is the differential privacy of audience sizes: the epsilon
// each fresh release spends, and a tenant's budget a day.
type SizePrivacy struct {
	EpsilonPerRelease float64 `yaml:"epsilon_per_release" json:"epsilon_per_release"`
	EpsilonPerDay     float64 `yaml:"epsilon_per_day" json:"epsilon_per_day"`
}

// thousandths reports whether v is a whole number of thousandths.
func thousandths(v float64) bool {
	m := math.Round(v * 1000)
	return m >= 1 && math.Abs(v*1000-m) <= 1e-6
}

// Kinds of data with a retention.
const (
	KindMemberships = "audience_memberships"
	KindSessions    = "upload_sessions"
	KindSignals     = "signals"
	KindLinks       = "links"
	KindAudit       = "audit"
)

// Directions between the parties.
const (
	SocialToMessenger = "social_to_messenger"
	MessengerToSocial = "messenger_to_social"
)

// RegionGroup is the catalogue's group of a country: its name, or "other".
func (c *Catalogue) RegionGroup(country string) string {
	if country == "" {
		return ""
	}
	country = strings.ToUpper(country)
	names := make([]string, 0, len(c.Regions))
	for g := range c.Regions {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		for _, cc := range c.Regions[g] {
			if cc == country {
				return g
			}
		}
	}
	return "other"
}

// LawfulBasis is the basis of purpose for people in country: "" when the
// purpose is unknown, "none" when it has no basis there.
func (c *Catalogue) LawfulBasis(purpose, country string) string {
	p, ok := c.Purposes[purpose]
	if !ok {
		return ""
	}
	if b, ok := p.LawfulBasis[c.RegionGroup(country)]; ok {
		return b
	}
	return p.LawfulBasis["default"]
}

// NeedsConsent says whether purpose rests on the consent of people in
// country: their consent must be granted before their data serves it.
func (c *Catalogue) NeedsConsent(purpose, country string) bool {
	return c.LawfulBasis(purpose, country) == "consent"
}

// RetentionOf is how long data of kind is kept (0 when the catalogue does
// not say).
func (c *Catalogue) RetentionOf(kind string) time.Duration {
	return time.Duration(c.Retention[kind].Days) * 24 * time.Hour
}

// MinConfidence is the lowest confidence at which a signal of type t
// crosses in direction, and whether it crosses that way at all.
func (c *Catalogue) MinConfidence(t, direction string) (float64, bool) {
	st, ok := c.SignalTypes[t]
	if !ok {
		return 0, false
	}
	v, ok := st.MinConfidence[direction]
	return v, ok
}

var printer = message.NewPrinter(language.English)

// parseCatalogue parses catalogue.yaml, checks it against the JSON Schema,
// then decodes it strictly.
func parseCatalogue(data, schemaJSON []byte) (*Catalogue, Problems) {
	file, probs := parseYAML(CatalogueFile, data)
	if probs != nil {
		return nil, probs
	}
	jsonDoc, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, Problems{yamlProblem(CatalogueFile, err)}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(jsonDoc))
	if err != nil {
		return nil, Problems{{File: CatalogueFile, Msg: "not a document: " + err.Error()}}
	}
	sdoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, Problems{{File: CatalogueSchemaFile, Msg: "not JSON: " + err.Error()}}
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource(CatalogueSchemaFile, sdoc); err != nil {
		return nil, Problems{{File: CatalogueSchemaFile, Msg: err.Error()}}
	}
	sch, err := comp.Compile(CatalogueSchemaFile)
	if err != nil {
		return nil, Problems{{File: CatalogueSchemaFile, Msg: "not a valid JSON Schema: " + err.Error()}}
	}
	c := &Catalogue{file: file}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, Problems{{File: CatalogueFile, Msg: err.Error()}}
		}
		var probs Problems
		for _, leaf := range leaves(ve) {
			where := "/" + strings.Join(leaf.InstanceLocation, "/")
			msg := where + ": " + leaf.ErrorKind.LocalizedString(printer)
			if ap, ok := leaf.ErrorKind.(*kind.AdditionalProperties); ok && len(ap.Properties) > 0 {
				// Point at the unknown key itself.
				probs = append(probs, c.problemAtKey(append(slices.Clone(leaf.InstanceLocation), ap.Properties[0]), msg))
				continue
			}
			probs = append(probs, c.problemAt(leaf.InstanceLocation, msg))
		}
		return nil, probs
	}
	if err := yaml.UnmarshalWithOptions(data, c, yaml.Strict()); err != nil {
		return nil, Problems{yamlProblem(CatalogueFile, err)}
	}
	probs = nil
	for name, st := range c.SignalTypes {
		for dir, v := range st.MinConfidence {
			if _, err := confidenceDecimal(v); err != nil {
				probs = append(probs, c.problemAt([]string{"signal_types", name, "min_confidence", dir}, "at most four decimal places"))
			}
		}
	}
	sp := c.SizePrivacy
	for _, f := range []struct {
		key string
		v   float64
	}{{"epsilon_per_release", sp.EpsilonPerRelease}, {"epsilon_per_day", sp.EpsilonPerDay}} {
		if !thousandths(f.v) {
			probs = append(probs, c.problemAt([]string{"size_privacy", f.key}, "a positive multiple of 0.001"))
		}
	}
	if sp.EpsilonPerRelease > sp.EpsilonPerDay {
		probs = append(probs, c.problemAt([]string{"size_privacy", "epsilon_per_release"}, "more than epsilon_per_day: no release could be made"))
	}
	seen := map[string]string{}
	for _, g := range slices.Sorted(maps.Keys(c.Regions)) {
		for i, cc := range c.Regions[g] {
			if prev, ok := seen[cc]; ok && prev != g {
				probs = append(probs, c.problemAt([]string{"regions", g, strconv.Itoa(i)}, fmt.Sprintf("%s is already in region group %s", cc, prev)))
			}
			seen[cc] = g
		}
	}
	for name, p := range c.Purposes {
		for g := range p.LawfulBasis {
			if _, ok := c.Regions[g]; !ok && g != "default" && g != "other" {
				probs = append(probs, c.problemAt([]string{"purposes", name, "lawful_basis", g}, fmt.Sprintf("no region group %q in regions", g)))
			}
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
	if len(probs) > 0 {
		return nil, probs
	}
	return c, nil
}

// leaves are the innermost causes of a validation error: the ones that say
// what is wrong.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// problemAt places a problem at the YAML node of a JSON pointer's tokens,
// or at its nearest ancestor that exists.
func (c *Catalogue) problemAt(loc []string, msg string) Problem {
	return c.locate(loc, msg, false)
}

// problemAtKey places a problem at the key of the last token.
func (c *Catalogue) problemAtKey(loc []string, msg string) Problem {
	return c.locate(loc, msg, true)
}

func (c *Catalogue) locate(loc []string, msg string, atKey bool) Problem {
	p := Problem{File: CatalogueFile, Msg: msg}
	if c == nil || c.file == nil || len(c.file.Docs) == 0 {
		return p
	}
	var node yast.Node = c.file.Docs[0].Body
	for i, tok := range loc {
		next, key := child(node, tok)
		if next == nil {
			break
		}
		node = next
		if i == len(loc)-1 && key != nil && (atKey || isCollection(next)) {
			node = key // a whole map or list is best found by its key
		}
	}
	if node != nil {
		if t := node.GetToken(); t != nil && t.Position != nil {
			p.Line, p.Column = t.Position.Line, t.Position.Column
		}
	}
	return p
}

// child finds the value under tok in a mapping or sequence, and its key.
func child(n yast.Node, tok string) (value, key yast.Node) {
	switch v := n.(type) {
	case *yast.MappingNode:
		for _, kv := range v.Values {
			if kv.Key.String() == tok {
				return kv.Value, kv.Key
			}
		}
	case *yast.MappingValueNode:
		if v.Key.String() == tok {
			return v.Value, v.Key
		}
	case *yast.SequenceNode:
		if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(v.Values) {
			return v.Values[i], nil
		}
	}
	return nil, nil
}

func isCollection(n yast.Node) bool {
	switch n.(type) {
	case *yast.MappingNode, *yast.MappingValueNode, *yast.SequenceNode:
		return true
	}
	return false
}

var posRE = regexp.MustCompile(`\[(\d+):(\d+)\]`)

func yamlProblem(file string, err error) Problem {
	var ye yaml.Error
	if errors.As(err, &ye) {
		p := Problem{File: file, Msg: ye.GetMessage()}
		if t := ye.GetToken(); t != nil && t.Position != nil {
			p.Line, p.Column = t.Position.Line, t.Position.Column
		}
		return p
	}
	msg := err.Error()
	if m := posRE.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		return Problem{File: file, Line: l, Column: col, Msg: strings.TrimSpace(posRE.ReplaceAllString(msg, ""))}
	}
	return Problem{File: file, Msg: msg}
}

var cedarPosRE = regexp.MustCompile(`:(\d+):(\d+):?\s*`)

// cedarProblem reads the line and column out of a Cedar parse error.
func cedarProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "parser error: ")
	if m := cedarPosRE.FindStringSubmatchIndex(msg); m != nil {
		l, _ := strconv.Atoi(msg[m[2]:m[3]])
		col, _ := strconv.Atoi(msg[m[4]:m[5]])
		rest := msg[m[1]:]
		return Problem{File: file, Line: l, Column: col, Msg: rest}
	}
	return Problem{File: file, Msg: msg}
}

// parseYAML parses a policy YAML file. Tags, anchors and aliases are
// refused: a reviewed file says what it means in plain values, and the
// decoder is never handed a tag without a value (which it cannot decode).
func parseYAML(name string, data []byte) (*yast.File, Problems) {
	if len(data) > maxFileSize {
		return nil, Problems{{File: name, Msg: fmt.Sprintf("file is %d bytes, more than the %d a policy file may have", len(data), maxFileSize)}}
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, Problems{yamlProblem(name, err)}
	}
	v := &plainYAML{file: name}
	for _, d := range file.Docs {
		if d.Body != nil {
			yast.Walk(v, d.Body)
		}
	}
	if len(v.probs) > 0 {
		return nil, v.probs
	}
	return file, nil
}

// maxFileSize bounds each file of a bundle.
const maxFileSize = 1 << 20

type plainYAML struct {
	file  string
	probs Problems
}

func (p *plainYAML) Visit(n yast.Node) yast.Visitor {
	var what string
	switch n.(type) {
	case *yast.TagNode:
		what = "a YAML tag"
	case *yast.AnchorNode:
		what = "a YAML anchor"
	case *yast.AliasNode:
		what = "a YAML alias"
	default:
		return p
	}
	pr := Problem{File: p.file, Msg: what + " is not allowed in a policy file: write the value itself"}
	if t := n.GetToken(); t != nil && t.Position != nil {
		pr.Line, pr.Column = t.Position.Line, t.Position.Column
	}
	p.probs = append(p.probs, pr)
	return nil
}
