package directory

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Row is one account as the service's account system exports it. Phone is
// the raw number: it lives only until its pseudonyms are derived.
type Row struct {
	Line              int
	AccountID         string
	Phone             string
	Country           string
	AdOptOut          bool
	BlockedBusinesses []string
	// Consents are the person's consents as the account system holds
	// them, one per purpose given (optional columns).
	Consents []Consent
}

// RowError is a row that is not imported. Its reason names the field and
// what is wrong, never the field's value.
type RowError struct {
	Line   int
	Reason string
}

func (e *RowError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Reason }

// Limits on one row.
const (
	maxLine     = 64 << 10
	maxBlocked  = 1000
	maxTenantID = 64
	maxNotice   = 64
)

// The CSV header's column names. blocked_businesses and the consent
// columns are optional; in CSV blocked_businesses holds tenant ids
// separated by ";". A purpose's consent takes up to three columns:
// PURPOSE_consent (granted or withdrawn; true and false too; empty: none
// given), PURPOSE_consent_notice (the notice's version) and
// PURPOSE_consent_at (RFC 3339).
var csvColumns = []string{"account_id", "phone", "country", "ad_opt_out", "blocked_businesses"}

// consentColumn matches the consent columns' names: the purpose, and the
// column's part.
var consentColumn = regexp.MustCompile(`^([a-z][a-z0-9_]{0,31}?)_consent(|_notice|_at)$`)

// Reader reads a directory file: CSV with a header line, or NDJSON (one
// JSON object a line), told apart by the file's first non-blank byte.
type Reader struct {
	next func() (Row, error)
}

// ErrFormat is a file whose header or framing is wrong: nothing of it is
// read.
var ErrFormat = errors.New("directory: not a directory file")

// NewReader starts reading r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: the file is empty", ErrFormat)
			}
			return nil, fmt.Errorf("directory: reading: %w", err)
		}
		if unicode.IsSpace(rune(b[0])) {
			_, _ = br.ReadByte()
			continue
		}
		if b[0] == '{' {
			return &Reader{next: ndjsonRows(br)}, nil
		}
		next, err := csvRows(br)
		if err != nil {
			return nil, err
		}
		return &Reader{next: next}, nil
	}
}

// Next returns the next row, a *RowError for a bad row (reading may go on),
// io.EOF at the end, or another error that ends reading.
func (r *Reader) Next() (Row, error) { return r.next() }

