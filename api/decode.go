package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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
	raw, err := io.ReadAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		return malformed(name+" could not be read", details)
	}
	// PostgreSQL takes no NUL in text, and encoding/json would turn bytes
	// that are not UTF-8 into U+FFFD: both are refused here, at the edge,
	// naming where they are.
	invalid := !utf8.Valid(raw)
	if invalid || bytes.Contains(raw, []byte(`\u0000`)) || bytes.Contains(raw, []byte(`\U0000`)) {
		why := "contains a NUL character (\\u0000), which no field may"
		probe := raw
		if invalid {
			// Each stretch of bad bytes becomes an escaped NUL, which
			// nulIn finds with its field.
			why, probe = "is not valid UTF-8", bytes.ToValidUTF8(raw, []byte(`\u0000`))
		}
		var tree any
		if json.Unmarshal(probe, &tree) == nil {
			if where, ok := nulIn(tree, strings.TrimSuffix(prefix, ".")); ok {
				return badRequest(orName(where, name)+": "+why, map[string]any{"field": orName(where, field)})
			}
		}
		if invalid {
			return malformed(fmt.Sprintf("%s is not valid UTF-8 (at byte %d)", name, invalidAt(raw)), details)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		case errors.As(err, &se):
			return malformed(fmt.Sprintf("%s is not valid JSON (at byte %d)", name, se.Offset), details)
		case errors.As(err, &te):
			return badRequest(fmt.Sprintf("%s%s: want a JSON %s", prefix, te.Field, te.Type), map[string]any{"field": prefix + te.Field})
		case errors.Is(err, io.EOF):
			return malformed(name+" is empty", details)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return malformed(name+" is cut short", details)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			// The field is named when it reads as a field name; any other
			// key could be data that must not come back in an answer.
			if f, err := strconv.Unquote(f); err == nil && fieldName.MatchString(f) {
				return badRequest(fmt.Sprintf("%s%s: not a field of %s", prefix, f, name), map[string]any{"field": prefix + f})
			}
			return badRequest(name+" has a field it does not take", details)
		}
		return badRequest(name+" is not the expected JSON object", details)
	}
	if dec.More() {
		return malformed(name+" has data after its JSON object", details)
	}
	return nil
}

// fieldName is a key an error may name: a field name's form, short
// enough that no hash (64 hex digits, 44 base64 characters) passes.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,39}$`)

func orName(where, name string) string {
	if where == "" {
		return name
	}
	return where
}

// invalidAt is the offset of the first byte of b that is not UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// nulIn finds a string holding NUL in a decoded JSON value, a key or a
// value, and returns its path (a.b[2].c).
func nulIn(v any, path string) (string, bool) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch v := v.(type) {
	case string:
		return path, strings.ContainsRune(v, 0)
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) {
				return join(strings.ReplaceAll(k, "\x00", "")), true
			}
			if where, ok := nulIn(e, join(k)); ok {
				return where, true
			}
		}
	case []any:
		for i, e := range v {
			if where, ok := nulIn(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return where, true
			}
		}
	}
	return "", false
}

// checkText refuses NUL characters and bytes that are not UTF-8 in the
// request's path parameters, query parameters and form fields, naming the
// parameter: no text the store is given may hold them.
func checkText(c echo.Context) error {
	bad := func(kind, name, why string) error {
		return badRequest(fmt.Sprintf("%s %s: %s", kind, name, why), map[string]any{"parameter": name})
	}
	check := func(kind, name string, values ...string) error {
		for _, v := range append(values, name) {
			switch {
			case !utf8.ValidString(v):
				return bad(kind, strings.ToValidUTF8(name, "?"), "is not valid UTF-8")
			case strings.ContainsRune(v, 0):
				return bad(kind, strings.ReplaceAll(name, "\x00", ""), "contains a NUL character")
			}
		}
		return nil
	}
	for i, name := range c.ParamNames() {
		if i < len(c.ParamValues()) {
			v := c.ParamValues()[i]
			if u, err := url.PathUnescape(v); err == nil {
				v = u
			}
			if err := check("path parameter", name, v); err != nil {
				return err
			}
		}
	}
	for name, vs := range c.QueryParams() {
		if err := check("query parameter", name, vs...); err != nil {
			return err
		}
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEApplicationForm) {
		form, err := c.FormParams()
		if err != nil {
			return badRequest("the form could not be read", nil)
		}
		for name, vs := range form {
			if err := check("form field", name, vs...); err != nil {
				return err
			}
		}
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
