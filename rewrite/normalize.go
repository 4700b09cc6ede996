package rewrite

import (
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Normalized is what normalising one value gave.
type Normalized struct {
	// Value is the canonical form. It equals the input when nothing changed,
	// and is empty when Reason is set.
	Value string
	// Changed reports that Value differs from the input.
	Changed bool
	// Kind is what the value is (phone or user), when known.
	Kind Kind
	// Country is the ISO 3166 region the number was read in: the default
	// country for a national number, the number's own for an international one.
	Country string
	// Reason is set when the value cannot be repaired.
	Reason Reason
	// Keep is set when the value is kept on purpose: forwarded as sent,
	// never a problem. Value is then the value as sent.
	Keep KeepReason
}

// Normalize returns the canonical form of value for a field of format f,
// reading national numbers as numbers of country (ISO 3166 alpha-2, such as
// "US") and checking them at level, with Genesys's default Extension plan
// (DefaultExtensionDigits) and no operator patterns. It is the function the
// engine applies to every value it finds; it is exported for tools and tests.
func Normalize(f Format, value, country string, level Level) Normalized {
	return normalizeWith(&policy{level: level, ext: DefaultExtensionDigits}, f, value, country)
}

// Normalize is the package's Normalize with the engine's own options.
func (e *Engine) Normalize(f Format, value, country string) Normalized {
	return normalizeWith(&e.pol, f, value, country)
}

func normalizeWith(pol *policy, f Format, value, country string) Normalized {
	out, o := normalize(nil, pol, f, value, country)
	if o.Reason == reasonNone && o.Keep == keepNone {
		o.Value = string(out)
	} else if o.Keep != keepNone {
		o.Value = value
	}
	return o
}

// normalize appends the canonical form of s to dst. When the returned
// Normalized has a Reason, dst is returned unchanged; when it has a Keep
// reason, s itself is appended. Normalized.Value is not set: the caller owns
// the bytes. Changed is decided here, once, by comparing the output with the
// input as sent.
func normalize(dst []byte, pol *policy, f Format, s, country string) ([]byte, Normalized) {
	start := len(dst)
	dst, n := normalizeValue(dst, pol, f, s, country)
	switch {
	case n.Keep != keepNone:
		// Forwarded as sent: nothing of it is written.
		dst = dst[:start]
	case n.Reason == reasonNone:
		n.Changed = string(dst[start:]) != s
	}
	return dst, n
}

func normalizeValue(dst []byte, pol *policy, f Format, s, country string) ([]byte, Normalized) {
	t := trimSpace(s)
	if t == "" {
		return dst, Normalized{Reason: ReasonEmpty}
	}

	sch := scheme(t)
	switch sch {
	case schemeSIP:
		if f == FormatAddress {
			// Kept exactly as sent, surrounding spaces included: callfix
			// repairs phone numbers and user IDs, not SIP URIs.
			return keep(dst, s, 0, "")
		}
	case schemeUser:
		if f == FormatAddress || f == FormatUser {
			return keep(dst, t, KindUser, "")
		}
	}
	if sch == schemeNone && IsUUID(t) {
		switch f {
		case FormatAddress, FormatUser:
			dst = append(dst, "user:"...)
			dst = append(dst, t...)
			return dst, Normalized{Changed: true, Kind: KindUser}
		default:
			return dst, Normalized{Reason: ReasonNotPhone}
		}
	}
	// A plain +E.164 number is canonical for e164 fields.
	if f == FormatE164 && t[0] == '+' && pol.level != LevelStrict && canonicalE164(t[1:]) {
		return keep(dst, t, KindPhone, regionOf(t[1:]))
	}
	if k := pol.keepReason(f, s, t, sch, country); k != keepNone {
		return dst, Normalized{Keep: k, Country: keptCountry(k, country)}
	}

	switch sch {
	case schemeSIP:
		return dst, Normalized{Reason: notFor(f)}
	case schemeUser:
		return dst, Normalized{Reason: ReasonNotPhone}
	case schemeTel:
		if f == FormatUser {
			return dst, Normalized{Reason: ReasonNotUser}
		}
		return normalizeTel(dst, pol, f, t, country)
	case schemeOther:
		if f == FormatUser {
			return dst, Normalized{Reason: ReasonNotUser}
		}
		if f == FormatAddress {
			return dst, Normalized{Reason: ReasonNotAddress}
		}
		return dst, Normalized{Reason: ReasonNotPhone}
	}
	if f == FormatUser {
		return dst, Normalized{Reason: ReasonNotUser}
	}
	return normalizePhone(dst, pol, f, t, country, false)
}

// keptCountry is the country a kept value was read in: the default country
// for the reasons that depend on it.
func keptCountry(k KeepReason, country string) string {
	switch k {
	case KeepEmergency, KeepShortCode:
		return country
	}
	return ""
}

func notFor(f Format) Reason {
	if f == FormatUser {
		return ReasonNotUser
	}
	return ReasonNotPhone
}

// keep appends t as the canonical form; normalize decides whether that is
// a change.
func keep(dst []byte, t string, kind Kind, country string) ([]byte, Normalized) {
	return append(dst, t...), Normalized{Kind: kind, Country: country}
}

// normalizeTel handles a value that starts with tel: in any case.
func normalizeTel(dst []byte, pol *policy, f Format, t string, country string) ([]byte, Normalized) {
	rest := t[len("tel:"):]
	// Fast path: tel:+E.164 with an optional ;ext=N is canonical as it is
	// (a scheme in upper case is written in lower case).
	if len(rest) > 1 && rest[0] == '+' && pol.level != LevelStrict {
		num, ext, hasExt := strings.Cut(rest[1:], ";ext=")
		if canonicalE164(num) && (!hasExt || isDigits(ext, 1, maxExtDigits)) {
			switch {
			case f == FormatE164 && hasExt:
				return dst, Normalized{Reason: ReasonExtensionNotAllowed}
			case f != FormatE164:
				dst = append(dst, "tel:"...)
			}
			return append(dst, rest...), Normalized{Kind: KindPhone, Country: regionOf(num)}
		}
	}
	// RFC 3966: tel:number;param=value;... The only parameters kept are ext
	// and a phone-context that is itself a global number prefix.
	num, params, _ := strings.Cut(rest, ";")
	var ext, context string
	hasExt := false
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, ok := strings.Cut(p, "=")
		switch {
		case ok && strings.EqualFold(name, "ext") && !hasExt:
			ext, hasExt = val, true
		case ok && strings.EqualFold(name, "phone-context") && context == "" && len(val) > 1 && val[0] == '+':
			context = val
		default:
			return dst, Normalized{Reason: ReasonTelURI}
		}
	}
	if num == "" {
		return dst, Normalized{Reason: ReasonTelURI}
	}
	if context != "" && num[0] != '+' {
		num = context + num
	}
	if hasExt {
		num = num + ";ext=" + ext
	}
	return normalizePhone(dst, pol, f, num, country, true)
}

