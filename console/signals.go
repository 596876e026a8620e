package console

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd/linkd/client"
)

// sig is a signal as the API shows it.
type sig = client.Signal

type sigPage struct {
	Items []sig  `json:"items"`
	Next  string `json:"next"`
}

// Decisions a reviewer takes in the console (the API's, less
// false_positive, which is a dismissal with a reason the peer learns).
var decisions = []string{"disable", "dismiss", "escalate", "false_positive"}

// ages are the queue's age filter: flags waiting at least this long.
var ages = []struct {
	Value, Label string
	D            time.Duration
}{{"", "any age", 0}, {"1h", "over an hour", time.Hour}, {"1d", "over a day", 24 * time.Hour}, {"7d", "over a week", 7 * 24 * time.Hour}}

// queueFilter is a signal list's filters, from the page's URL.
type queueFilter struct {
	Status, Type, MinConfidence, Age, PeerOutcome, After string
	Limit                                                int
}

func filterOf(r *http.Request, defaultStatus string) queueFilter {
	v := r.URL.Query()
	f := queueFilter{Status: v.Get("status"), Type: v.Get("type"), MinConfidence: v.Get("min_confidence"), Age: v.Get("age"),
		PeerOutcome: v.Get("peer_outcome"), After: v.Get("after"), Limit: 50}
	if !v.Has("status") {
		f.Status = defaultStatus
	}
	// The table shows confidence as a percentage: 80 or 80% is 0.8.
	if c, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(f.MinConfidence), "%"), 64); err == nil && (c > 1 || strings.HasSuffix(f.MinConfidence, "%")) && c <= 100 {
		f.MinConfidence = strconv.FormatFloat(c/100, 'f', -1, 64)
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && n > 0 {
		f.Limit = n
	}
	return f
}

// query is the API query of the filters (the age as created_before).
func (f queueFilter) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "type": f.Type, "min_confidence": f.MinConfidence,
		"peer_outcome": f.PeerOutcome, "after": f.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(f.Limit))
	if f.Age != "" {
		i := slices.IndexFunc(ages, func(a struct {
			Value, Label string
			D            time.Duration
		}) bool {
			return a.Value == f.Age
		})
		if i < 0 {
			return nil, &apiError{Status: http.StatusUnprocessableEntity, Message: "age: one of 1h, 1d or 7d"}
		}
		q.Set("created_before", now.Add(-ages[i].D).UTC().Format(time.RFC3339))
	}
	return q, nil
}

// link is the page's URL with some filters changed.
func (f queueFilter) link(path string, set ...string) string {
	v := url.Values{}
	for k, x := range map[string]string{"status": f.Status, "type": f.Type, "min_confidence": f.MinConfidence, "age": f.Age,
		"peer_outcome": f.PeerOutcome, "after": f.After} {
		if x != "" || k == "status" {
			v.Set(k, x)
		}
	}
	if f.Limit != 50 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" && set[i] != "status" {
			v.Del(set[i])
		} else {
			v.Set(set[i], set[i+1])
		}
	}
	return path + "?" + v.Encode()
}

// queueView is a signal list page's data.
type queueView struct {
	Inbound   bool
	Filter    queueFilter
	Items     []sig
	Next      string
	First     string
	CSV       string
	Here      string
	Ages      any
	Decisions []string
	CanDecide bool
	CanRevoke bool
	CanRaise  bool
}

func (c *Console) list(q *request, inbound bool) error {
	f := filterOf(q.r, map[bool]string{true: "open", false: ""}[inbound])
	qs, err := f.query(c.Now())
	if err != nil {
		return err
	}
	path, page := "/v1/signals", "/console/outbound"
	if inbound {
		path, page = "/v1/signals/inbound", "/console/inbound"
	}
	var p sigPage
	if err := q.call(http.MethodGet, path, qs, nil, &p); err != nil {
		return err
	}
	v := queueView{Inbound: inbound, Filter: f, Items: p.Items, Ages: ages, Decisions: decisions,
		CanDecide: inbound && q.can("signal.decide"), CanRevoke: !inbound && q.can("signal.revoke"), CanRaise: !inbound && q.can("signal.create"),
		Here: q.r.URL.RequestURI(), CSV: f.link(page+".csv", "after", "")}
	if p.Next != "" {
		v.Next = f.link(page, "after", p.Next)
	}
	if f.After != "" {
		v.First = f.link(page, "after", "")
	}
	title := "Flags raised here"
	if inbound {
		title = "Review queue"
	}
	return c.render(q, http.StatusOK, "signals", title, v)
}

