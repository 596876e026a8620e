package signal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WebhookEvent is one event of the signal webhook on the wire: an inbound
// signal on one of this party's accounts, received or revoked. Receivers
// dedupe by id (the signal id and the event): delivery is at least once.
type WebhookEvent struct {
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	SignalID   string    `json:"signal_id"`
	AccountID  string    `json:"account_id"`
	Type       string    `json:"type"`
	Confidence float64   `json:"confidence"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Webhook tells this party's account system of inbound signals: POST
// {"events": [...]} with X-Linkd-Signature: sha256=HEX, the HMAC-SHA256 of
// the body under the shared secret (see Signature); any 2xx answer takes
// the batch. It is a Hook.
type Webhook struct {
	url    string
	secret []byte
	http   *http.Client
}

// NewWebhook posts to url, signing with secret.
func NewWebhook(url, secret string) *Webhook {
	return &Webhook{url: url, secret: []byte(secret), http: &http.Client{Timeout: 30 * time.Second}}
}

// Notify implements Hook.
func (w *Webhook) Notify(ctx context.Context, evs []Event) error {
	out := struct {
		Events []WebhookEvent `json:"events"`
	}{Events: make([]WebhookEvent, len(evs))}
	for i, e := range evs {
		sg := e.Signal
		out.Events[i] = WebhookEvent{ID: sg.ID + ":" + e.Name, Event: e.Name, SignalID: sg.ID, AccountID: sg.AccountID, Type: sg.Type,
			Confidence: sg.Confidence, Status: sg.Status, CreatedAt: sg.CreatedAt, ExpiresAt: sg.ExpiresAt}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("signal webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Linkd-Signature", "sha256="+Signature(w.secret, body))
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("signal webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("signal webhook: %s answered %s", w.url, resp.Status)
	}
	return nil
}

// Signature is the hex HMAC-SHA256 of body under secret: what a receiver
// of the webhook compares, in constant time, with X-Linkd-Signature.
func Signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