const (
	maxDigits    = 20 // country code (3) + the longest national number phonenumbers knows (17)
	maxExtDigits = 10
)

// normalizePhone parses a phone number written in a common notation.
func normalizePhone(dst []byte, pol *policy, f Format, s, country string, fromTel bool) ([]byte, Normalized) {
	level := pol.level
	// The digits are collected at the end of dst (the caller's scratch),
	// then dst is cut back before the output is appended.
	mark := len(dst)
	digits, plus, ext, reason := splitPhone(s, dst)
	if digits != nil {
		dst = digits[:mark]
		digits = digits[mark:]
	}
	if reason != reasonNone {
		if fromTel && reason == ReasonCharacters {
			reason = ReasonTelURI
		}
		return dst, Normalized{Reason: reason}
	}
	if ext != "" && f == FormatE164 {
		return dst, Normalized{Reason: ReasonExtensionNotAllowed}
	}

	e164, region, reason := parse(digits, plus, country, level)
	if !plus {
		// An international number written with an international dialling
		// prefix, 00 (most of the world) or 011 (North America), whatever the
		// default country dials with. The national reading wins when it is
		// valid (011 starts national numbers in the UK); the international one
		// wins when the national reading fails, or is merely possible while
		// the international one is valid (0044... read in Japan).
		var rest []byte
		switch {
		case len(digits) > 3 && string(digits[:3]) == "011":
			rest = digits[3:]
		case len(digits) > 2 && string(digits[:2]) == "00":
			rest = digits[2:]
		}
		if rest != nil {
			if reason != reasonNone {
				if e, r, why := parse(rest, true, country, level); why == reasonNone {
					e164, region, reason = e, r, why
				}
			} else if level == LevelPossible {
				if _, _, why := parse(digits, false, country, LevelStrict); why != reasonNone {
					if e, r, why := parse(rest, true, country, LevelStrict); why == reasonNone {
						e164, region, reason = e, r, why
					}
				}
			}
		}
	}
	if reason != reasonNone {
		if !plus && ext == "" && (connectsToEmergency(digits, country) || emergencyElsewhere(digits)) {
			// Dialled as it is, an emergency number followed by more digits
			// still connects there, and an emergency number of another
			// country may be the site's own: Genesys would place it.
			return dst, Normalized{Keep: KeepEmergency, Country: country}
		}
		return dst, Normalized{Reason: reason}
	}
	if len(e164) > 1 && nationalZero(e164[1:]) && !roundTrips(e164[1:]) {
		// phonenumbers wrote a number it would read differently (a run of
		// zeros read as +44 0...): no repair that a second pass would undo.
		return dst, Normalized{Reason: ReasonNotValid}
	}
	// digits alias dst beyond mark and are no longer needed.
	if f != FormatE164 {
		dst = append(dst, "tel:"...)
	}
	dst = append(dst, e164...)
	if ext != "" {
		dst = append(dst, ";ext="...)
		dst = append(dst, ext...)
	}
	return dst, Normalized{Kind: KindPhone, Country: region}
}

