package console

import (
	"net/http"
	"net/url"
	"time"
)

// linkRun is a link job as the API shows it.
type linkRun struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Progress  *struct {
		Phase    string `json:"phase"`
		Sent     int64  `json:"sent"`
		Received int64  `json:"received"`
		Error    string `json:"error"`
		Code     string `json:"code"`
		Result   *struct {
			Matched     int64   `json:"matched"`
			OwnSize     int64   `json:"own_size"`
			PeerSize    int64   `json:"peer_size"`
			Sent        int64   `json:"sent"`
			Received    int64   `json:"received"`
			Incremental bool    `json:"incremental"`
			Seconds     float64 `json:"seconds"`
			Changed     bool    `json:"changed"`
		} `json:"result"`
	} `json:"progress"`
}

// status is GET /v1/status.
type status struct {
	Party     string `json:"party"`
	KeyEpoch  uint32 `json:"key_epoch"`
	KeyEpochs []struct {
		Epoch     uint32    `json:"epoch"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"key_epochs"`
	OPRFPublicKey string `json:"oprf_public_key"`
	PolicyBundle  string `json:"policy_bundle"`
	ReloadFailure *struct {
		At       time.Time `json:"at"`
		Problems string    `json:"problems"`
	} `json:"policy_reload_failure"`
	Relay struct {
		Pending     int64 `json:"pending"`
		Retried     int64 `json:"retried"`
		MaxAttempts int   `json:"max_attempts"`
	} `json:"relay"`
}

type operationsView struct {
	Runs    []linkRun
	Next    string
	First   string
	Running bool
	CanRun  bool
	Status  *status
	// LinkError is why the runs cannot be listed (no peer configured).
	LinkError string
}

func (c *Console) operations(q *request) error {
	before := q.r.URL.Query().Get("before")
	qs := url.Values{"limit": {"20"}}
	if before != "" {
		qs.Set("before", before)
	}
	v := operationsView{CanRun: q.can("link.run")}
	var p struct {
		Items []linkRun `json:"items"`
		Next  string    `json:"next"`
	}
	if err := q.call(http.MethodGet, "/v1/link/jobs", qs, nil, &p); err != nil {
		ae, ok := err.(*apiError)
		if !ok || ae.Status != http.StatusServiceUnavailable {
			return err
		}
		v.LinkError, v.CanRun = ae.text(), false
	}
	v.Runs = p.Items
	for _, r := range v.Runs {
		v.Running = v.Running || r.State == "running"
	}
	if p.Next != "" {
		v.Next = "/console/operations?before=" + url.QueryEscape(p.Next)
	}
	if before != "" {
		v.First = "/console/operations"
	}
	if q.can("metrics.read") {
		var st status
		if err := q.call(http.MethodGet, "/v1/status", nil, nil, &st); err != nil {
			return err
		}
		v.Status = &st
	}
	return c.render(q, http.StatusOK, "operations", "Operations", v)
}

func (c *Console) startLink(q *request) error {
	var job struct {
		ID string `json:"id"`
	}
	if err := q.call(http.MethodPost, "/v1/link/jobs", nil, map[string]bool{"full": q.r.PostFormValue("full") != ""}, &job); err != nil {
		return err
	}
	return q.redirect("/console/operations", "Link run "+job.ID+" started.")
}
