package policies

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// ReportFormats are the formats Report writes.
var ReportFormats = []string{"markdown", "html"}

// Report writes the catalogue as a record of processing: purposes and
// their lawful basis by region, the kinds of data and how long each is
// kept, the flows between the parties and the rules that decide them, and
// the limits. format is "markdown" or "html".
func (b *Bundle) Report(format string) ([]byte, error) { return b.ReportWith(format, nil) }

// SignalsFared is how the signals of each type fared at a party since a
// time, as its API reports them (GET /v1/signals/report), for the report
// to set beside the catalogue's minimum confidences.
type SignalsFared struct {
	// Party names where the figures come from (a server's address, say).
	Party string        `json:"-"`
	Since time.Time     `json:"since"`
	Types []SignalFared `json:"types"`
}

// SignalFared is one type and direction of SignalsFared.
type SignalFared struct {
	Type          string   `json:"type"`
	Direction     string   `json:"direction"` // the catalogue's: social_to_messenger, messenger_to_social
	Signals       string   `json:"signals"`   // raised or received
	Crossed       int64    `json:"crossed"`
	Upheld        int64    `json:"upheld"`
	Dismissed     int64    `json:"dismissed"`
	FalsePositive int64    `json:"false_positive"`
	Escalated     int64    `json:"escalated"`
	Revoked       int64    `json:"revoked"`
	Expired       int64    `json:"expired"`
	Precision     *float64 `json:"precision"`
}

// PrecisionText is the precision as the report writes it: "-" while
// none is decided.
func (f SignalFared) PrecisionText() string {
	if f.Precision == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *f.Precision)
}

// ReportWith is Report with, if fared is set, how the signals fared.
func (b *Bundle) ReportWith(format string, fared *SignalsFared) ([]byte, error) {
	data := b.reportData()
	data.Fared = fared
	var buf bytes.Buffer
	var err error
	switch format {
	case "markdown", "md":
		err = mdReport.Execute(&buf, data)
	case "html":
		err = htmlReport.Execute(&buf, data)
	default:
		return nil, fmt.Errorf("policies: unknown report format %q (want %s)", format, strings.Join(ReportFormats, " or "))
	}
	if err != nil {
		return nil, fmt.Errorf("policies: writing the report: %w", err)
	}
	return buf.Bytes(), nil
}

type reportPurpose struct {
	Name, Description string
	Data              string
	Basis             [][2]string // region group, lawful basis
}

type reportKind struct {
	Name, Why string
	Days      int
}

type reportSignal struct {
	Name, Description string
	MaxExpiryDays     int
	OpenPerDay        string      // the received flags a day may open, "no cap"
	Directions        [][2]string // direction, min confidence
}

type reportFlow struct {
	Action, Rules string
}

type reportRule struct {
	ID, Effect, Where, Enforce string
}

type reportData struct {
	Hash     string
	Version  int
	Regions  [][2]string
	Purposes []reportPurpose
	Kinds    []reportKind
	MinSize  int64
	Signals  []reportSignal
	Flows    []reportFlow
	Rules    []reportRule
	Limits   Limits
	Privacy  SizePrivacy
	Tests    int
	Fared    *SignalsFared
}

// flowActions are the actions that move data between the parties or out
// to advertisers.
var flowActions = []string{"audience.create", "audience.upload", "audience.size", "audience.extend", "signal.cross", "peer.audience", "peer.signal", "peer.link"}