// parse is parseNumber; benchmarks replace it to measure the engine's own
// cost apart from phonenumbers'.
var parse = parseNumber

var numberPool = sync.Pool{New: func() any { return new(phonenumbers.PhoneNumber) }}

// parseNumber asks phonenumbers to read digits (international when plus)
// and check them at level. It returns the E.164 form and the region it was
// read in.
func parseNumber(digits []byte, plus bool, country string, level Level) (string, string, Reason) {
	if len(digits) > maxDigits {
		return "", "", ReasonTooLong
	}
	if !plus && !knownRegion(country) {
		return "", "", ReasonNoCountry
	}
	switch {
	case plus && !level.international():
		if d := b2s(digits); canonicalE164(d) {
			return "+" + d, regionOf(d), reasonNone
		}
	case !plus && level != LevelStrict:
		if e164, reason, ok := fastNational(digits, country); ok {
			if reason == reasonNone && level.national() && !validNational(e164, country) {
				return "", "", ReasonNotValidInCountry
			}
			return e164, country, reason
		}
	}
	return parseNumberSlow(digits, plus, country, level)
}

// parseNumberSlow asks phonenumbers itself.
func parseNumberSlow(digits []byte, plus bool, country string, level Level) (string, string, Reason) {
	if len(digits) > maxDigits {
		return "", "", ReasonTooLong
	}
	var in [maxDigits + 1]byte
	n := 0
	if plus {
		in[0] = '+'
		n = 1
	}
	n += copy(in[n:], digits)
	if !plus && !knownRegion(country) {
		return "", "", ReasonNoCountry
	}
	num := numberPool.Get().(*phonenumbers.PhoneNumber)
	defer numberPool.Put(num)
	num.Reset()
	if err := phonenumbers.ParseToNumber(string(in[:n]), country, num); err != nil {
		switch err {
		case phonenumbers.ErrInvalidCountryCode:
			if plus {
				return "", "", ReasonCountryCode
			}
			return "", "", ReasonNoCountry
		case phonenumbers.ErrNumTooLong:
			return "", "", ReasonTooLong
		case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD, phonenumbers.ErrNotANumber:
			// Only digits reach phonenumbers (splitPhone saw to it): "not a
			// number" means too few of them to be one.
			return "", "", ReasonTooShort
		default:
			return "", "", ReasonCharacters
		}
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.TOO_SHORT:
		return "", "", ReasonTooShort
	case phonenumbers.TOO_LONG:
		return "", "", ReasonTooLong
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", "", ReasonLocalOnly
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", "", ReasonCountryCode
	default:
		return "", "", ReasonInvalidLength
	}
	region := country
	international := plus
	if cc := int(num.GetCountryCode()); plus || cc != phonenumbers.GetCountryCodeForRegion(country) {
		// Read as international, by a + or by the country's own
		// international prefix, which phonenumbers strips itself.
		region = phonenumbers.GetRegionCodeForCountryCode(cc)
		international = true
	}
	switch {
	case international && level.international() && !phonenumbers.IsValidNumber(num):
		return "", "", ReasonNotValid
	case !international && level.national() && !phonenumbers.IsValidNumber(num):
		// Possible here, but not assigned: it may be another country's
		// national number. Repairing it would move it into this one.
		return "", "", ReasonNotValidInCountry
	}
	return phonenumbers.Format(num, phonenumbers.E164), region, reasonNone
}

