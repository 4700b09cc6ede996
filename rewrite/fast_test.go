package rewrite

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// slowParse is parseNumber with the fast path switched off: phonenumbers
// alone.
func slowParse(digits []byte, plus bool, country string) (string, string, Reason) {
	return parseNumberSlow(digits, plus, country, LevelPossible)
}

// The fast path agrees with phonenumbers for every region it accepts, on
// national numbers of every length, with and without the national prefix,
// the calling code, or both, and with the international prefix.
func TestFastNational_AgreesWithPhonenumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	regions := make([]string, 0, 256)
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	eligible, checked, valid := 0, 0, 0
	for _, region := range regions {
		ri := regionFor(region)
		if !ri.eligible {
			continue
		}
		eligible++
		var inputs [][]byte
		digits := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('0' + rng.IntN(10))
			}
			return b
		}
		np := regionMetadata(region).GetNationalPrefix()
		for n := 1; n <= 18; n++ {
			for k := 0; k < 6; k++ {
				d := digits(n)
				inputs = append(inputs, d, append([]byte(np), d...), append([]byte(ri.ccStr), d...),
					append(append([]byte(ri.ccStr), np...), d...))
			}
		}
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE} {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				nsn := phonenumbers.GetNationalSignificantNumber(ex)
				inputs = append(inputs, []byte(nsn), []byte(np+nsn), []byte(ri.ccStr+nsn), []byte(ri.ccStr+np+nsn), []byte("00"+ri.ccStr+nsn), []byte("011"+ri.ccStr+nsn))
			}
		}
		for _, in := range inputs {
			e, reason, ok := fastNational(in, region)
			if !ok {
				continue
			}
			checked++
			we, wr, wreason := slowParse(in, false, region)
			if reason != wreason || (reason == reasonNone && (e != we || wr != region)) {
				t.Errorf("%s %q: fast = %q %v, phonenumbers = %q %q %v", region, in, e, reason, we, wr, wreason)
			}
			// At level valid the fast path asks phonenumbers' IsValidNumber
			// of the number it built: the same answer as the general parser's.
			ve, vr, vreason := parseNumber(in, false, region, LevelValid)
			se, sr, sreason := parseNumberSlow(in, false, region, LevelValid)
			if vreason != sreason || ve != se || (vreason == reasonNone && vr != sr) {
				t.Errorf("%s %q at level valid: fast = %q %q %v, phonenumbers = %q %q %v", region, in, ve, vr, vreason, se, sr, sreason)
			}
			if sreason == reasonNone {
				valid++
			}
		}
	}
	if eligible < 150 || checked < 50000 || valid < 1000 {
		t.Errorf("fast path covers %d regions and %d inputs (%d valid), want at least 150, 50000 and 1000", eligible, checked, valid)
	}
	t.Logf("%d regions eligible, %d inputs compared, %d of them valid", eligible, checked, valid)
}
