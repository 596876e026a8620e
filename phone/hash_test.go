package phone

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Published vectors: the Marketing API's customer-list documentation for
// PHONE_SHA256, and the UID2 documentation for the base64 E.164 form.
func TestHashVectors(t *testing.T) {
	n, err := Normalize("+44 844 412 4653", "")
	if err != nil {
		t.Fatal(err)
	}
	if n.Digits() != "448444124653" {
		t.Fatalf("digits = %q", n.Digits())
	}
	if got := n.Hash(SchemaSHA256).Encode(SchemaSHA256); got != "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383" {
		t.Fatalf("PHONE_SHA256 = %s", got)
	}
	n, err = Normalize("+12345678901", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Hash(SchemaE164SHA256B64).Encode(SchemaE164SHA256B64); got != "EObwtHBUqDNZR33LNSMdtt5cafsYFuGmuY4ZLenlue4=" {
		t.Fatalf("PHONE_E164_SHA256_B64 = %s", got)
	}
	if got := n.Hash(SchemaE164SHA256).Encode(SchemaE164SHA256); got != "10e6f0b47054a83359477dcb35231db6de5c69fb1816e1a6b98e192de9e5b9ee" {
		t.Fatalf("PHONE_E164_SHA256 = %s", got)
	}
}

func TestHashRoundTrip(t *testing.T) {
	n := Number("+905321234567")
	for _, s := range HashSchemas {
		d := n.Hash(s)
		enc := d.Encode(s)
		got, err := ParseHash(s, enc)
		if err != nil || got != d {
			t.Errorf("%s: ParseHash(Encode) = %v, %v", s, got == d, err)
		}
		if s != SchemaE164SHA256B64 {
			up, err := ParseHash(s, strings.ToUpper(enc))
			if err != nil || up != d {
				t.Errorf("%s: upper-case hex not accepted: %v", s, err)
			}
		}
	}
	if n.Hash(SchemaSHA256) == n.Hash(SchemaE164SHA256) {
		t.Fatal("digits and E.164 conventions hash alike")
	}
	if n.Hash(SchemaE164SHA256).Sum != n.Hash(SchemaE164SHA256B64).Sum {
		t.Fatal("E.164 hex and base64 schemas hash differently")
	}
}

func TestParseHashRejects(t *testing.T) {
	good := Number("+905321234567").Hash(SchemaE164SHA256B64).Encode(SchemaE164SHA256B64)
	tests := []struct {
		s     Schema
		entry string
		want  string
	}{
		{SchemaSHA256, "", "want 64 hexadecimal characters, got 0"},
		{SchemaSHA256, strings.Repeat("a", 63), "want 64 hexadecimal characters, got 63"},
		{SchemaSHA256, strings.Repeat("g", 64), "not hexadecimal"},
		{SchemaE164SHA256, "+905321234567", "want 64 hexadecimal characters, got 13"},
		{SchemaE164SHA256B64, good[:43], "want 44 characters of standard base64, got 43"},
		{SchemaE164SHA256B64, strings.Repeat("A", 44), "not standard base64 of 32 bytes"},
		{SchemaE164SHA256B64, strings.NewReplacer("+", "-", "/", "_").Replace(good[:43]) + "-", "not standard base64 of 32 bytes"},
		{SchemaE164SHA256B64, strings.Repeat("a", 64), "want 44 characters of standard base64, got 64"},
	}
	for _, tt := range tests {
		_, err := ParseHash(tt.s, tt.entry)
		var he *HashError
		if !errors.As(err, &he) || he.Reason != tt.want {
			t.Errorf("ParseHash(%s, %q) = %v, want reason %q", tt.s, tt.entry, err, tt.want)
		}
	}
	if _, err := ParseHash("EMAIL_SHA256", good); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("unknown schema: %v", err)
	}
}

func TestParseSchema(t *testing.T) {
	for _, s := range HashSchemas {
		if got, err := ParseSchema(string(s)); err != nil || got != s {
			t.Errorf("ParseSchema(%s) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSchema("phone_sha256"); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("lower-case schema accepted: %v", err)
	}
}

func TestDigestIsRedacted(t *testing.T) {
	d := Number("+905321234567").Hash(SchemaSHA256)
	hexed := d.Encode(SchemaSHA256)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		got := fmt.Sprintf(verb, d)
		if got != "[redacted]" {
			t.Errorf("Sprintf(%q) = %q", verb, got)
		}
	}
	if s := fmt.Sprint([]Digest{d}); strings.Contains(s, hexed[:8]) || !strings.Contains(s, "[redacted]") {
		t.Errorf("slice of digests prints %q", s)
	}
}

// FuzzParseHash: any entry either parses to a digest that encodes back to
// the entry (lower-cased for hex) or is rejected with a HashError.
func FuzzParseHash(f *testing.F) {
	n := Number("+12345678901")
	for _, s := range HashSchemas {
		f.Add(string(s), n.Hash(s).Encode(s))
	}
	f.Add(string(SchemaE164SHA256B64), strings.Repeat("A", 44))
	f.Add(string(SchemaSHA256), strings.Repeat("Z", 64))
	f.Fuzz(func(t *testing.T, schema, entry string) {
		s, err := ParseSchema(schema)
		if err != nil {
			return
		}
		d, err := ParseHash(s, entry)
		if err != nil {
			var he *HashError
			if !errors.As(err, &he) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		want := entry
		if s != SchemaE164SHA256B64 {
			want = strings.ToLower(entry)
		}
		if got := d.Encode(s); got != want {
			t.Fatalf("Encode(ParseHash(%q)) = %q", entry, got)
		}
	})
}