// splitPhone reads a phone number in a common notation: an optional leading
// +, digits, the separators people type (spaces, ( ) [ ] - . / and their Unicode
// look-alikes), and an optional trailing extension (x123, ext. 123,
// extension 123, #123, ;ext=123). It appends the digits to buf.
//
// buf may already hold bytes: the returned slice is buf with the digits
// appended (nil on a problem).
func splitPhone(s string, buf []byte) (digits []byte, plus bool, ext string, reason Reason) {
	base := len(buf)
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '+' && !plus && len(buf) == base:
			// A leading + may follow a bracket or space: (+44) 20 7946 0958.
			plus = true
			i++
		case c >= '0' && c <= '9':
			if len(buf)-base > maxDigits {
				return nil, false, "", ReasonTooLong
			}
			buf = append(buf, c)
			i++
		case c == ' ' || c == '\t' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/' || c == '[' || c == ']':
			i++
		case c >= 0x80:
			if n := unicodeSeparator(s[i:]); n > 0 {
				i += n
				continue
			}
			return nil, false, "", ReasonCharacters
		default:
			n := extensionMarker(s[i:])
			if n == 0 || len(buf) == base {
				return nil, false, "", ReasonCharacters
			}
			ext = trimSpace(s[i+n:])
			if !isDigits(ext, 1, maxExtDigits) {
				return nil, false, "", ReasonExtension
			}
			i = len(s)
		}
	}
	if len(buf) == base {
		return nil, false, "", ReasonNotAddress
	}
	return buf, plus, ext, reasonNone
}

// extensionMarkers are matched without regard to case, longest first.
var extensionMarkers = [...]string{";ext=", "extension", "extn.", "extn", "ext.", "ext", "x.", "x", "#"}

// extensionMarker returns the length of the extension marker at the start of
// s, with the spaces, colons or dots that may follow it, or 0.
func extensionMarker(s string) int {
	for _, m := range extensionMarkers {
		if len(s) >= len(m) && strings.EqualFold(s[:len(m)], m) {
			n := len(m)
			for n < len(s) && (s[n] == ' ' || s[n] == ':' || s[n] == '.' || s[n] == '=') {
				n++
			}
			return n
		}
	}
	return 0
}

// unicodeSeparator returns the byte length of a non-ASCII separator at the
// start of s (no-break space, hyphens and dashes, minus, full-width
// parentheses and hyphen), or 0.
func unicodeSeparator(s string) int {
	switch {
	case strings.HasPrefix(s, "\u00a0"): // no-break space
		return 2
	case len(s) >= 3 && s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0x90 && s[2] <= 0x95: // U+2010..U+2015
		return 3
	case strings.HasPrefix(s, "\u2212"), strings.HasPrefix(s, "\u202f"), strings.HasPrefix(s, "\u2009"),
		strings.HasPrefix(s, "\uff08"), strings.HasPrefix(s, "\uff09"), strings.HasPrefix(s, "\uff0d"),
		strings.HasPrefix(s, "\u3000"):
		return 3
	}
	return 0
}

type schemeKind uint8

const (
	schemeNone schemeKind = iota
	schemeTel
	schemeSIP
	schemeUser
	schemeOther
)

// scheme classifies a URI scheme at the start of s, without regard to case.
// A value is taken to have a scheme when letters, digits, + - or . are
// followed by a colon and the first is a letter (RFC 3986, section 3.1).
func scheme(s string) schemeKind {
	if s == "" || !isLetter(s[0]) {
		return schemeNone
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			switch name := s[:i]; {
			case strings.EqualFold(name, "tel"):
				return schemeTel
			case strings.EqualFold(name, "sip"), strings.EqualFold(name, "sips"):
				return schemeSIP
			case strings.EqualFold(name, "user"):
				return schemeUser
			}
			return schemeOther
		}
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return schemeNone
		}
	}
	return schemeNone
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// IsUUID reports whether s is a Genesys user ID: 8-4-4-4-12 hexadecimal
// digits, in any case.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f') {
				return false
			}
		}
	}
	return true
}

func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// trimSpace removes ASCII whitespace and no-break spaces at both ends.
func trimSpace(s string) string {
	for {
		switch {
		case s != "" && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r'):
			s = s[1:]
		case strings.HasPrefix(s, "\u00a0"):
			s = s[2:]
		default:
			goto right
		}
	}
right:
	for {
		switch n := len(s); {
		case n > 0 && (s[n-1] == ' ' || s[n-1] == '\t' || s[n-1] == '\n' || s[n-1] == '\r'):
			s = s[:n-1]
		case strings.HasSuffix(s, "\u00a0"):
			s = s[:n-2]
		default:
			return s
		}
	}
}
