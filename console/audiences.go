package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/linkd/linkd/client"
)

// aud is an audience as the API shows it.
type aud = client.Audience

type audiencesView struct {
	Items     []aud
	Next      string
	First     string
	CanCreate bool
	Purposes  []string
}

// purposes an advertiser may create an audience for, those of the
// catalogue's the policies let the key use (the API refuses others).
var purposes = []string{"ads", "safety"}

func (c *Console) audiences(q *request) error {
	after := q.r.URL.Query().Get("after")
	qs := url.Values{"limit": {"50"}}
	if after != "" {
		qs.Set("after", after)
	}
	var p struct {
		Items []aud  `json:"items"`
		Next  string `json:"next"`
	}
	if err := q.call(http.MethodGet, "/v1/audiences", qs, nil, &p); err != nil {
		return err
	}
	v := audiencesView{Items: p.Items}
	for _, pp := range purposes {
		if q.canFor("audience.create", pp) {
			v.Purposes = append(v.Purposes, pp)
		}
	}
	v.CanCreate = len(v.Purposes) > 0
	if p.Next != "" {
		v.Next = "/console/audiences?after=" + url.QueryEscape(p.Next)
	}
	if after != "" {
		v.First = "/console/audiences"
	}
	return c.render(q, http.StatusOK, "audiences", "Audiences", v)
}

func (c *Console) createAudience(q *request) error {
	body := map[string]string{"name": strings.TrimSpace(q.r.PostFormValue("name")), "purpose": q.r.PostFormValue("purpose"),
		"description": strings.TrimSpace(q.r.PostFormValue("description"))}
	var a aud
	if err := q.call(http.MethodPost, "/v1/audiences", nil, body, &a); err != nil {
		return err
	}
	return q.redirect("/console/audiences/"+url.PathEscape(a.ID), "Audience created: upload a customer list to fill it.")
}

type audienceView struct {
	A         aud
	CanDelete bool
	CanUpload bool
	CanExtend bool
}

// audience shows one audience with its size: reading it is a size
// release, under the tenant's privacy budget, as on the API.
func (c *Console) audience(q *request) error {
	var a aud
	if err := q.call(http.MethodGet, "/v1/audiences/"+url.PathEscape(q.r.PathValue("id")), nil, nil, &a); err != nil {
		return err
	}
	v := audienceView{A: a, CanDelete: q.can("audience.delete"), CanUpload: q.can("audience.upload"), CanExtend: a.Purpose == "ads"}
	return c.render(q, http.StatusOK, "audience", a.Name, v)
}

func (c *Console) deleteAudience(q *request) error {
	if err := q.call(http.MethodDelete, "/v1/audiences/"+url.PathEscape(q.r.PathValue("id")), nil, nil, nil); err != nil {
		return err
	}
	return q.redirect("/console/audiences", "Audience deleted.")
}

func (c *Console) extendAudience(q *request) error {
	id := q.r.PathValue("id")
	if err := q.call(http.MethodPost, "/v1/audiences/"+url.PathEscape(id)+"/extend", nil, nil, nil); err != nil {
		return err
	}
	return q.redirect("/console/audiences/"+url.PathEscape(id), "Extension started: the other party's copy of this audience fills in the next minutes; read its size there.")
}
