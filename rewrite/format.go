package rewrite

import "fmt"

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
// plan of its country.
type Level uint8

const (
	// LevelPossible accepts a number whose length fits its country's plan, so
	// that test numbers such as 555 ones pass. It is the default.
	LevelPossible Level = iota
	// LevelValid accepts only numbers that the phonenumbers metadata says are
	// assigned. It also checks numbers that were already in E.164 form.
	LevelValid
)

// String returns possible or valid.
func (l Level) String() string {
	switch l {
	case LevelPossible:
		return "possible"
	case LevelValid:
		return "valid"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// ParseLevel returns the Level named s (possible or valid).
func ParseLevel(s string) (Level, error) {
	switch s {
	case "possible":
		return LevelPossible, nil
	case "valid":
		return LevelValid, nil
	}
	return 0, fmt.Errorf("unknown validation level %q: use possible or valid", s)
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