func (c *Console) inbound(q *request) error  { return c.list(q, true) }
func (c *Console) outbound(q *request) error { return c.list(q, false) }

// maxExport bounds a CSV export, in rows.
const maxExport = 100000

// export writes every signal of the view's filters as CSV, page by page.
func (c *Console) export(q *request, inbound bool) error {
	f := filterOf(q.r, map[bool]string{true: "open", false: ""}[inbound])
	f.Limit, f.After = 1000, ""
	path, name := "/v1/signals", "flags-raised"
	if inbound {
		path, name = "/v1/signals/inbound", "review-queue"
	}
	var rows []sig
	for len(rows) < maxExport {
		qs, err := f.query(c.Now())
		if err != nil {
			return err
		}
		var p sigPage
		if err := q.call(http.MethodGet, path, qs, nil, &p); err != nil {
			return err
		}
		rows = append(rows, p.Items...)
		if p.Next == "" {
			break
		}
		f.After = p.Next
	}
	w := q.w
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, c.Now().UTC().Format("20060102T150405Z")))
	cw := csv.NewWriter(w)
	head := []string{"id", "type", "confidence", "status", "account_id", "created_at", "expires_at"}
	if inbound {
		head = append(head, "decision", "reviewer", "reason", "decided_at")
	} else {
		head = append(head, "crosses", "reason", "rule", "peer_outcome", "peer_decided_at")
	}
	_ = cw.Write(head)
	for _, s := range rows {
		rec := []string{s.ID, s.Type, strconv.FormatFloat(s.Confidence, 'f', -1, 64), s.Status, s.AccountID, stamp(s.CreatedAt), stamp(s.ExpiresAt)}
		if inbound {
			if d := s.Decision; d != nil {
				rec = append(rec, d.Decision, d.Reviewer, d.Reason, stamp(d.DecidedAt))
			} else {
				rec = append(rec, "", "", "", "")
			}
		} else {
			crosses := ""
			if s.Crosses != nil {
				crosses = strconv.FormatBool(*s.Crosses)
			}
			rec = append(rec, crosses, s.Reason, s.Rule)
			if o := s.PeerOutcome; o != nil {
				rec = append(rec, o.Outcome, stamp(o.DecidedAt))
			} else {
				rec = append(rec, "", "")
			}
		}
		for i := range rec {
			rec[i] = cell(rec[i])
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

func (c *Console) inboundCSV(q *request) error  { return c.export(q, true) }
func (c *Console) outboundCSV(q *request) error { return c.export(q, false) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cell keeps a spreadsheet from taking a value for a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// signalView is a signal's page.
type signalView struct {
	S         sig
	Inbound   bool
	Decisions []string
	CanDecide bool
	CanRevoke bool
}

func (c *Console) signalPage(q *request) error {
	var s sig
	if err := q.call(http.MethodGet, "/v1/signals/"+url.PathEscape(q.r.PathValue("id")), nil, nil, &s); err != nil {
		return err
	}
	in := s.Crosses == nil
	v := signalView{S: s, Inbound: in, Decisions: decisions, CanDecide: in && s.Status != "revoked" && q.can("signal.decide"),
		CanRevoke: !in && s.Status != "revoked" && q.can("signal.revoke")}
	return c.render(q, http.StatusOK, "signal", "Signal "+s.ID, v)
}

// decisionForm reads and checks a decision before any is taken.
func decisionForm(q *request) (map[string]string, error) {
	d, reason := q.r.PostFormValue("decision"), strings.TrimSpace(q.r.PostFormValue("reason"))
	if !slices.Contains(decisions, d) {
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Message: "decision: choose one of " + strings.Join(decisions, ", ")}
	}
	if reason == "" {
		return nil, &apiError{Status: http.StatusUnprocessableEntity, Message: "reason: say why (it stays here: the other party learns only the outcome)"}
	}
	return map[string]string{"decision": d, "reason": reason, "reviewer": q.sess.Name}, nil
}

func (c *Console) decideOne(q *request) error {
	body, err := decisionForm(q)
	if err != nil {
		return err
	}
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPost, "/v1/signals/inbound/"+url.PathEscape(id)+"/decision", nil, body, nil); err != nil {
		return err
	}
	return q.redirect("/console/signals/"+url.PathEscape(id), "Decided: "+body["decision"]+".")
}

// maxBulk is the most signals one bulk decision takes: each is an API
// call of its own, against the key's limit.
const maxBulk = 100

// signalIDRE is what a signal id looks like.
var signalIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// decideMany takes one decision on every signal ticked, each as its own
// API call (each audited); the decision and reason are checked before
// the first.
func (c *Console) decideMany(q *request) error {
	body, err := decisionForm(q)
	if err != nil {
		return err
	}
	ids := q.r.PostForm["id"]
	if len(ids) == 0 {
		return &apiError{Status: http.StatusUnprocessableEntity, Message: "tick at least one signal"}
	}
	if len(ids) > maxBulk {
		return &apiError{Status: http.StatusUnprocessableEntity, Message: fmt.Sprintf("at most %d signals at once (a page's worth)", maxBulk)}
	}
	for _, id := range ids {
		if !signalIDRE.MatchString(id) {
			return &apiError{Status: http.StatusUnprocessableEntity, Message: "id: a signal id is 1 to 64 letters, digits, _ or -"}
		}
	}
	var failed []string
	done, stopped := 0, ""
	for _, id := range ids {
		err := q.call(http.MethodPost, "/v1/signals/inbound/"+url.PathEscape(id)+"/decision", nil, body, nil)
		ae, refused := err.(*apiError)
		switch {
		case err == nil:
			done++
			continue
		case !refused:
			return err
		case ae.Status == http.StatusTooManyRequests || ae.Status >= 500:
			// The key's limit, or the server: the rest would fare the same.
			stopped = ae.text()
		default:
			failed = append(failed, id+" ("+ae.Message+")")
			continue
		}
		break
	}
	msg := fmt.Sprintf("Decided %d of %d: %s.", done, len(ids), body["decision"])
	if stopped != "" {
		msg += fmt.Sprintf(" The other %d were not decided: %s", len(ids)-done-len(failed), stopped)
	}
	if len(failed) > 0 {
		if len(failed) > 10 {
			failed = append(failed[:10], fmt.Sprintf("and %d more", len(failed)-10))
		}
		msg += " Not decided: " + strings.Join(failed, "; ") + "."
	}
	return q.redirect(q.r.PostFormValue("back"), msg)
}

func (c *Console) revoke(q *request) error {
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPost, "/v1/signals/"+url.PathEscape(id)+"/revoke", nil, nil, nil); err != nil {
		return err
	}
	return q.redirect("/console/signals/"+url.PathEscape(id), "Revoked: the other party is told.")
}

