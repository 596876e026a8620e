package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/policies"
)

// Audiences is what the api needs of the audience service.
type Audiences interface {
	CreateAudience(ctx context.Context, a audience.Audience) error
	Audience(ctx context.Context, tenant, id string) (audience.Audience, error)
	ListAudiences(ctx context.Context, tenant, after string, limit int) ([]audience.Audience, error)
	DeleteAudience(ctx context.Context, tenant, id string) error
	Upload(ctx context.Context, u audience.Upload) (audience.UploadResult, error)
	Size(ctx context.Context, tenant, id string, p audience.SizePolicy, allow func(lower int64) (bool, error)) (audience.SizeAnswer, error)
}

type createAudienceRequest struct {
	Name        string `json:"name"`
	Purpose     string `json:"purpose"`
	Description string `json:"description"`
}

type audienceView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Purpose     string    `json:"purpose"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Status, and the bounds when it is "ready", on GET of one audience.
	Status     string `json:"status,omitempty"`
	LowerBound *int64 `json:"approximate_count_lower_bound,omitempty"`
	UpperBound *int64 `json:"approximate_count_upper_bound,omitempty"`
	// The release the size comes from, and the tenant's privacy budget.
	Release *releaseView `json:"size_release,omitempty"`
	Budget  *budgetView  `json:"privacy_budget,omitempty"`
}

type releaseView struct {
	Epsilon    float64    `json:"epsilon"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
	// Fresh: this answer made the release; stale: the audience changed
	// since, and the budget is spent until the next renewal.
	Fresh bool `json:"fresh"`
	Stale bool `json:"stale"`
}

type budgetView struct {
	EpsilonPerDay    float64   `json:"epsilon_per_day"`
	EpsilonRemaining float64   `json:"epsilon_remaining"`
	RenewsAt         time.Time `json:"renews_at"`
}

type audiencePage struct {
	Items []audienceView `json:"items"`
	Next  string         `json:"next"`
}

func view(a audience.Audience) audienceView {
	return audienceView{ID: a.ID, Name: a.Name, Purpose: a.Purpose, Description: a.Description, CreatedAt: a.CreatedAt}
}

const createKey = "create_audience"

// checkCreate checks a new audience's fields, trimming its name.
func checkCreate(req *createAudienceRequest) error {
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "" || len(req.Name) > 200:
		return badRequest("name: from 1 to 200 characters", map[string]any{"field": "name"})
	case req.Purpose == "":
		return badRequest("purpose: required (the catalogue's purposes, e.g. ads)", map[string]any{"field": "purpose"})
	case len(req.Description) > 2000:
		return badRequest("description: at most 2000 characters", map[string]any{"field": "description"})
	}
	return nil
}

// prepareCreate reads the new audience so that its purpose is decided by
// the policies with the rest of the request.
func (s *Server) prepareCreate(c echo.Context, q *policies.Request) error {
	var req createAudienceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := checkCreate(&req); err != nil {
		return err
	}
	q.Purpose = req.Purpose
	c.Set(createKey, req)
	return assignID("aud_")(s, c, q)
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Server) createAudience(c echo.Context, cl *caller) error {
	a, err := s.newAudience(c, cl, c.Get(createKey).(createAudienceRequest), "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, view(a))
}

// newAudience creates an audience of the caller's tenant, counting it
// against the tenant's daily limit.
func (s *Server) newAudience(c echo.Context, cl *caller, req createAudienceRequest, fileSource string) (audience.Audience, error) {
	if err := s.consume(c, "tenant:"+cl.key.Tenant, "audiences_created", access.Day, 1, s.limits().AudiencesPerDay); err != nil {
		return audience.Audience{}, err
	}
	a := audience.Audience{ID: assignedID(c, "aud_"), Tenant: cl.key.Tenant, Name: req.Name, Purpose: req.Purpose,
		Description: req.Description, FileSource: fileSource, CreatedAt: s.Now().UTC().Truncate(time.Microsecond)}
	return a, s.Audiences.CreateAudience(c.Request().Context(), a)
}

func (s *Server) listAudiences(c echo.Context, cl *caller) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	as, err := s.Audiences.ListAudiences(c.Request().Context(), cl.key.Tenant, c.QueryParam("after"), limit)
	if err != nil {
		return err
	}
	page := audiencePage{Items: make([]audienceView, len(as))}
	for i, a := range as {
		page.Items[i] = view(a)
	}
	if len(as) == limit {
		page.Next = as[len(as)-1].ID
	}
	return c.JSON(http.StatusOK, page)
}

