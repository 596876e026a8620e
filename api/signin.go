package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/access"
)

// The console is served beside the API: it signs people in with an API
// key (Authenticate), asks what their key may do (Allowed) to show only
// that, and makes its requests to the API in-process as the signed-in key
// (WithKey), so that every one of them is authorized, limited and audited
// as the same call with the key would be.

type keyContext struct{}

// WithKey returns ctx carrying key k as a request's authenticated caller:
// for the console, which has found k from its own session, to call
// Handler in-process. It must never carry a key named by the request's
// data.
func WithKey(ctx context.Context, k access.Key) context.Context {
	return context.WithValue(ctx, keyContext{}, k)
}

// ErrSignIn is a sign-in refused: a key missing, unknown or revoked, or a
// client that failed too often (Retry-After is then set on h). Its text is
// fit to show the person signing in.
var ErrSignIn = errors.New("api: sign-in refused")

// Authenticate checks secret, presented by the client of r, as the API
// checks a request's key, failures counted against the client's address.
func (s *Server) Authenticate(r *http.Request, secret string, h http.Header) (access.Key, error) {
	k, err := s.authenticate(r, strings.TrimSpace(secret), h)
	var ae *Error
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests:
			return k, signInError("too many failed sign-ins from this address: try again in a minute")
		case http.StatusUnauthorized:
			if strings.TrimSpace(secret) == "" {
				return k, signInError("an API key is required")
			}
			return k, signInError("this API key is not valid here: it is unknown or revoked (a key of the other party signs in at the other party's console)")
		}
	}
	return k, err
}

type signInError string

func (e signInError) Error() string { return string(e) }

func (e signInError) Unwrap() error { return ErrSignIn }

// Allowed reports whether the policies in force let key k take action
// for purpose (which may be ""), as the route of that action decides it
// before its work: the console shows a page or a control only when the
// API would take the request. The answer is not audited; the request,
// when made, is.
func (s *Server) Allowed(ctx context.Context, k access.Key, action, purpose string) bool {
	q := requestOf(k, action, "")
	q.Purpose = purpose
	d, err := s.Authorizer.Authorize(ctx, q)
	return err == nil && d.Allow
}

// Mount serves h at /console/ and redirects / there: the console, whose
// requests are counted and logged as the API's are.
func (s *Server) Mount(h http.Handler) {
	console := echo.WrapHandler(h)
	s.e.Any("/console", console)
	s.e.Any("/console/*", console)
	s.e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/console/") })
}