// csvRows reads CSV a line at a time: a row of a directory never holds a
// line break, so a quote that does not close on its line is that line's
// error, and the lines after it are read as rows of their own (a CSV
// reader would take them into the quoted field, and drop them unseen).
func csvRows(br *bufio.Reader) (func() (Row, error), error) {
	n := 0
	record := func() ([]string, int, error) {
		for {
			b, tooLong, err := readLine(br)
			if err != nil {
				return nil, n, err
			}
			n++
			if tooLong {
				return nil, n, &RowError{Line: n, Reason: fmt.Sprintf("longer than %d bytes", maxLine)}
			}
			b = bytes.TrimSuffix(b, []byte("\r"))
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			cr := csv.NewReader(bytes.NewReader(b))
			cr.FieldsPerRecord = -1
			rec, err := cr.Read()
			if err != nil {
				reason := "malformed CSV"
				var pe *csv.ParseError
				switch {
				case bytes.Count(b, []byte{'"'})%2 == 1:
					reason = "malformed CSV: a quoted field does not close on its line (a stray \")"
				case errors.As(err, &pe):
					reason = "malformed CSV: " + pe.Err.Error()
				}
				return nil, n, &RowError{Line: n, Reason: reason}
			}
			return rec, n, nil
		}
	}
	header, _, err := record()
	if err != nil {
		var re *RowError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%w: reading the CSV header: %s", ErrFormat, re.Reason)
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file is empty", ErrFormat)
		}
		return nil, fmt.Errorf("directory: reading: %w", err)
	}
	// Header cells are named in errors only when they are known column
	// names: a file without a header has a phone number in its first line.
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(csvColumns, h) && !consentColumn.MatchString(h) {
			return nil, fmt.Errorf("%w: column %d of the CSV header is not one of %s or PURPOSE_consent, PURPOSE_consent_notice, PURPOSE_consent_at",
				ErrFormat, i+1, strings.Join(csvColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%w: column %q appears twice in the header", ErrFormat, h)
		}
		col[h] = i
	}
	// The purposes with consent columns, in the header's order.
	var purposes []string
	for _, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if m := consentColumn.FindStringSubmatch(h); m != nil && !slices.Contains(purposes, m[1]) {
			if _, ok := col[m[1]+"_consent"]; !ok {
				return nil, fmt.Errorf("%w: column %q needs a %q column", ErrFormat, h, m[1]+"_consent")
			}
			purposes = append(purposes, m[1])
		}
	}
	for _, need := range csvColumns[:4] {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("%w: the CSV header has no %q column (want %s, and optionally %s)",
				ErrFormat, need, strings.Join(csvColumns[:4], ", "), strings.Join(csvColumns[4:], " and "))
		}
	}
	return func() (Row, error) {
		rec, line, err := record()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Row{}, io.EOF
			}
			var re *RowError
			if errors.As(err, &re) {
				return Row{}, err
			}
			return Row{}, fmt.Errorf("directory: reading: %w", err)
		}
		if len(rec) != len(header) {
			return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(header))}
		}
		row := Row{Line: line, AccountID: rec[col["account_id"]], Phone: rec[col["phone"]], Country: rec[col["country"]]}
		opt, err := parseBool(rec[col["ad_opt_out"]])
		if err != nil {
			return Row{}, &RowError{Line: line, Reason: "ad_opt_out: " + err.Error()}
		}
		row.AdOptOut = opt
		if i, ok := col["blocked_businesses"]; ok && strings.TrimSpace(rec[i]) != "" {
			row.BlockedBusinesses = strings.Split(rec[i], ";")
		}
		for _, p := range purposes {
			cell := func(part string) string {
				if i, ok := col[p+"_consent"+part]; ok {
					return strings.TrimSpace(rec[i])
				}
				return ""
			}
			granted := cell("")
			if granted == "" {
				if cell("_notice") != "" || cell("_at") != "" {
					return Row{}, &RowError{Line: line, Reason: p + "_consent: empty, but its notice or time is given"}
				}
				continue
			}
			c, err := parseConsent(p, granted, cell("_notice"), cell("_at"))
			if err != nil {
				return Row{}, &RowError{Line: line, Reason: err.Error()}
			}
			row.Consents = append(row.Consents, c)
		}
		return row, checkRow(&row)
	}, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no", "n", "f":
		return false, nil
	case "true", "1", "yes", "y", "t":
		return true, nil
	}
	return false, errors.New("want true or false")
}

// minConsentAt is the earliest time a consent may be dated.
var minConsentAt = time.Unix(0, 0)

// parseConsent reads a consent's fields; its errors name the field.
func parseConsent(purpose, granted, notice, at string) (Consent, error) {
	c := Consent{Purpose: purpose, Notice: notice}
	switch strings.ToLower(granted) {
	case "granted", "true", "1", "yes", "y", "t":
		c.Granted = true
	case "withdrawn", "false", "0", "no", "n", "f":
	default:
		return c, errors.New(purpose + "_consent: want granted or withdrawn")
	}
	if len(notice) > maxNotice || !printable(notice) {
		return c, fmt.Errorf("%s_consent_notice: at most %d bytes of printable UTF-8", purpose, maxNotice)
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return c, errors.New(purpose + "_consent_at: want an RFC 3339 time")
		}
		if t.Before(minConsentAt) {
			return c, errors.New(purpose + "_consent_at: before 1970")
		}
		c.At = t.UTC()
	}
	return c, nil
}

// jsonConsent is a consent in NDJSON: "consents": {"ads": {...}}.
type jsonConsent struct {
	Granted *bool  `json:"granted"`
	Notice  string `json:"notice"`
	At      string `json:"at"`
}

type jsonRow struct {
	AccountID         *string                `json:"account_id"`
	Phone             *string                `json:"phone"`
	Country           *string                `json:"country"`
	AdOptOut          *bool                  `json:"ad_opt_out"`
	BlockedBusinesses []string               `json:"blocked_businesses"`
	Consents          map[string]jsonConsent `json:"consents"`
}

