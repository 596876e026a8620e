package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
)

// decodeJSON reads one JSON object into v, refusing unknown fields and
// trailing data, with an error that says where and why and never quotes
// the body.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset), nil)
		case errors.As(err, &te):
			return badRequest(fmt.Sprintf("%s: want a JSON %s", te.Field, te.Type), map[string]any{"field": te.Field})
		case errors.Is(err, io.EOF):
			return badRequest("the body is empty", nil)
		}
		return badRequest("the body is not the expected JSON object (unknown field or cut short)", nil)
	}
	if dec.More() {
		return badRequest("the body has data after its JSON object", nil)
	}
	return nil
}

// requireJSON refuses a body that says it is not JSON.
func requireJSON(c echo.Context) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType)
		}
	}
	return nil
}