// sizePolicy is the catalogue's size privacy in force.
func (s *Server) sizePolicy() (audience.SizePolicy, error) {
	sp := s.Policies().Catalogue.SizePrivacy
	per, err := audience.EpsilonOf(sp.EpsilonPerRelease)
	if err != nil {
		return audience.SizePolicy{}, err
	}
	day, err := audience.EpsilonOf(sp.EpsilonPerDay)
	if err != nil {
		return audience.SizePolicy{}, err
	}
	return audience.SizePolicy{PerRelease: per, PerDay: day}, nil
}

// getAudience shows one audience with its size release (see
// audience/release.go): a fresh release is decided by the policies on its
// noisy lower bound, and the decision audited like any flow.
func (s *Server) getAudience(c echo.Context, cl *caller) error {
	ctx := c.Request().Context()
	a, err := s.Audiences.Audience(ctx, cl.key.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	ans, err := s.audienceSize(c, cl, a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sizeView(view(a), ans))
}

// audienceSize answers the size of a, releasing a fresh size when the
// policies allow it.
func (s *Server) audienceSize(c echo.Context, cl *caller, a audience.Audience) (audience.SizeAnswer, error) {
	ctx := c.Request().Context()
	p, err := s.sizePolicy()
	if err != nil {
		return audience.SizeAnswer{}, err
	}
	return s.Audiences.Size(ctx, cl.key.Tenant, a.ID, p, func(lower int64) (bool, error) {
		q := policies.Request{Role: string(cl.key.Role), Tenant: cl.key.Tenant, Action: "audience.size",
			Resource: policies.Resource{Kind: "audience", ID: a.ID, Tenant: a.Tenant}, Purpose: a.Purpose, Size: lower}
		d, err := s.Authorizer.Authorize(ctx, q)
		if err != nil {
			return false, err
		}
		if d.Allow {
			s.record(c, cl, q, "allow", d)
		} else {
			s.record(c, cl, q, "deny", d)
		}
		return d.Allow, nil
	})
}

func sizeView(v audienceView, ans audience.SizeAnswer) audienceView {
	v.Status = ans.Status
	if ans.Status == audience.StatusReady {
		lower, upper := ans.Lower, ans.Upper
		v.LowerBound, v.UpperBound = &lower, &upper
	}
	if ans.Status == audience.StatusReady || ans.Status == audience.StatusTooSmall {
		at := ans.At
		v.Release = &releaseView{Epsilon: ans.Epsilon.Float(), ReleasedAt: &at, Fresh: ans.Fresh, Stale: ans.Stale}
	}
	v.Budget = &budgetView{EpsilonPerDay: ans.PerDay.Float(), EpsilonRemaining: ans.Remaining.Float(), RenewsAt: ans.RenewsAt}
	return v
}

func (s *Server) deleteAudience(c echo.Context, cl *caller) error {
	if err := s.Audiences.DeleteAudience(c.Request().Context(), cl.key.Tenant, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// The customer-list upload, in the shape Marketing API tools send.

type uploadSession struct {
	SessionID         json.RawMessage `json:"session_id"` // a number or a string
	BatchSeq          int64           `json:"batch_seq"`
	LastBatchFlag     bool            `json:"last_batch_flag"`
	EstimatedNumTotal int64           `json:"estimated_num_total"`
}

type uploadPayload struct {
	Schema json.RawMessage   `json:"schema"` // "PHONE_SHA256" or ["PHONE_SHA256"]
	Data   []json.RawMessage `json:"data"`   // "hash" or ["hash"]
	IsRaw  bool              `json:"is_raw"`
	// What Marketing API clients may add: where the list came from
	// (taken, kept nowhere), and the app and page ids of Facebook user id
	// uploads, which linkd does not match.
	DataSource *struct {
		Type    string `json:"type"`
		SubType string `json:"sub_type"`
	} `json:"data_source"`
	AppIDs       json.RawMessage `json:"app_ids"`
	PageIDs      json.RawMessage `json:"page_ids"`
	IGAccountIDs json.RawMessage `json:"ig_account_ids"`
}

type uploadBody struct {
	Payload json.RawMessage `json:"payload"`
	Session json.RawMessage `json:"session"`
	// Graph SDKs repeat the audience id and may send the token in the body.
	ID          string `json:"id"`
	AccessToken string `json:"access_token"`
}

type uploadResponse struct {
	AudienceID          string                  `json:"audience_id"`
	SessionID           string                  `json:"session_id"`
	NumReceived         int                     `json:"num_received"`
	NumInvalidEntries   int                     `json:"num_invalid_entries"`
	InvalidEntrySamples []audience.InvalidEntry `json:"invalid_entry_samples"`
	Replayed            bool                    `json:"replayed,omitempty"`
}

var graphVersion = regexp.MustCompile(`^v[0-9]{1,3}\.0$`)

func (s *Server) addUsers(c echo.Context, cl *caller) error     { return s.upload(c, cl, false, false) }
func (s *Server) removeUsers(c echo.Context, cl *caller) error  { return s.upload(c, cl, true, false) }
func (s *Server) replaceUsers(c echo.Context, cl *caller) error { return s.upload(c, cl, false, true) }

// strictJSON decodes one JSON value into v, refusing unknown fields; a
// JSON string holding JSON is read as that JSON (Graph clients send
// payload and session as strings in forms and query strings).
func strictJSON(field string, raw []byte, v any) error {
	raw = []byte(strings.TrimSpace(string(raw)))
	if len(raw) > 0 && raw[0] == '"' && utf8.Valid(raw) {
		var inner string
		if err := json.Unmarshal(raw, &inner); err != nil {
			return malformed(field+": not valid JSON", map[string]any{"field": field})
		}
		raw = []byte(inner)
	}
	if bytes.IndexByte(raw, 0) >= 0 || !utf8.Valid(raw) {
		// Text no field may hold, in a form field or a JSON string.
		return badRequest(field+": contains a NUL character or bytes that are not UTF-8", map[string]any{"field": field})
	}
	if len(raw) == 0 {
		return badRequest(field+": required", map[string]any{"field": field})
	}
	return strictDecode(bytes.NewReader(raw), v, field, field)
}

// uploadParts finds payload and session: in a JSON body, in form fields,
// or (DELETE) in the query string.
func uploadParts(c echo.Context, remove bool) (payload, session []byte, err error) {
	r := c.Request()
	if remove && c.QueryParam("payload") != "" {
		return []byte(c.QueryParam("payload")), []byte(c.QueryParam("session")), nil
	}
	ct := r.Header.Get(echo.HeaderContentType)
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case echo.MIMEApplicationJSON, "":
		var b uploadBody
		if err := decodeJSON(c, &b); err != nil {
			return nil, nil, err
		}
		if b.ID != "" && b.ID != c.Param("id") {
			return nil, nil, badRequest("id: the body names another audience than the path", map[string]any{"field": "id"})
		}
		return b.Payload, b.Session, nil
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		if err := r.ParseMultipartForm(maxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge)
			}
			return nil, nil, badRequest("the form cannot be read", nil)
		}
		for k := range r.PostForm {
			switch k {
			case "payload", "session", "id", "access_token":
			default:
				return nil, nil, badRequest("unknown form field "+strconv.Quote(k), map[string]any{"field": k})
			}
		}
		return []byte(r.PostFormValue("payload")), []byte(r.PostFormValue("session")), nil
	}
	return nil, nil, echo.NewHTTPError(http.StatusUnsupportedMediaType)
}

