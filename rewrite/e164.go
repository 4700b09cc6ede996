package rewrite

import (
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// possibleLengths[cc] has bit L set when phonenumbers says a national
// significant number of L digits is possible for country calling code cc.
// It lets the engine accept an already-canonical +E.164 number with a table
// lookup instead of a parse, so that a body with nothing to fix costs no
// allocation. The table is built from phonenumbers itself (see
// buildPossibleLengths), so both paths agree; a test holds them together.
var (
	possibleOnce    sync.Once
	possibleLengths [1000]uint32
	mainRegion      [1000]string // the main region of each calling code
)

func buildPossibleLengths() {
	var num phonenumbers.PhoneNumber
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		if cc <= 0 || cc >= len(possibleLengths) {
			continue
		}
		var mask uint32
		nsn := uint64(1)
		for l := 1; l <= 17; l++ {
			num.Reset()
			code, national := int32(cc), nsn
			num.CountryCode = &code
			num.NationalNumber = &national
			if phonenumbers.IsPossibleNumberWithReason(&num) == phonenumbers.IS_POSSIBLE {
				mask |= 1 << l
			}
			nsn *= 10
		}
		possibleLengths[cc] = mask
		mainRegion[cc] = phonenumbers.GetRegionCodeForCountryCode(cc)
	}
}

// callingCode returns the country calling code that starts d, the digits
// of an E.164 number after its "+", and its length; 0, 0 when none does.
// Calling codes are prefix-free: the first that exists is the one.
func callingCode(d string) (cc, n int) {
	possibleOnce.Do(buildPossibleLengths)
	for i := 0; i < 3 && i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		cc = cc*10 + int(d[i]-'0')
		if possibleLengths[cc] != 0 {
			return cc, i + 1
		}
	}
	return 0, 0
}

// CallingCodeLen returns the length of the country calling code that
// starts d, the digits of an E.164 number after its "+", or 0 when none
// does.
func CallingCodeLen(d string) int {
	_, n := callingCode(d)
	return n
}

// canonicalE164 reports whether d, the digits after a "+", is an E.164
// number that phonenumbers would accept at level possible: only digits, a
// country calling code that exists, and a national number of a possible
// length.
func canonicalE164(d string) bool {
	if len(d) < 3 || len(d) > maxDigits || d[0] == '0' || !isDigits(d, 3, maxDigits) {
		return false
	}
	cc, n := callingCode(d)
	if n == 0 {
		return false
	}
	if l := len(d) - n; l > 17 || possibleLengths[cc]&(1<<l) == 0 {
		return false
	}
	if d[n] == '0' {
		// A national prefix written after the calling code (+49 030...) is
		// dropped by phonenumbers, while Italy's leading zero is kept: only
		// phonenumbers can tell.
		return roundTrips(d)
	}
	return true
}

// nationalZero reports whether the national part of d, the digits of an
// E.164 number after its "+", starts with 0.
func nationalZero(d string) bool {
	_, n := callingCode(d)
	return n > 0 && n < len(d) && d[n] == '0'
}

// roundTrips reports whether phonenumbers reads +d as a possible number
// and writes it back as exactly +d.
func roundTrips(d string) bool {
	var num phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber("+"+d, "ZZ", &num); err != nil {
		return false
	}
	return phonenumbers.IsPossibleNumberWithReason(&num) == phonenumbers.IS_POSSIBLE &&
		phonenumbers.Format(&num, phonenumbers.E164) == "+"+d
}

// regionOf returns the main region of the calling code that starts d, the
// digits of an E.164 number after its "+", or "" when there is none.
func regionOf(d string) string {
	if cc, n := callingCode(d); n > 0 {
		return mainRegion[cc]
	}
	return ""
}

// knownRegion reports whether country is an ISO 3166 alpha-2 region that
// phonenumbers has metadata for, such as "US" or "GB".
func knownRegion(country string) bool {
	return phonenumbers.GetSupportedRegions()[country]
}

// KnownCountry reports whether country is an ISO 3166 alpha-2 code (upper
// case) that phonenumbers has a numbering plan for. Configuration uses it to
// refuse a country that callfix could never use.
func KnownCountry(country string) bool { return knownRegion(country) }

// Warm loads what phonenumbers needs to read numbers of country (its
// compiled patterns are built on first use) and builds the engine's own
// tables, so that the first request is not slower than the rest. Call it
// once at start-up for each configured country.
func Warm(country string) {
	possibleOnce.Do(buildPossibleLengths)
	regionFor(country) // the fast path's patterns for the country
	if ex := phonenumbers.GetExampleNumber(country); ex != nil {
		national := phonenumbers.Format(ex, phonenumbers.NATIONAL)
		Normalize(FormatAddress, national, country, LevelPossible)
		Normalize(FormatAddress, national, country, LevelValid)
		Normalize(FormatAddress, phonenumbers.Format(ex, phonenumbers.INTERNATIONAL)+" x12", country, LevelValid)
	}
	Normalize(FormatAddress, "tel:+1 555 123 4567", country, LevelPossible)
}
