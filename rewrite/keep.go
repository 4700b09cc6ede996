package rewrite

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Values that Genesys dials as they are — emergency numbers, short codes,
// extensions, user@host network addresses, and whatever an operator's own
// number plans take — are kept on purpose: forwarded byte for byte in every
// mode and never a problem, because callfix must never be the reason a call
// that should connect does not. They are checked before any repair, in the
// order Genesys matches its default number plans (Emergency and Extension
// before National): emergency, extension, short code, network address,
// operator pattern. A 4–6 digit value is an extension even where it would
// also be a national number or a short code (30005 in Germany or the US),
// and an emergency number stays one even where it is also a short code.

// policy is what normalising a value needs beyond the value itself: the
// validation level and the kept-on-purpose rules. It is immutable.
type policy struct {
	level Level
	ext   DigitRange
	keep  []*regexp.Regexp
}

// CompileKeepPatterns compiles RE2 patterns, each matched against a whole
// value. The error names every pattern that does not compile, by its index
// and the byte offset of the offending part.
func CompileKeepPatterns(patterns []string) ([]*regexp.Regexp, error) {
	var errs []error
	out := make([]*regexp.Regexp, 0, len(patterns))
	for i, p := range patterns {
		re, err := regexp.Compile(`^(?:` + p + `)$`)
		if err != nil {
			errs = append(errs, &PatternError{Index: i, Pattern: p, Err: err})
			continue
		}
		if p == "" {
			errs = append(errs, &PatternError{Index: i, Pattern: p, Err: errors.New("empty pattern")})
			continue
		}
		out = append(out, re)
	}
	return out, errors.Join(errs...)
}

// PatternError is a keep pattern that does not compile.
type PatternError struct {
	// Index is the pattern's position in the list.
	Index int
	// Pattern is the pattern as written.
	Pattern string
	Err     error
}

// Offset is the byte offset in Pattern of the part that fails, or -1.
func (e *PatternError) Offset() int {
	var se *syntax.Error
	if errors.As(e.Err, &se) && se.Expr != "" {
		return strings.Index(e.Pattern, se.Expr)
	}
	return -1
}

func (e *PatternError) Error() string {
	var se *syntax.Error
	msg := e.Err.Error()
	if errors.As(e.Err, &se) {
		msg = se.Code.String()
		if se.Expr != "" {
			msg += " " + strconv.Quote(se.Expr)
		}
	}
	if off := e.Offset(); off >= 0 {
		return fmt.Sprintf("pattern %d (%q) is not a valid RE2 expression: %s at byte %d", e.Index, e.Pattern, msg, off)
	}
	return fmt.Sprintf("pattern %d (%q) is not a valid RE2 expression: %s", e.Index, e.Pattern, msg)
}

func (e *PatternError) Unwrap() error { return e.Err }

// keepReason decides whether a value is kept on purpose, before any repair.
// s is the value as sent, t the same trimmed, sch its scheme. Canonical
// forms (sip:, user:, tel:+E.164, +E.164) never reach it.
func (p *policy) keepReason(f Format, s, t string, sch schemeKind, country string) KeepReason {
	if f != FormatUser && (sch == schemeNone || sch == schemeTel) {
		num := t
		if sch == schemeTel {
			num = t[len("tel:"):]
		}
		if k := p.dialled(num, country); k != keepNone {
			return k
		}
		if f == FormatAddress && sch == schemeNone && isNetworkAddress(t) {
			return KeepNetworkAddress
		}
	}
	for _, re := range p.keep {
		if re.MatchString(s) {
			return KeepOperatorPattern
		}
	}
	return keepNone
}

// dialled checks num, a value without a scheme, against the country's
// emergency numbers, the Extension plan and the country's short numbers, in
// that order.
func (p *policy) dialled(num, country string) KeepReason {
	if num == "" || num[0] == '+' {
		return keepNone // written with a country code: never a short number
	}
	if p.ext.Contains(len(num)) && isDigits(num, 1, maxExtensionPlanDigits) {
		// Genesys's Extension plan takes these before any other plan but
		// Emergency; phonenumbers' short codes cover most 5 and 6 digit
		// strings in the US, so the extension is the truer reason.
		if !phonenumbers.IsEmergencyNumber(num, country) {
			return KeepExtension
		}
	}
	if max := shortMaxLen(country); max > 0 {
		var buf [16]byte
		if d, plus, ext, why := splitPhone(num, buf[:0]); why == reasonNone && !plus && ext == "" && len(d) <= max {
			// A copy: handing buf to phonenumbers would move it to the heap
			// for every value, not only for these few short ones.
			short := string(d)
			if phonenumbers.IsEmergencyNumber(short, country) {
				return KeepEmergency
			}
			if isShortCode(short, country) {
				return KeepShortCode
			}
		}
	}
	return keepNone
}

