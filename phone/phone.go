// Package phone turns the phone numbers people type into E.164, the one
// form linkd derives pseudonyms from, and computes and parses the hashed
// forms advertisers upload.
//
// Normalization follows libphonenumber (github.com/nyaruka/phonenumbers):
// a number written with a leading "+" or the international prefix "00" is
// read as international; any other number is read in the national format of
// a default region, an ISO 3166 country code such as "TR" or "GB". A number
// is accepted only if libphonenumber's metadata says it is a valid number:
// plausible-looking but unallocated ranges are rejected, never guessed.
//
// Every rejection is an *Error whose Reason a person can act on. Reasons
// never repeat the input: a phone number must not reach a log line.
package phone

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Number is a normalized phone number in E.164 form: "+" followed by
// 8 to 15 digits, the first of which is not 0.
type Number string

// Digits returns the number without its leading "+": the canonical string
// of the PHONE_SHA256 upload schema.
func (n Number) Digits() string { return strings.TrimPrefix(string(n), "+") }

// E164 returns the number with its leading "+": the canonical string of the
// PHONE_E164_SHA256 schemas and the input of the OPRF and of hash-to-group.
func (n Number) E164() string { return string(n) }

// String returns the E.164 form.
func (n Number) String() string { return string(n) }

// Limits on what is read as a number. E.164 allows at most 15 digits; linkd
// also refuses the handful of national plans whose full numbers are shorter
// than 8 digits, so every number it keeps a pseudonym for has the same shape.
const (
	MinDigits = 8
	MaxDigits = 15
	// MaxInputLen bounds the text read for one number, separators included.
	MaxInputLen = 100
)

// Reason says why a number was rejected.
type Reason string

// The reasons for rejecting a number.
const (
	ReasonEmpty         Reason = "empty"
	ReasonNotANumber    Reason = "not a phone number"
	ReasonInputTooLong  Reason = "too long to be a phone number"
	ReasonNoCountry     Reason = "no country: write the number with + and its country code, or give a default country"
	ReasonUnknownCode   Reason = "unknown country code"
	ReasonTooShort      Reason = "too short"
	ReasonTooLong       Reason = "too long"
	ReasonBadLength     Reason = "wrong number of digits for its country"
	ReasonLocalOnly     Reason = "local number only: add the area code"
	ReasonInvalid       Reason = "not a valid number: no such range is allocated in its country"
	ReasonShortE164     Reason = "too short: fewer than 8 digits in E.164 form"
	ReasonBadRegionArg  Reason = "unknown default country"
	ReasonInternalError Reason = "could not be read"
)

// Error is a rejected number. Its message names the reason and, when known,
// the country the number was read for; it never contains the input.
type Error struct {
	Reason Reason
	// Region is the ISO country code the number was read for, if known.
	Region string
}

func (e *Error) Error() string {
	if e.Region != "" && e.Reason != ReasonBadRegionArg {
		return "phone: " + string(e.Reason) + " (" + e.Region + ")"
	}
	return "phone: " + string(e.Reason)
}

// ReasonText returns the reason with its region, without the package prefix:
// the text the CLI prints after "invalid: ".
func (e *Error) ReasonText() string {
	return strings.TrimPrefix(e.Error(), "phone: ")
}

// ErrUnknownRegion is returned by CheckRegion for a country code that
// libphonenumber does not know.
var ErrUnknownRegion = errors.New("phone: unknown country code")

// CheckRegion reports whether region is an ISO 3166 country code with a
// numbering plan, returning it upper-cased. The empty string is allowed and
// means "no default region".
func CheckRegion(region string) (string, error) {
	if region == "" {
		return "", nil
	}
	r := strings.ToUpper(strings.TrimSpace(region))
	if !phonenumbers.GetSupportedRegions()[r] {
		return "", ErrUnknownRegion
	}
	return r, nil
}

// Regions lists the ISO 3166 country codes with a numbering plan, which
// CheckRegion accepts, in order.
func Regions() []string {
	return slices.Sorted(maps.Keys(phonenumbers.GetSupportedRegions()))
}

