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

// decodeJSON decodes the request body, one JSON object, into v: a body
// that says it is not JSON, unknown fields, trailing data and a body over
// the limit are refused with an
// error that says what is wrong and where.
func decodeJSON(c echo.Context, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	return strictDecode(c.Request().Body, v, "the body", "")
}

// strictDecode decodes exactly one JSON object of r into v, refusing
// unknown fields and trailing data. name says what is decoded in messages
// ("the body", or a field of it); field, if set, is that field's name,
// put in the details and before the name of a mistyped member.
func strictDecode(r io.Reader, v any, name, field string) error {
	var details map[string]any
	prefix := ""
	if field != "" {
		details, prefix = map[string]any{"field": field}, field+"."
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("%s is not valid JSON (at byte %d)", name, se.Offset), details)
		case errors.As(err, &te):
			return badRequest(fmt.Sprintf("%s%s: want a JSON %s", prefix, te.Field, te.Type), map[string]any{"field": prefix + te.Field})
		case errors.Is(err, io.EOF):
			return badRequest(name+" is empty", details)
		}
		return badRequest(name+" is not the expected JSON object (unknown field or cut short)", details)
	}
	if dec.More() {
		return badRequest(name+" has data after its JSON object", details)
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