// anyEmergency matches the exact emergency numbers of every region that
// phonenumbers knows, in one expression, and says how long the longest is.
// The default country is a guess (many organisations live in a region
// outside their own country), so a value that cannot be a number of that
// country, but is an emergency number somewhere (911 read in IE), is
// forwarded as sent rather than blocked: Genesys, which knows the site's
// own country, decides.
var anyEmergency = sync.OnceValues(func() (*regexp.Regexp, int) {
	coll, err := phonenumbers.ShortNumberMetadataCollection()
	if err != nil {
		return nil, 0
	}
	seen := map[string]bool{}
	var alts []string
	longest := 0
	for _, md := range coll.GetMetadata() {
		e := md.GetEmergency()
		for _, l := range e.GetPossibleLength() {
			longest = max(longest, int(l))
		}
		if p := e.GetNationalNumberPattern(); p != "" && !seen[p] {
			seen[p] = true
			alts = append(alts, "(?:"+p+")")
		}
	}
	re, err := regexp.Compile(`^(?:` + strings.Join(alts, "|") + `)$`)
	if err != nil {
		return nil, 0
	}
	return re, longest
})

// emergencyElsewhere reports whether digits, a national reading that is a
// problem, are an emergency number of some region.
func emergencyElsewhere(digits []byte) bool {
	re, longest := anyEmergency()
	return re != nil && len(digits) <= longest && re.Match(digits)
}

// connectsToEmergency reports whether digits, a national reading that is a
// problem, start with an emergency number of country that phonenumbers says
// connects even with more digits dialled after it (911 and then anything in
// the US). Only numbers that are not otherwise repairable get here, so a
// valid national number that merely starts like one is still repaired.
func connectsToEmergency(digits []byte, country string) bool {
	return shortMaxLen(country) > 0 && phonenumbers.ConnectsToEmergencyNumber(b2s(digits), country)
}

// isNetworkAddress is Genesys's Network number plan, ^([^@:]+@)([^@ ]+)?$:
// a user part without @ or :, an @, and an optional host without @ or space.
func isNetworkAddress(t string) bool {
	at := strings.IndexByte(t, '@')
	if at <= 0 || strings.IndexByte(t[:at], ':') >= 0 {
		return false
	}
	return strings.IndexByte(t[at+1:], '@') < 0 && strings.IndexByte(t[at+1:], ' ') < 0
}

// shortLens maps a region to its longest short number (emergency numbers
// included) in phonenumbers' short-number metadata. It is built once; a
// plain map lookup does not allocate on the request path.
var shortLens = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	coll, err := phonenumbers.ShortNumberMetadataCollection()
	if err != nil {
		return m
	}
	for _, md := range coll.GetMetadata() {
		max := 0
		for _, d := range []*phonenumbers.PhoneNumberDesc{md.GetGeneralDesc(), md.GetEmergency()} {
			for _, l := range d.GetPossibleLength() {
				if int(l) > max {
					max = int(l)
				}
			}
		}
		m[md.GetId()] = max
	}
	return m
})

// shortMaxLen returns the longest short number of country, or 0 when
// phonenumbers has no short numbers for it.
func shortMaxLen(country string) int { return shortLens()[country] }

// isShortCode asks phonenumbers whether d, digits dialled in country, is a
// valid short number there. The number is built as phonenumbers' parser would
// leave it, leading zeros included, without the national-prefix stripping
// that would turn 116123 into 16123 under +1.
func isShortCode(d, country string) bool {
	num := nationalNumber(int32(phonenumbers.GetCountryCodeForRegion(country)), d)
	return num != nil && phonenumbers.IsValidShortNumberForRegion(num, country)
}
