package phone

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNormalizeEverydayFormats(t *testing.T) {
	tests := []struct {
		in, region, want string
	}{
		// The published vector: Marketing API docs.
		{"+44 844 412 4653", "", "+448444124653"},
		// International prefix "00", with and without a default region.
		{"0044 20 7946 0018", "", "+442079460018"},
		{"00 90 532 123 45 67", "US", "+905321234567"},
		// Turkey: mobile and Istanbul fixed line, with trunk prefix 0.
		{"0532 123 45 67", "TR", "+905321234567"},
		{"(0212) 345 67 89", "TR", "+902123456789"},
		{"+90 532 123 4567", "DE", "+905321234567"},
		// France.
		{"06 12 34 56 78", "FR", "+33612345678"},
		{"01 23 45 67 89", "fr", "+33123456789"},
		// Germany: mobile and Berlin.
		{"0151 23456789", "DE", "+4915123456789"},
		{"030 123456", "DE", "+4930123456"},
		// Indonesia: mobile and Jakarta.
		{"0812-3456-7890", "ID", "+6281234567890"},
		{"021 5678 1234", "ID", "+622156781234"},
		// Egypt: mobile and Cairo.
		{"010 1234 5678", "EG", "+201012345678"},
		{"02 2345 6789", "EG", "+20223456789"},
		// United States.
		{"(202) 555-0143", "US", "+12025550143"},
		{"1-212-555-0100", "US", "+12125550100"},
		{"+12345678901", "", "+12345678901"},
		// United Kingdom: mobile and London.
		{"07911 123456", "GB", "+447911123456"},
		{"020 7946 0018", "GB", "+442079460018"},
		// Egyptians often write Arabic-Indic digits.
		{"٠١٠ ١٢٣٤ ٥٦٧٨", "EG", "+201012345678"},
		// Surrounding white space and a national trunk prefix written after
		// the country code are tolerated, as libphonenumber does.
		{"  +49 (0)151 23456789\t", "", "+4915123456789"},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in, tt.region)
		if err != nil {
			t.Errorf("Normalize(%q, %q): %v", tt.in, tt.region, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Normalize(%q, %q) = %q, want %q", tt.in, tt.region, got, tt.want)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		in, region string
		want       Reason
	}{
		{"", "", ReasonEmpty},
		{"   ", "GB", ReasonEmpty},
		{"hello", "GB", ReasonNotANumber},
		{"call me", "", ReasonNotANumber},
		{"\xff\xfe12345678", "GB", ReasonNotANumber},
		{strings.Repeat("1", MaxInputLen+1), "US", ReasonInputTooLong},
		{"0532 123 45 67", "", ReasonNoCountry},
		{"+999 1234 5678", "", ReasonUnknownCode},
		{"12", "US", ReasonTooShort},
		{"+1 202 555 01433333", "", ReasonTooLong},
		{"555 0143", "US", ReasonLocalOnly},
		// Plausible shape, unallocated range: US area codes never start with 0/1,
		// and TR mobile ranges start with 5.
		{"+1 023 555 0143", "", ReasonInvalid},
		{"0932 123 45 67", "TR", ReasonInvalid},
		{"+6834002", "", ReasonShortE164},
		{"0151 23456789", "XX", ReasonBadRegionArg},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in, tt.region)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Normalize(%q, %q) = %q, %v; want reason %q", tt.in, tt.region, got, err, tt.want)
			continue
		}
		if e.Reason != tt.want {
			t.Errorf("Normalize(%q, %q): reason %q, want %q", tt.in, tt.region, e.Reason, tt.want)
		}
		if got != "" {
			t.Errorf("Normalize(%q, %q) returned %q with an error", tt.in, tt.region, got)
		}
		if d := digitsOf(tt.in); len(d) >= 4 && strings.Contains(err.Error(), d) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

func TestErrorNamesRegion(t *testing.T) {
	_, err := Normalize("0932 123 45 67", "TR")
	if err == nil || err.Error() != "phone: "+string(ReasonInvalid)+" (TR)" {
		t.Fatalf("error = %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.ReasonText() != string(ReasonInvalid)+" (TR)" {
		t.Fatalf("ReasonText = %q", e.ReasonText())
	}
}

func TestCheckRegion(t *testing.T) {
	for in, want := range map[string]string{"": "", "tr": "TR", " GB ": "GB", "US": "US"} {
		got, err := CheckRegion(in)
		if err != nil || got != want {
			t.Errorf("CheckRegion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"XX", "UK", "USA", "1"} {
		if _, err := CheckRegion(in); !errors.Is(err, ErrUnknownRegion) {
			t.Errorf("CheckRegion(%q) = %v, want ErrUnknownRegion", in, err)
		}
	}
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// FuzzNormalize holds Normalize to its contract on any input: no panic, an
// accepted number has the E.164 shape, normalization is idempotent, an
// error never carries the input's digits, and the result (number or
// reason) is libphonenumber's for the input as typed, uncompacted.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+44 844 412 4653", "0532 123 45 67", "0044 20 7946 0018",
		"(202) 555-0143", "+1 212 555 0100 ext. 3", "tel:+33-6-12-34-56-78", "++1", "0", "+",
		"0532-123-45-67", "+1 202-555-0143", "1-800-555-0100", "011 44 20 7946 0018", "+-1 202 555 0143", "- 0 -"} {
		f.Add(s, "")
		f.Add(s, "TR")
		f.Add(s, "US")
	}
	f.Fuzz(func(t *testing.T, in, region string) {
		n, err := Normalize(in, region)
		typed, terr := normalize(in, region, false)
		if n != typed || fmt.Sprint(err) != fmt.Sprint(terr) {
			t.Fatalf("Normalize(%q, %q) = %q, %v; as typed %q, %v", in, region, n, err, typed, terr)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T", err)
			}
			if d := digitsOf(in); len(d) >= 6 && strings.Contains(err.Error(), d) {
				t.Fatalf("error %q repeats the input", err)
			}
			return
		}
		if err := checkShape(string(n)); err != nil {
			t.Fatalf("Normalize(%q, %q) = %q: %v", in, region, n, err)
		}
		if n.Digits() != string(n)[1:] || n.E164() != string(n) {
			t.Fatalf("canonical forms of %q", n)
		}
		again, err := Normalize(string(n), "")
		if err != nil || again != n {
			t.Fatalf("Normalize(%q) = %q, %v; not idempotent", n, again, err)
		}
		again, err = Normalize(string(n), region)
		if err != nil || again != n {
			t.Fatalf("Normalize(%q, %q) = %q, %v; not idempotent", n, region, again, err)
		}
	})
}

func ExampleNormalize() {
	n, err := Normalize("0532 123 45 67", "TR")
	if err != nil {
		panic(err)
	}
	fmt.Println(n.E164(), n.Digits())
	_, err = Normalize("0532 123 45 67", "")
	fmt.Println(err)
	// Output:
	// +905321234567 905321234567
	// phone: no country: write the number with + and its country code, or give a default country
}

// Compacting a number written with digits, spaces and hyphens never
// changes what Normalize answers, whatever the region's rules (Italy's
// leading zero, Argentina's and Mexico's prefix rewriting, NANPA's "1").
func TestCompactingChangesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regions := []string{"", "US", "CA", "GB", "TR", "DE", "FR", "IT", "AR", "MX", "BR", "IN", "RU", "JP", "AU"}
	accepted := 0
	for range 20000 {
		var b strings.Builder
		switch rng.IntN(4) {
		case 0:
			b.WriteByte('+')
		case 1:
			b.WriteByte('0')
		}
		for range 3 + rng.IntN(13) {
			b.WriteByte(byte('0' + rng.IntN(10)))
			switch rng.IntN(6) {
			case 0:
				b.WriteByte(' ')
			case 1:
				b.WriteByte('-')
			}
		}
		in, region := b.String(), regions[rng.IntN(len(regions))]
		n, err := normalize(in, region, true)
		typed, terr := normalize(in, region, false)
		if n != typed || fmt.Sprint(err) != fmt.Sprint(terr) {
			t.Fatalf("normalize(%q, %q) = %q, %v compacted; %q, %v as typed", in, region, n, err, typed, terr)
		}
		if err == nil {
			accepted++
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d of 20000 random numbers were valid: the test says little", accepted)
	}
}
