package directory

import (
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func readAll(t testing.TB, in string) ([]Row, []*RowError, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(in))
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	var bad []*RowError
	for {
		r, err := rd.Next()
		var re *RowError
		switch {
		case errors.Is(err, io.EOF):
			return rows, bad, nil
		case errors.As(err, &re):
			bad = append(bad, re)
		case err != nil:
			return rows, bad, err
		default:
			rows = append(rows, r)
		}
	}
}

func TestCSV(t *testing.T) {
	in := "\ufeffAccount_ID,phone,country,ad_opt_out,blocked_businesses\n" +
		"a1,0532 123 45 67,tr,false,\n" +
		"a2,+44 7911 123456,GB,TRUE,acme; globex\n" +
		",+1 202 555 0143,US,no,\n" +
		"a4,\"06 12 34 56 78\",FR,maybe,\n" +
		"a5,0151 23456789,DE,1\n" +
		"a6,\"bad\"quote,DE,0,\n" +
		"a7,010 1234 5678,EG,0,\n" +
		// A stray quote opens a field that never closes: its line is bad,
		// and the rows after it are read, not swallowed into the field.
		"a8,\"0532 123 45 68,TR,false,\n" +
		"a9,0532 123 45 69,TR,false,\n" +
		"a10,0532 123 45 70,TR,false,\r\n"
	rows, bad, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[3].AccountID != "a9" || rows[3].Line != 10 || rows[4].AccountID != "a10" || rows[4].AdOptOut {
		t.Fatalf("rows = %+v", rows)
	}
	want := Row{Line: 3, AccountID: "a2", Phone: "+44 7911 123456", Country: "GB", AdOptOut: true, BlockedBusinesses: []string{"acme", "globex"}}
	if r := rows[1]; r.Line != want.Line || r.AccountID != want.AccountID || r.Phone != want.Phone || r.Country != want.Country ||
		!r.AdOptOut || !slices.Equal(r.BlockedBusinesses, want.BlockedBusinesses) {
		t.Fatalf("row = %+v, want %+v", r, want)
	}
	if rows[0].Country != "TR" || rows[0].BlockedBusinesses != nil || rows[2].Line != 8 {
		t.Fatalf("rows = %+v", rows)
	}
	got := make([]string, len(bad))
	for i, e := range bad {
		got[i] = e.Error()
	}
	wantErrs := []string{
		"line 4: account_id is empty",
		"line 5: ad_opt_out: want true or false",
		"line 6: 4 fields, the header has 5",
		`line 7: malformed CSV: extraneous or missing " in quoted-field`,
		`line 9: malformed CSV: a quoted field does not close on its line (a stray ")`,
	}
	if !slices.Equal(got, wantErrs) {
		t.Fatalf("errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

func TestCSVHeader(t *testing.T) {
	for in, want := range map[string]string{
		"":                                  "the file is empty",
		"  \n ":                             "the file is empty",
		"account_id,phone,country\na,b,c\n": `no "ad_opt_out" column`,
		"account_id,phone,country,ad_opt_out,x\n":     `column 5 of the CSV header is not one of account_id`,
		"0532 123 45 67,TR\n":                         `column 1 of the CSV header is not one of`,
		"account_id,phone,phone,country,ad_opt_out\n": `column "phone" appears twice`,
	} {
		_, _, err := readAll(t, in)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// Consent columns are optional in both formats: granted or withdrawn,
// with a notice version and a time; a bad one refuses the row and names
// the field.
func TestConsents(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	rows, bad, err := readAll(t, "account_id,phone,country,ad_opt_out,ads_consent,ads_consent_notice,ads_consent_at\n"+
		"a1,+905321234567,TR,false,granted,v3,2026-03-01T09:30:00Z\n"+
		"a2,+905321234568,TR,false,,,\n"+
		"a3,+905321234569,TR,false,maybe,,\n"+
		"a4,+905321234560,TR,false,false,,\n"+
		"a5,+905321234561,TR,false,true,v3,yesterday\n"+
		"a6,+905321234562,TR,false,,v3,\n")
	want := [][]Consent{{{Purpose: "ads", Granted: true, Notice: "v3", At: at}}, nil, {{Purpose: "ads"}}}
	if err != nil || len(rows) != 3 || len(bad) != 3 {
		t.Fatalf("csv: %+v %v %v", rows, bad, err)
	}
	for i := range want {
		if !slices.Equal(rows[i].Consents, want[i]) {
			t.Errorf("csv row %d: consents %+v, want %+v", i, rows[i].Consents, want[i])
		}
	}
	for i, w := range []string{"line 4: ads_consent: want granted or withdrawn", "line 6: ads_consent_at: want an RFC 3339 time",
		"line 7: ads_consent: empty, but its notice or time is given"} {
		if bad[i].Error() != w {
			t.Errorf("csv: %q, want %q", bad[i], w)
		}
	}
	// Text that PostgreSQL or a reader would take otherwise than shown.
	_, bad, err = readAll(t, "account_id,phone,country,ad_opt_out,blocked_businesses,ads_consent,ads_consent_notice,ads_consent_at\n"+
		"b1,+905321234567,TR,false,,granted,v\xff1,\n"+
		"b2,+905321234568,TR,false,ac\xffme,,,\n"+
		"b3,+905321234569,TR,false,,granted,v\u202e1,\n"+
		"b4,+905321234560,TR,false,,granted,v1,0001-01-01T00:00:00Z\n")
	if err != nil || len(bad) != 4 || !strings.Contains(bad[0].Error(), "ads_consent_notice: at most 64 bytes of printable UTF-8") ||
		!strings.Contains(bad[1].Error(), "blocked_businesses") || !strings.Contains(bad[2].Error(), "ads_consent_notice") ||
		!strings.Contains(bad[3].Error(), "ads_consent_at: before 1970") {
		t.Fatalf("unprintable or out of range: %v %v", bad, err)
	}
	if _, _, err := readAll(t, "account_id,phone,country,ad_opt_out,ads_consent_at\n"); !errors.Is(err, ErrFormat) ||
		!strings.Contains(err.Error(), `needs a "ads_consent" column`) {
		t.Errorf("a time column without its consent column: %v", err)
	}
	rows, bad, err = readAll(t, `{"account_id":"a1","phone":"+905321234567","country":"TR","ad_opt_out":false,"consents":{"ads":{"granted":true,"notice":"v3","at":"2026-03-01T09:30:00Z"}}}`+"\n"+
		`{"account_id":"a2","phone":"+905321234568","country":"TR","ad_opt_out":false}`+"\n"+
		`{"account_id":"a3","phone":"+905321234569","country":"TR","ad_opt_out":false,"consents":{"ads":{"notice":"v3"}}}`+"\n"+
		`{"account_id":"a4","phone":"+905321234560","country":"TR","ad_opt_out":false,"consents":{"Ads!":{"granted":true}}}`+"\n")
	if err != nil || len(rows) != 2 || !slices.Equal(rows[0].Consents, want[0]) || rows[1].Consents != nil || len(bad) != 2 ||
		bad[0].Error() != "line 3: consents.ads: missing field granted" || !strings.HasPrefix(bad[1].Error(), "line 4: consents: a purpose is") {
		t.Fatalf("ndjson: %+v %v %v", rows, bad, err)
	}
}

func TestNDJSON(t *testing.T) {
	in := `{"account_id":"a1","phone":"0532 123 45 67","country":"TR","ad_opt_out":false}` + "\n" +
		"\n" +
		`{"account_id":"a2","phone":"+44 7911 123456","country":"GB","ad_opt_out":true,"blocked_businesses":["acme"]}` + "\n" +
		`{"account_id":"a3","phone":"+1 202 555 0143","country":"US"}` + "\n" +
		`{"account_id":"a4","phone":"+1 202 555 0143","country":"US","ad_opt_out":"no"}` + "\n" +
		`{"account_id":"a5","phone":"+1 202 555 0143","country":"US","ad_opt_out":false,"email":"x"}` + "\n" +
		`{"account_id":"a6","phone":"+1 202 555 0143"` + "\n" +
		`{"account_id":"a7","phone":"+1 202 555 0143","country":"US","ad_opt_out":false} {}` + "\n" +
		`{"account_id":"a8","phone":"+20 10 1234 5678","country":"EG","ad_opt_out":false}`
	rows, bad, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1].Line != 3 || !rows[1].AdOptOut || rows[1].BlockedBusinesses[0] != "acme" || rows[2].Line != 9 {
		t.Fatalf("rows = %+v", rows)
	}
	got := make([]string, len(bad))
	for i, e := range bad {
		got[i] = e.Error()
	}
	wantErrs := []string{
		"line 4: missing field ad_opt_out",
		"line 5: field ad_opt_out: want a JSON bool",
		"line 6: unknown field: the fields are account_id, phone, country, ad_opt_out, blocked_businesses, consents",
		"line 7: not valid JSON (cut short)",
		"line 8: more than one JSON value on the line",
	}
	if !slices.Equal(got, wantErrs) {
		t.Fatalf("errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantErrs, "\n"))
	}
}

var longDigits = regexp.MustCompile(`[0-9]{6,}`)

// FuzzReader: no input panics the reader; every row error names a line and
// never repeats a run of digits from the input (a number must not reach a
// log through an error).
func FuzzReader(f *testing.F) {
	f.Add("account_id,phone,country,ad_opt_out\na,0532 123 45 67,TR,false\n")
	f.Add("account_id,phone,country,ad_opt_out,blocked_businesses\n\"a\",\"05321234567\",TR,yes,\"x;y\"\n")
	f.Add(`{"account_id":"a","phone":"+905321234567","country":"TR","ad_opt_out":false}` + "\n")
	f.Add(`{"account_id":"a","phone":905321234567}` + "\n{}\n")
	f.Add("account_id,phone,country,ad_opt_out,ads_consent,ads_consent_notice,ads_consent_at\na,0532 123 45 67,TR,false,granted,v1,2026-01-02T03:04:05Z\n")
	f.Add(`{"account_id":"a","phone":"+905321234567","country":"TR","ad_opt_out":false,"consents":{"ads":{"granted":false,"at":"2026-01-02T03:04:05+01:00"}}}` + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		rd, err := NewReader(strings.NewReader(in))
		if err != nil {
			return
		}
		for range 10000 {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var re *RowError
			if errors.As(err, &re) {
				if re.Line < 1 {
					t.Fatalf("error without a line: %v", re)
				}
				for _, d := range longDigits.FindAllString(re.Reason, -1) {
					if strings.Contains(in, d) {
						t.Fatalf("reason %q repeats input digits", re.Reason)
					}
				}
				continue
			}
			if err != nil {
				t.Fatalf("unexpected error %T: %v", err, err)
			}
			if r.AccountID == "" || r.Line < 1 {
				t.Fatalf("row without id or line: %+v", r)
			}
			// What a row keeps must be storable: PostgreSQL refuses
			// text that is not UTF-8, and would fail the whole batch.
			texts := append([]string{r.AccountID}, r.BlockedBusinesses...) // the country is checked by the import
			for _, c := range r.Consents {
				texts = append(texts, c.Purpose, c.Notice)
			}
			for _, s := range texts {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Fatalf("row keeps text PostgreSQL refuses: %q", s)
				}
			}
		}
	})
}