func ndjsonRows(br *bufio.Reader) func() (Row, error) {
	line := 0
	return func() (Row, error) {
		for {
			b, tooLong, err := readLine(br)
			if err != nil {
				return Row{}, err
			}
			line++
			if tooLong {
				return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("longer than %d bytes", maxLine)}
			}
			if len(bytes.TrimSpace(b)) == 0 {
				continue
			}
			var jr jsonRow
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&jr); err != nil {
				return Row{}, &RowError{Line: line, Reason: jsonReason(err)}
			}
			if dec.More() {
				return Row{}, &RowError{Line: line, Reason: "more than one JSON value on the line"}
			}
			for name, v := range map[string]*string{"account_id": jr.AccountID, "phone": jr.Phone, "country": jr.Country} {
				if v == nil {
					return Row{}, &RowError{Line: line, Reason: "missing field " + name}
				}
			}
			if jr.AdOptOut == nil {
				return Row{}, &RowError{Line: line, Reason: "missing field ad_opt_out"}
			}
			row := Row{Line: line, AccountID: *jr.AccountID, Phone: *jr.Phone, Country: *jr.Country,
				AdOptOut: *jr.AdOptOut, BlockedBusinesses: jr.BlockedBusinesses}
			for _, p := range slices.Sorted(maps.Keys(jr.Consents)) {
				jc := jr.Consents[p]
				if !consentColumn.MatchString(p + "_consent") {
					return Row{}, &RowError{Line: line, Reason: "consents: a purpose is lower-case letters, digits and _, at most 32"}
				}
				if jc.Granted == nil {
					return Row{}, &RowError{Line: line, Reason: "consents." + p + ": missing field granted"}
				}
				c, err := parseConsent(p, strconv.FormatBool(*jc.Granted), jc.Notice, jc.At)
				if err != nil {
					return Row{}, &RowError{Line: line, Reason: "consents." + err.Error()}
				}
				row.Consents = append(row.Consents, c)
			}
			return row, checkRow(&row)
		}
	}
}

// jsonReason describes a JSON error without quoting the line: a phone
// number may stand in it.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: want a JSON %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The field's name is not repeated: it may be anything, a number too.
		return "unknown field: the fields are " + strings.Join(csvColumns, ", ") + ", consents"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "not valid JSON (cut short)"
	}
	return "not a JSON object"
}

func readLine(br *bufio.Reader) (b []byte, tooLong bool, err error) {
	b, err = br.ReadSlice('\n')
	switch {
	case err == nil:
		return b[:len(b)-1], false, nil
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		return nil, true, nil
	case errors.Is(err, io.EOF) && len(b) > 0:
		return b, false, nil
	}
	return nil, false, err
}

// checkRow validates the fields that are not the phone number, trimming
// them; the number is checked when it is normalized.
// printable says s is valid UTF-8 of printable characters (no control,
// format such as a bidirectional override, or replacement character).
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(c rune) bool { return !unicode.IsPrint(c) || c == unicode.ReplacementChar })
}

func checkRow(r *Row) error {
	r.AccountID = strings.TrimSpace(r.AccountID)
	r.Country = strings.ToUpper(strings.TrimSpace(r.Country))
	switch {
	case r.AccountID == "":
		return &RowError{Line: r.Line, Reason: "account_id is empty"}
	case len(r.AccountID) > MaxAccountIDLen:
		return &RowError{Line: r.Line, Reason: fmt.Sprintf("account_id is longer than %d bytes", MaxAccountIDLen)}
	case !printable(r.AccountID):
		return &RowError{Line: r.Line, Reason: "account_id has a control or invalid character"}
	case len(r.BlockedBusinesses) > maxBlocked:
		return &RowError{Line: r.Line, Reason: fmt.Sprintf("more than %d blocked businesses", maxBlocked)}
	}
	out := r.BlockedBusinesses[:0]
	for _, b := range r.BlockedBusinesses {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if len(b) > maxTenantID || !printable(b) || strings.ContainsFunc(b, unicode.IsSpace) {
			return &RowError{Line: r.Line, Reason: "blocked_businesses: a tenant id is 1 to 64 printable characters without spaces"}
		}
		out = append(out, b)
	}
	r.BlockedBusinesses = out
	if len(out) == 0 {
		r.BlockedBusinesses = nil
	}
	return nil
}