// Normalize reads one number as a person typed it and returns its E.164
// form. region is the default country for national formats ("" for none);
// it must have passed CheckRegion, or Normalize rejects every number with
// ReasonBadRegionArg.
func Normalize(raw, region string) (Number, error) {
	return normalize(raw, region, true)
}

// normalize is Normalize; with compact, a number written with nothing but
// digits, spaces and hyphens (and a leading "+") loses its spaces and
// hyphens before libphonenumber reads it. libphonenumber drops them
// itself, with the same result (FuzzNormalize checks that against the
// number as typed), but only after running its extension and
// punctuation patterns over every character: on directory imports, whose
// numbers are mostly written that way, compacting them first saves a
// tenth of the parse.
func normalize(raw, region string, compact bool) (n Number, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", &Error{Reason: ReasonEmpty}
	}
	if len(s) > MaxInputLen {
		return "", &Error{Reason: ReasonInputTooLong}
	}
	if !utf8.ValidString(s) || !strings.ContainsFunc(s, unicode.IsDigit) {
		return "", &Error{Reason: ReasonNotANumber}
	}
	if region != "" {
		if r, err := CheckRegion(region); err != nil {
			return "", &Error{Reason: ReasonBadRegionArg}
		} else {
			region = r
		}
	}
	// "00" is the international prefix of most of the world, and no national
	// number starts with it: read it as "+" whatever the default region.
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if region == "" && !strings.HasPrefix(s, "+") {
		return "", &Error{Reason: ReasonNoCountry}
	}
	if compact && plain(s) {
		s = separators.Replace(s)
	}
	defer func() {
		// libphonenumber is a large parser; a panic on some odd input must
		// become a rejection, never take the process down.
		if recover() != nil {
			n, err = "", &Error{Reason: ReasonInternalError}
		}
	}()
	num, perr := phonenumbers.Parse(s, region)
	if perr != nil {
		return "", parseError(perr, region)
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", &Error{Reason: ReasonUnknownCode}
	case phonenumbers.TOO_SHORT:
		return "", &Error{Reason: ReasonTooShort, Region: regionFor(num, region)}
	case phonenumbers.TOO_LONG:
		return "", &Error{Reason: ReasonTooLong, Region: regionFor(num, region)}
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", &Error{Reason: ReasonLocalOnly, Region: regionFor(num, region)}
	default:
		return "", &Error{Reason: ReasonBadLength, Region: regionFor(num, region)}
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", &Error{Reason: ReasonInvalid, Region: regionFor(num, region)}
	}
	e := phonenumbers.Format(num, phonenumbers.E164)
	if err := checkShape(e); err != nil {
		return "", err
	}
	return Number(e), nil
}

// separators drops the spaces and hyphens of a plain number; built once,
// not on every call (building it cost more than the replacing).
var separators = strings.NewReplacer(" ", "", "-", "")

// plain reports whether s is an optional "+" and then only ASCII digits,
// spaces and hyphens, with at least three digits (libphonenumber reads two
// digits alone, but not with a space between them, as a number).
func plain(s string) bool {
	digits := 0
	for i := range len(s) {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ', c == '-':
		case c == '+' && i == 0:
		default:
			return false
		}
	}
	return digits >= 3
}

// regionFor names the country a rejected number was read for: the one its
// country code belongs to, or the default region.
func regionFor(num *phonenumbers.PhoneNumber, def string) string {
	if r := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode())); r != "" && r != "ZZ" && r != "001" {
		return r
	}
	return def
}

func parseError(err error, region string) *Error {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return &Error{Reason: ReasonUnknownCode}
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return &Error{Reason: ReasonTooShort, Region: region}
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return &Error{Reason: ReasonTooLong, Region: region}
	default:
		return &Error{Reason: ReasonNotANumber}
	}
}

// checkShape holds every accepted number to the shape Number promises.
func checkShape(e string) error {
	if len(e) < 2 || e[0] != '+' || e[1] == '0' {
		return &Error{Reason: ReasonInvalid}
	}
	d := e[1:]
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return &Error{Reason: ReasonInvalid}
		}
	}
	switch {
	case len(d) < MinDigits:
		return &Error{Reason: ReasonShortE164}
	case len(d) > MaxDigits:
		return &Error{Reason: ReasonTooLong}
	}
	return nil
}
