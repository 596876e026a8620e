package peer_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/peer"
)

// TestLinkErrors: the other party's protocol errors stay protocol
// errors (the run stops and says why), as its word that a job's staging
// is lost stays that, and an extension's session complete; other
// failures are neither.
func TestLinkErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pk" {
			t.Errorf("no party key: %q", r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/reblind") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"error":{"code":"protocol_error","message":"batch 3 of 7 elements: want at most 5"}}`))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/finish") {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"staging_lost","message":"linkjob: staging lost: job j: the batches staged for it are gone"}}`))
			return
		}
		if r.URL.Path == "/v1/peer/audiences" {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"session_complete","message":"the extension's last batch was received"}}`))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"not_configured","message":"this server does not link"}}`))
	}))
	defer srv.Close()
	p := peer.NewClient(srv.URL+"/", "pk")
	_, err := p.Reblind(context.Background(), "j", 3, nil)
	if !errors.Is(err, linkjob.ErrProtocol) || !strings.Contains(err.Error(), "batch 3 of 7 elements") {
		t.Fatalf("reblind: %v", err)
	}
	_, err = p.Finish(context.Background(), "j")
	if !errors.Is(err, linkjob.ErrLost) || errors.Is(err, linkjob.ErrProtocol) ||
		err.Error() != "linkjob: staging lost: the peer says: job j: the batches staged for it are gone" {
		t.Fatalf("finish: %v", err)
	}
	// An extension's refusal comes back as the audience error it is.
	if _, err := p.Mirror(context.Background(), audience.Mirror{SourceAudience: "a", Tenant: "t", SessionID: "s", Seq: 2}); !errors.Is(err, audience.ErrSessionComplete) {
		t.Fatalf("mirror: %v", err)
	}
	_, err = p.Open(context.Background(), linkjob.Open{JobID: "j"})
	if err == nil || errors.Is(err, linkjob.ErrProtocol) || !strings.Contains(err.Error(), "503 not_configured: this server does not link") {
		t.Fatalf("open: %v", err)
	}
}
