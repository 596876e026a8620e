// Package client calls a linkd server's HTTP API with an API key, as the
// CLI and the other party do: JSON in, JSON out, and an error answer as
// an *AnswerError carrying linkd's error code and message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls a linkd server with an API key.
type Client struct {
	base, key string
	header    http.Header
	http      *http.Client
}

// New is a client of the server at base, whose calls each take at most
// timeout. With key "", calls carry no Authorization header (a console
// page's calls go with its session's cookie).
func New(base, key string, timeout time.Duration) *Client {
	return &Client{base: strings.TrimRight(base, "/"), key: key, header: http.Header{}, http: &http.Client{Timeout: timeout}}
}

// WithHeader returns the client with header name set to value on every
// call.
func (c *Client) WithHeader(name, value string) *Client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Set(name, value)
	return &cp
}

// AnswerError is a server's error answer: the status and, when the body
// is linkd's error JSON, its code and message.
type AnswerError struct {
	Method, Path  string
	Status        int
	Code, Message string
}

func (e *AnswerError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// Call sends in as JSON (if not nil) and decodes the answer into out; an
// error answer is an *AnswerError with the server's code and message.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for name, vs := range c.header {
		req.Header[name] = vs
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		return &AnswerError{Method: method, Path: path, Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON", method, path)
		}
	}
	return nil
}
