package rewrite

import (
	"fmt"
	"strconv"
	"strings"
)

// Format says what a configured field must hold, and how a repaired value is
// written. The zero Format is invalid: every field names one.
type Format uint8

const (
	// FormatAddress takes any Genesys address: a phone number in any common
	// notation becomes tel:+E.164 (with ;ext=N for an extension), a raw user
	// ID (a UUID) becomes user:<id>, and tel:+E.164, sip:, sips: and user:
	// URIs are kept as they are.
	FormatAddress Format = iota + 1
	// FormatTel takes phone numbers only and writes tel:+E.164.
	FormatTel
	// FormatE164 takes phone numbers and tel: URIs and writes +E.164, as
	// Genesys wants for callerId. An extension cannot be expressed and is a
	// problem.
	FormatE164
	// FormatUser takes raw user IDs (UUIDs) and writes user:<id>.
	FormatUser
)

var formatNames = [...]string{FormatAddress: "address", FormatTel: "tel", FormatE164: "e164", FormatUser: "user"}

// String returns the name used in configuration: address, tel, e164 or user.
func (f Format) String() string {
	if int(f) < len(formatNames) && f != 0 {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat returns the Format named s (address, tel, e164 or user).
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if f != 0 && name == s {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("unknown format %q: use address, tel, e164 or user", s)
}

// Level is how strictly a phone number is checked against the numbering
// plan of its country. A national number (read in the default country) and a
// number written with its country code (+44…, 0044…, 011 44…) are held to
// different bars: callfix repairs notation, and does not second-guess a
// country the client chose, but it must not move a national number into a
// country the client did not mean.
//
//	level     national numbers        numbers with a country code
//	possible  possible                possible
//	valid     valid in the country    possible
//	strict    valid                   valid
type Level uint8

const (
	// LevelPossible accepts a number whose length fits its country's plan, so
	// that test numbers such as 555 ones pass. It suits test rigs: a national
	// number read in the wrong country may fit it too.
	LevelPossible Level = iota
	// LevelValid accepts a national number only when it is assigned (valid)
	// in the country it is read in, and a number written with its country
	// code when it is possible. It is the configuration's default.
	LevelValid
	// LevelStrict accepts only numbers that the phonenumbers metadata says
	// are assigned, whether or not they carry a country code.
	LevelStrict
)

// String returns possible, valid or strict.
func (l Level) String() string {
	switch l {
	case LevelPossible:
		return "possible"
	case LevelValid:
		return "valid"
	case LevelStrict:
		return "strict"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// ParseLevel returns the Level named s (possible, valid or strict).
func ParseLevel(s string) (Level, error) {
	switch s {
	case "possible":
		return LevelPossible, nil
	case "valid":
		return LevelValid, nil
	case "strict":
		return LevelStrict, nil
	}
	return 0, fmt.Errorf("unknown validation level %q: use possible, valid or strict", s)
}

// national reports whether a national number must be valid at l.
func (l Level) national() bool { return l >= LevelValid }

// international reports whether a number written with its country code
// must be valid at l.
func (l Level) international() bool { return l == LevelStrict }

// DigitRange is an inclusive range of digit counts, such as 4-6. The zero
// value is empty: it contains no count.
type DigitRange struct{ Min, Max int }

// DefaultExtensionDigits is Genesys Cloud's default Extension number plan:
// 4 to 6 digits, dialled as they are.
var DefaultExtensionDigits = DigitRange{Min: 4, Max: 6}

// maxExtensionPlanDigits bounds an extension plan: longer digit strings are
// national numbers in most countries.
const maxExtensionPlanDigits = 15

// Contains reports whether n is in the range.
func (r DigitRange) Contains(n int) bool { return r.Min > 0 && n >= r.Min && n <= r.Max }

// String returns the range as configured: "4-6", "5", or "0" when empty.
func (r DigitRange) String() string {
	switch {
	case r.Min <= 0:
		return "0"
	case r.Min == r.Max:
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// ParseDigitRange reads a range written as "4-6", a single count "5", or
// "0" for none.
func ParseDigitRange(s string) (DigitRange, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return DigitRange{}, nil
	}
	lo, hi, isRange := strings.Cut(t, "-")
	if !isRange {
		hi = lo
	}
	min, err1 := strconv.Atoi(strings.TrimSpace(lo))
	max, err2 := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil:
		return DigitRange{}, fmt.Errorf("%q is not a digit range: write MIN-MAX such as 4-6, one count such as 5, or 0 for none", s)
	case min < 1 || max > maxExtensionPlanDigits || min > max:
		return DigitRange{}, fmt.Errorf("%q is not a digit range from 1 to %d digits with MIN <= MAX: write one such as 4-6, or 0 for none", s, maxExtensionPlanDigits)
	}
	return DigitRange{Min: min, Max: max}, nil
}

// Kind is what sort of address a change repaired.
type Kind uint8

const (
	// KindPhone is a phone number.
	KindPhone Kind = iota + 1
	// KindUser is a Genesys user ID.
	KindUser
)

// String returns phone or user, the values of the callfix.kind attribute.
func (k Kind) String() string {
	switch k {
	case KindPhone:
		return "phone"
	case KindUser:
		return "user"
	}
	return "unknown"
}