// oneString reads a value that is a string or a one-element array of
// strings (the multi-key form with one key).
func oneString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var arr []string
	if json.Unmarshal(raw, &arr) == nil && len(arr) == 1 {
		return arr[0], true
	}
	return "", false
}

func (s *Server) upload(c echo.Context, cl *caller, remove, replace bool) error {
	rawPayload, rawSession, err := uploadParts(c, remove)
	if err != nil {
		return err
	}
	var p uploadPayload
	if err := strictJSON("payload", rawPayload, &p); err != nil {
		return err
	}
	var sess uploadSession
	if err := strictJSON("session", rawSession, &sess); err != nil {
		return err
	}
	for field, raw := range map[string]json.RawMessage{"app_ids": p.AppIDs, "page_ids": p.PageIDs, "ig_account_ids": p.IGAccountIDs} {
		if len(raw) > 0 && string(raw) != "null" {
			return badRequest(fmt.Sprintf("payload.%s: linkd matches phone numbers (%s), not Facebook user ids, so it takes no %s: leave it out",
				field, strings.Join(audience.Schemas, ", "), field), map[string]any{"field": "payload." + field})
		}
	}
	schema, ok := oneString(p.Schema)
	if !ok {
		return badRequest("payload.schema: want one of "+strings.Join(audience.Schemas, ", "), map[string]any{"field": "payload.schema"})
	}
	var sid string
	if err := json.Unmarshal(sess.SessionID, &sid); err != nil {
		var n json.Number
		if err := json.Unmarshal(sess.SessionID, &n); err != nil || n.String() == "" {
			return badRequest("session.session_id: want a number or a string", map[string]any{"field": "session.session_id"})
		}
		sid = n.String()
	}
	data := make([]string, len(p.Data))
	for i, raw := range p.Data {
		e, ok := oneString(raw)
		if !ok {
			e = "" // counted as invalid by position, never echoed
		}
		data[i] = e
	}
	u := audience.Upload{Tenant: cl.key.Tenant, AudienceID: c.Param("id"), Schema: schema, Data: data,
		SessionID: sid, BatchSeq: sess.BatchSeq, Last: sess.LastBatchFlag, Remove: remove, Replace: replace,
		Catalogue: s.Policies().Catalogue,
		Charge: func(n int) error {
			s.batch.Observe(float64(n))
			return s.consume(c, "tenant:"+cl.key.Tenant, "uploaded_entries", access.Day, int64(n), s.limits().EntriesPerDay)
		}}
	res, err := s.Audiences.Upload(c.Request().Context(), u)
	var inv *audience.InvalidError
	switch {
	case errors.As(err, &inv):
		return badRequest(inv.Reason, inv.Details)
	case errors.Is(err, audience.ErrMirror):
		return newError(http.StatusConflict, "mirror", "this audience is the mirror of an audience at the other party: extend that one to change it", nil)
	case errors.Is(err, audience.ErrSessionComplete):
		return newError(http.StatusConflict, "session_complete", "the session's last batch was received: start a new session_id", map[string]any{"session_id": sid})
	case err != nil:
		return err
	}
	samples := res.InvalidSamples
	if samples == nil {
		samples = []audience.InvalidEntry{}
	}
	return c.JSON(http.StatusOK, uploadResponse{AudienceID: res.AudienceID, SessionID: sid, NumReceived: res.Received,
		NumInvalidEntries: res.Invalid, InvalidEntrySamples: samples, Replayed: res.Replayed})
}
