package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/store/storeerr"
)

// Error is what a caller is told: a stable code, a message for a person,
// and details. It never holds a number, a hash or a secret; the cause is
// logged, not sent.
type Error struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("api: %s: %s: %v", e.Code, e.Message, e.cause)
	}
	return "api: " + e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

func newError(status int, code, msg string, details map[string]any) *Error {
	return &Error{Status: status, Code: code, Message: msg, Details: details}
}

func badRequest(msg string, details map[string]any) *Error {
	return newError(http.StatusUnprocessableEntity, "invalid_request", msg, details)
}

// malformed is a body that is not well-formed JSON (RFC 9110's 400): not
// UTF-8, not JSON, empty, cut short or followed by more. A well-formed
// body whose content is refused is badRequest's 422.
func malformed(msg string, details map[string]any) *Error {
	return newError(http.StatusBadRequest, "malformed_request", msg, details)
}

type errorBody struct {
	Error *Error `json:"error"`
}

// notFound names, from the route, what a request found missing.
func notFound(c echo.Context) string {
	p := c.Path()
	switch {
	case p == "/v1/signals" && c.Request().Method == http.MethodPost:
		return "no such account: account_id names no account of this party's directory"
	case strings.HasPrefix(p, "/v1/signals/inbound/"):
		return "no such inbound signal: " + c.Param("id")
	case strings.HasPrefix(p, "/v1/signals/"):
		return "no such signal: " + c.Param("id")
	case strings.HasPrefix(p, "/v1/subjects/"):
		return "no such account: " + c.Param("id")
	case strings.HasPrefix(p, "/v1/subject-requests/"):
		return "no such request receipt: " + c.Param("id")
	case strings.HasPrefix(p, "/v1/audiences/"), strings.HasPrefix(p, "/:version/"):
		return "no such audience of the tenant: " + quoteField(c.Param("id"))
	case strings.HasPrefix(p, "/v1/link/jobs/"):
		return "no such link run: " + c.Param("id")
	}
	return "no such resource"
}

// handleError is the one error handler: every failure of every route,
// echo's own (404, 405, 413, ...) included, leaves as the error body.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var ae *Error
	var he *echo.HTTPError
	var pe *peer.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &pe):
		ae = newError(pe.Status, pe.Code, pe.Message, pe.Details)
	case errors.As(err, &he):
		ae = fromHTTPError(he)
	case errors.Is(err, storeerr.ErrNotFound):
		ae = newError(http.StatusNotFound, "not_found", notFound(c), nil)
	case errors.Is(err, storeerr.ErrConflict):
		ae = newError(http.StatusConflict, "conflict", "the request conflicts with the current state", nil)
	case errors.Is(err, storeerr.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		// The database is down, or did not answer in time: say when to
		// come back, and log the cause.
		ae = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "the service could not reach its database in time; retry later", cause: err}
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
	default:
		ae = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the request id is in the logs", cause: err}
	}
	if ae.Status >= 500 {
		s.log.Error("request failed", "request_id", requestID(c), "route", c.Path(), "error", err)
	}
	if ae.Details == nil && ae.Status >= 500 {
		ae.Details = map[string]any{"request_id": requestID(c)}
	}
	var werr error
	switch {
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(ae.Status)
	case isGraph(c):
		werr = c.JSON(ae.Status, map[string]graphError{"error": toGraph(ae, c)})
	default:
		werr = c.JSON(ae.Status, errorBody{ae})
	}
	if werr != nil {
		s.log.Warn("writing error response", "request_id", requestID(c), "error", werr)
	}
}

// retryAfterUnavailable is the Retry-After, in seconds, of a 503 for a
// database that did not answer.
const retryAfterUnavailable = 5

func fromHTTPError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return newError(he.Code, "not_found", "no such route", nil)
	case http.StatusMethodNotAllowed:
		return newError(he.Code, "method_not_allowed", "the route does not take this method", nil)
	case http.StatusRequestEntityTooLarge:
		return newError(he.Code, "too_large", "the request body is too large", map[string]any{"max_bytes": maxBody})
	case http.StatusUnsupportedMediaType:
		return newError(he.Code, "unsupported_media_type", "send JSON (application/json) or form fields", nil)
	case http.StatusUnauthorized:
		return newError(he.Code, "unauthorized", "a valid API key is required", nil)
	case http.StatusTooManyRequests:
		return newError(he.Code, "rate_limited", "too many requests", nil)
	case http.StatusBadRequest:
		return newError(he.Code, "bad_request", "the request could not be read", nil)
	}
	return newError(he.Code, "error", http.StatusText(he.Code), nil)
}

// logValue keeps slog from printing an Error's details in full.
func (e *Error) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("status", e.Status), slog.String("code", e.Code))
}