// raise flags an account of this party's, as POST /v1/signals does: the
// answer says whether the flag crosses to the other party, and if not
// why.
func (c *Console) raise(q *request) error {
	f := q.r.PostForm
	conf, err := strconv.ParseFloat(strings.TrimSpace(f.Get("confidence")), 64)
	if err != nil {
		return &apiError{Status: http.StatusUnprocessableEntity, Message: "confidence: a number from 0 to 1, such as 0.9"}
	}
	days, err := strconv.Atoi(strings.TrimSpace(f.Get("days")))
	if err != nil || days < 1 {
		return &apiError{Status: http.StatusUnprocessableEntity, Message: "expires in: a whole number of days, from 1"}
	}
	body := map[string]any{"account_id": strings.TrimSpace(f.Get("account_id")), "type": strings.TrimSpace(f.Get("type")), "confidence": conf,
		"evidence_ref": strings.TrimSpace(f.Get("evidence_ref")), "note": strings.TrimSpace(f.Get("note")),
		"expires_at": c.Now().Add(time.Duration(days) * 24 * time.Hour).UTC().Format(time.RFC3339)}
	var s sig
	if err := q.call(http.MethodPost, "/v1/signals", nil, body, &s); err != nil {
		return err
	}
	msg := "Flag raised: it crosses to the other party."
	if s.Crosses == nil || !*s.Crosses {
		msg = "Flag raised; it does not cross to the other party"
		if s.Reason != "" {
			msg += ": " + s.Reason
		}
		if s.Rule != "" {
			msg += " (rule " + s.Rule + ")"
		}
		msg += "."
	}
	return q.redirect("/console/signals/"+url.PathEscape(s.ID), msg)
}