func (b *Bundle) reportData() reportData {
	c := b.Catalogue
	d := reportData{Hash: b.Hash(), Version: c.Version, MinSize: c.MinAudienceSize, Limits: c.Limits, Privacy: c.SizePrivacy, Tests: len(b.tests)}
	for _, g := range sortedKeys(c.Regions) {
		d.Regions = append(d.Regions, [2]string{g, strings.Join(c.Regions[g], ", ")})
	}
	for _, name := range sortedKeys(c.Purposes) {
		p := c.Purposes[name]
		rp := reportPurpose{Name: name, Description: p.Description, Data: strings.Join(p.Data, ", ")}
		for _, g := range sortedKeys(p.LawfulBasis) {
			rp.Basis = append(rp.Basis, [2]string{g, p.LawfulBasis[g]})
		}
		d.Purposes = append(d.Purposes, rp)
	}
	for _, k := range sortedKeys(c.Retention) {
		d.Kinds = append(d.Kinds, reportKind{Name: k, Days: c.Retention[k].Days, Why: c.Retention[k].Why})
	}
	for _, name := range sortedKeys(c.SignalTypes) {
		st := c.SignalTypes[name]
		rs := reportSignal{Name: name, Description: st.Description, MaxExpiryDays: st.MaxExpiryDays, OpenPerDay: "no cap"}
		if st.OpenPerDay > 0 {
			rs.OpenPerDay = printer.Sprintf("%d", st.OpenPerDay)
		}
		for _, dir := range []string{SocialToMessenger, MessengerToSocial} {
			v, ok := st.MinConfidence[dir]
			s := "never crosses"
			if ok {
				s = fmt.Sprintf("at confidence %g or more", v)
			}
			rs.Directions = append(rs.Directions, [2]string{dir, s})
		}
		d.Signals = append(d.Signals, rs)
	}
	for _, a := range flowActions {
		var ids []string
		for _, r := range b.rules {
			if strings.Contains(r.Document, `Action::"`+a+`"`) {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) > 0 {
			d.Flows = append(d.Flows, reportFlow{Action: a, Rules: strings.Join(ids, ", ")})
		}
	}
	for _, r := range b.rules {
		d.Rules = append(d.Rules, reportRule{ID: r.ID, Effect: r.Effect, Where: fmt.Sprintf("%s:%d", r.File, r.Line), Enforce: r.Enforce})
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

const mdText = `# Record of processing

Policy bundle ` + "`{{.Hash}}`" + `, catalogue version {{.Version}}, {{len .Rules}} rules, {{.Tests}} policy tests.

## Purposes

{{range .Purposes}}### {{.Name}}

{{.Description}}

Data: {{.Data}}.

| Region group | Lawful basis |
|---|---|
{{range .Basis}}| {{index . 0}} | {{index . 1}} |
{{end}}
{{end}}## Region groups

| Group | Countries |
|---|---|
{{range .Regions}}| {{index . 0}} | {{index . 1}} |
{{end}}
## Kinds of data and retention

| Kind | Kept for (days) | Why |
|---|---|---|
{{range .Kinds}}| {{.Name}} | {{.Days}} | {{.Why}} |
{{end}}
Audiences with fewer than {{.MinSize}} members report only "too_small".

## Abuse signals between the parties

| Type | Description | Longest expiry (days) | Received that open a day (then quarantine) | social_to_messenger | messenger_to_social |
|---|---|---|---|---|---|
{{range .Signals}}| {{.Name}} | {{.Description}} | {{.MaxExpiryDays}} | {{.OpenPerDay}} |{{range .Directions}} {{index . 1}} |{{end}}
{{end}}{{with .Fared}}
How they fared at {{.Party}} since {{.Since.Format "2006-01-02T15:04:05Z07:00"}} (precision: upheld over upheld, dismissed and false positives):

| Type | Direction | Signals | Crossed | Upheld | Dismissed | False positive | Escalated | Revoked | Expired | Precision |
|---|---|---|---|---|---|---|---|---|---|---|
{{range .Types}}| {{.Type}} | {{.Direction}} | {{.Signals}} | {{.Crossed}} | {{.Upheld}} | {{.Dismissed}} | {{.FalsePositive}} | {{.Escalated}} | {{.Revoked}} | {{.Expired}} | {{.PrecisionText}} |
{{end}}{{end}}
## Flows and the rules that decide them

| Action | Rules |
|---|---|
{{range .Flows}}| {{.Action}} | {{.Rules}} |
{{end}}
## Rules

| Id | Effect | Where | Enforcement |
|---|---|---|---|
{{range .Rules}}| {{.ID}} | {{.Effect}} | {{.Where}} | {{.Enforce}} |
{{end}}
## Limits

- Requests per API key per minute: {{.Limits.RequestsPerMinute}}
- Requests per party key (the other party) per minute: {{.Limits.PeerRequestsPerMinute}}
- OPRF evaluations per tenant per day: {{.Limits.OPRFEvaluationsPerDay}}
- Uploaded entries per tenant per day: {{.Limits.UploadedEntriesPerDay}}
- Audiences created per tenant per day: {{.Limits.AudiencesCreatedPerDay}}
- Elements re-blinded for the other party per day: {{.Limits.PeerReblindsPerDay}}
- Link jobs the other party may open per day: {{.Limits.PeerLinkJobsPerDay}}
- Audience sizes: differentially private, epsilon {{.Privacy.EpsilonPerRelease}} per release, {{.Privacy.EpsilonPerDay}} per tenant per day
`

const htmlText = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Record of processing</title></head>
<body>
<h1>Record of processing</h1>
<p>Policy bundle <code>{{.Hash}}</code>, catalogue version {{.Version}}, {{len .Rules}} rules, {{.Tests}} policy tests.</p>
<h2>Purposes</h2>
{{range .Purposes}}<h3>{{.Name}}</h3>
<p>{{.Description}}</p>
<p>Data: {{.Data}}.</p>
<table><tr><th>Region group</th><th>Lawful basis</th></tr>
{{range .Basis}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
{{end}}<h2>Region groups</h2>
<table><tr><th>Group</th><th>Countries</th></tr>
{{range .Regions}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
<h2>Kinds of data and retention</h2>
<table><tr><th>Kind</th><th>Kept for (days)</th><th>Why</th></tr>
{{range .Kinds}}<tr><td>{{.Name}}</td><td>{{.Days}}</td><td>{{.Why}}</td></tr>
{{end}}</table>
<p>Audiences with fewer than {{.MinSize}} members report only "too_small".</p>
<h2>Abuse signals between the parties</h2>
<table><tr><th>Type</th><th>Description</th><th>Longest expiry (days)</th><th>Received that open a day (then quarantine)</th><th>social_to_messenger</th><th>messenger_to_social</th></tr>
{{range .Signals}}<tr><td>{{.Name}}</td><td>{{.Description}}</td><td>{{.MaxExpiryDays}}</td><td>{{.OpenPerDay}}</td>{{range .Directions}}<td>{{index . 1}}</td>{{end}}</tr>
{{end}}</table>
{{with .Fared}}<p>How they fared at {{.Party}} since {{.Since.Format "2006-01-02T15:04:05Z07:00"}} (precision: upheld over upheld, dismissed and false positives):</p>
<table><tr><th>Type</th><th>Direction</th><th>Signals</th><th>Crossed</th><th>Upheld</th><th>Dismissed</th><th>False positive</th><th>Escalated</th><th>Revoked</th><th>Expired</th><th>Precision</th></tr>
{{range .Types}}<tr><td>{{.Type}}</td><td>{{.Direction}}</td><td>{{.Signals}}</td><td>{{.Crossed}}</td><td>{{.Upheld}}</td><td>{{.Dismissed}}</td><td>{{.FalsePositive}}</td><td>{{.Escalated}}</td><td>{{.Revoked}}</td><td>{{.Expired}}</td><td>{{.PrecisionText}}</td></tr>
{{end}}</table>
{{end}}<h2>Flows and the rules that decide them</h2>
<table><tr><th>Action</th><th>Rules</th></tr>
{{range .Flows}}<tr><td>{{.Action}}</td><td>{{.Rules}}</td></tr>
{{end}}</table>
<h2>Rules</h2>
<table><tr><th>Id</th><th>Effect</th><th>Where</th><th>Enforcement</th></tr>
{{range .Rules}}<tr><td>{{.ID}}</td><td>{{.Effect}}</td><td>{{.Where}}</td><td>{{.Enforce}}</td></tr>
{{end}}</table>
<h2>Limits</h2>
<ul>
<li>Requests per API key per minute: {{.Limits.RequestsPerMinute}}</li>
<li>Requests per party key (the other party) per minute: {{.Limits.PeerRequestsPerMinute}}</li>
<li>OPRF evaluations per tenant per day: {{.Limits.OPRFEvaluationsPerDay}}</li>
<li>Uploaded entries per tenant per day: {{.Limits.UploadedEntriesPerDay}}</li>
<li>Audiences created per tenant per day: {{.Limits.AudiencesCreatedPerDay}}</li>
<li>Elements re-blinded for the other party per day: {{.Limits.PeerReblindsPerDay}}</li>
<li>Link jobs the other party may open per day: {{.Limits.PeerLinkJobsPerDay}}</li>
<li>Audience sizes: differentially private, epsilon {{.Privacy.EpsilonPerRelease}} per release, {{.Privacy.EpsilonPerDay}} per tenant per day</li>
</ul>
</body></html>
`

var (
	mdReport   = texttemplate.Must(texttemplate.New("md").Parse(mdText))
	htmlReport = htmltemplate.Must(htmltemplate.New("html").Parse(htmlText))
)
