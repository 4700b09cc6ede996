package rewrite

import (
	"bytes"
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The fast path reads the common national numbers without phonenumbers'
// general parser, whose regular expressions (extension, viability,
// punctuation) cost about 12µs a number, while callfix has already reduced
// the input to digits. It follows phonenumbers' own parsing steps for a
// digits-only national number — country calling code written without +,
// national prefix, possible lengths — with the same metadata and patterns,
// for the regions where those steps are plain: no national prefix
// transform rule (in the region or the main region of its calling code). Anything else (an international dialling
// prefix, a transform rule, level valid) goes to phonenumbers. TestFastNational_AgreesWithPhonenumbers holds the two
// paths together across every region.

type regionInfo struct {
	cc       int
	ccStr    string
	npp      *regexp.Regexp // national prefix for parsing, anchored; nil for none
	idd      *regexp.Regexp // international prefix, anchored
	general  *regexp.Regexp // general national number pattern, whole match
	lengths  []int32        // general possible lengths
	local    []int32        // possible lengths, local only
	main     bool           // the main region of its calling code
	mainInfo *regionInfo    // the main region's info (itself when main)
	noRule   bool           // no national prefix transform rule
	eligible bool
}

var (
	regionMu    sync.Mutex
	regionCache sync.Map // region code → *regionInfo (nil: not eligible)
	metadataBy  map[string]*phonenumbers.PhoneMetadata
)

func regionMetadata(region string) *phonenumbers.PhoneMetadata {
	regionMu.Lock()
	defer regionMu.Unlock()
	if metadataBy == nil {
		metadataBy = map[string]*phonenumbers.PhoneMetadata{}
		if coll, err := phonenumbers.MetadataCollection(); err == nil {
			for _, m := range coll.GetMetadata() {
				if m.GetId() != "001" {
					metadataBy[m.GetId()] = m
				}
			}
		}
	}
	return metadataBy[region]
}

func regionFor(region string) *regionInfo {
	if v, ok := regionCache.Load(region); ok {
		return v.(*regionInfo)
	}
	ri := buildRegion(region)
	regionCache.Store(region, ri)
	return ri
}

func buildRegion(region string) *regionInfo {
	m := regionMetadata(region)
	if m == nil {
		return &regionInfo{}
	}
	ri := &regionInfo{cc: int(m.GetCountryCode())}
	ri.ccStr = strconv.Itoa(ri.cc)
	ri.main = phonenumbers.GetRegionCodeForCountryCode(ri.cc) == region
	gd := m.GetGeneralDesc()
	ri.lengths, ri.local = gd.GetPossibleLength(), gd.GetPossibleLengthLocalOnly()
	general, err := regexp.Compile(`^(?:` + gd.GetNationalNumberPattern() + `)$`)
	if err != nil || len(ri.lengths) == 0 || ri.lengths[0] == -1 {
		return ri
	}
	ri.general = general
	if idd := m.GetInternationalPrefix(); idd != "" {
		if ri.idd, err = regexp.Compile(`^(?:` + idd + `)`); err != nil {
			return ri
		}
	}
	if npp := m.GetNationalPrefixForParsing(); npp != "" {
		if ri.npp, err = regexp.Compile(`^(?:` + npp + `)`); err != nil {
			return ri
		}
	}
	ri.noRule = m.GetNationalPrefixTransformRule() == ""
	ri.mainInfo = ri
	if !ri.main {
		// A region sharing its calling code (CA under +1, JE under +44):
		// phonenumbers checks possible lengths, and strips the national
		// prefix of a number written with its calling code, with the main
		// region's metadata.
		ri.mainInfo = regionFor(phonenumbers.GetRegionCodeForCountryCode(ri.cc))
	}
	ri.eligible = ri.noRule && ri.mainInfo.general != nil && ri.mainInfo.noRule
	return ri
}

// lengthResult is phonenumbers' testNumberLength for the general
// description.
func (ri *regionInfo) lengthResult(n int) phonenumbers.ValidationResult {
	for _, l := range ri.local {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch min := int(ri.lengths[0]); {
	case n == min:
		return phonenumbers.IS_POSSIBLE
	case n < min:
		return phonenumbers.TOO_SHORT
	case n > int(ri.lengths[len(ri.lengths)-1]):
		return phonenumbers.TOO_LONG
	}
	for _, l := range ri.lengths[1:] {
		if int(l) == n {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

// stripNationalPrefix is phonenumbers' maybeStripNationalPrefixAndCarrierCode
// without a transform rule: strip the prefix's match, unless the number was
// viable and would no longer be.
func (ri *regionInfo) stripNationalPrefix(n []byte) []byte {
	if len(n) == 0 || ri.npp == nil {
		return n
	}
	loc := ri.npp.FindIndex(n)
	if loc == nil {
		return n
	}
	if ri.general.Match(n) && !ri.general.Match(n[loc[1]:]) {
		return n
	}
	return n[loc[1]:]
}

// fastNational reads d, the digits of a national number of region, at
// level possible. ok is false when phonenumbers must decide.
func fastNational(d []byte, region string) (e164 string, reason Reason, ok bool) {
	if len(d) < 3 || len(d) > maxDigits {
		return "", reasonNone, false
	}
	ri := regionFor(region)
	if !ri.eligible {
		return "", reasonNone, false
	}
	if ri.idd != nil && ri.idd.Match(d) {
		return "", reasonNone, false // dialled internationally: phonenumbers' business
	}
	nn, strip := d, ri
	if bytes.HasPrefix(d, []byte(ri.ccStr)) {
		// The calling code written without +: phonenumbers takes it off when
		// the rest is a better national number (maybeExtractCountryCode),
		// and reads the rest with the calling code's main region.
		pot := ri.stripNationalPrefix(d[len(ri.ccStr):])
		if (!ri.general.Match(d) && ri.general.Match(pot)) || ri.lengthResult(len(d)) == phonenumbers.TOO_LONG {
			nn, strip = pot, ri.mainInfo
		}
	}
	if len(nn) < 2 {
		return "", ReasonTooShort, true
	}
	if pot := strip.stripNationalPrefix(nn); len(pot) != len(nn) {
		switch strip.lengthResult(len(pot)) {
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		default:
			nn = pot
		}
	}
	switch {
	case len(nn) < 2:
		return "", ReasonTooShort, true
	case len(nn) > 17:
		return "", ReasonTooLong, true
	}
	switch ri.mainInfo.lengthResult(len(nn)) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.TOO_SHORT:
		return "", ReasonTooShort, true
	case phonenumbers.TOO_LONG:
		return "", ReasonTooLong, true
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", ReasonLocalOnly, true
	default:
		return "", ReasonInvalidLength, true
	}
	var buf [1 + 3 + 17]byte
	out := append(append(append(buf[:0], '+'), ri.ccStr...), nn...)
	return string(out), reasonNone, true
}

// validNational reports whether e164, which the fast path read as a national
// number of country, is valid (assigned), as phonenumbers' IsValidNumber
// says of the same number parsed, without its general parser.
func validNational(e164, country string) bool {
	ri := regionFor(country)
	num := nationalNumber(int32(ri.cc), e164[1+len(ri.ccStr):])
	// Valid in the country itself is the common answer and costs one type
	// match; IsValidNumber first looks for the number's region among all
	// that share the calling code (two dozen under +1).
	return num != nil && (phonenumbers.IsValidNumberForRegion(num, country) || phonenumbers.IsValidNumber(num))
}

// nationalNumber builds the PhoneNumber that phonenumbers' parser makes of
// nn, a national significant number under calling code cc: leading zeros are
// kept as Italian leading zeros. It is nil when nn is not a number.
func nationalNumber(cc int32, nn string) *phonenumbers.PhoneNumber {
	n, err := strconv.ParseUint(nn, 10, 64)
	if err != nil {
		return nil
	}
	num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &n}
	zeros := 0
	for zeros < len(nn) && nn[zeros] == '0' {
		zeros++
	}
	if zeros > 0 && len(nn) > 1 {
		t := true
		num.ItalianLeadingZero = &t
		if zeros == len(nn) {
			zeros-- // the number itself is one zero
		}
		if zeros > 1 {
			z := int32(zeros)
			num.NumberOfLeadingZeros = &z
		}
	}
	return num
}
