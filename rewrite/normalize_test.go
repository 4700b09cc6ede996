package rewrite

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// checkNormalizeRepair normalises in and checks that it gives want, that Changed says
// whether the value differs from the input, that Kind fits the output, and
// that normalising the output again changes nothing.
func checkNormalizeRepair(t *testing.T, format Format, in, country string, level Level, want string) {
	t.Helper()
	got := Normalize(format, in, country, level)
	if got.Reason != reasonNone || got.Value != want {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q (reason %v), want %q", format, in, country, level, got.Value, got.Reason, want)
		return
	}
	if got.Changed != (got.Value != in) {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q with Changed %v, want Changed %v", format, in, country, level, got.Value, got.Changed, got.Value != in)
	}
	var kind Kind
	switch {
	case strings.HasPrefix(want, "user:"):
		kind = KindUser
	case strings.HasPrefix(want, "tel:"), strings.HasPrefix(want, "+"):
		kind = KindPhone
	}
	if got.Kind != kind {
		t.Errorf("Normalize(%v, %q, %q, %v).Kind = %v, want %v", format, in, country, level, got.Kind, kind)
	}
	again := Normalize(format, got.Value, country, level)
	if again.Reason != reasonNone || again.Value != got.Value || again.Changed {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q (Changed %v, reason %v), want %q unchanged (not idempotent)",
			format, got.Value, country, level, again.Value, again.Changed, again.Reason, got.Value)
	}
}

// checkNormalizeReject normalises in and checks that it is refused for want.
func checkNormalizeReject(t *testing.T, format Format, in, country string, level Level, want Reason) {
	t.Helper()
	got := Normalize(format, in, country, level)
	if got.Reason != want {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q (reason %v), want reason %v", format, in, country, level, got.Value, got.Reason, want)
		return
	}
	if got.Value != "" || got.Changed {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q with Changed %v and reason %v, want an empty unchanged value", format, in, country, level, got.Value, got.Changed, got.Reason)
	}
}

func TestNormalize_RepairsNational(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// US and Canada (NANP)
	f(FormatAddress, "(201) 555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "201-555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "201.555.0123", "US", "tel:+12015550123")
	f(FormatAddress, "201 555 0123", "US", "tel:+12015550123")
	f(FormatAddress, "2015550123", "US", "tel:+12015550123")
	f(FormatAddress, "1 (201) 555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "1-201-555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "(555) 123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "1 800 356 9377", "US", "tel:+18003569377")
	f(FormatAddress, "(506) 234-5678", "CA", "tel:+15062345678")
	f(FormatAddress, "506 234 5678", "CA", "tel:+15062345678")
	// United Kingdom
	f(FormatAddress, "0121 234 5678", "GB", "tel:+441212345678")
	f(FormatAddress, "020 7946 0958", "GB", "tel:+442079460958")
	f(FormatAddress, "(020) 7946 0958", "GB", "tel:+442079460958")
	f(FormatAddress, "07400 123456", "GB", "tel:+447400123456")
	f(FormatAddress, "0113 496 0000", "GB", "tel:+441134960000") // 011 is a national prefix in the UK
	// Ireland
	f(FormatAddress, "(022) 12345", "IE", "tel:+3532212345")
	f(FormatAddress, "01 234 5678", "IE", "tel:+35312345678")
	f(FormatAddress, "085 012 3456", "IE", "tel:+353850123456")
	// Germany
	f(FormatAddress, "030 123456", "DE", "tel:+4930123456")
	f(FormatAddress, "030/123456", "DE", "tel:+4930123456")
	f(FormatAddress, "(030) 123456", "DE", "tel:+4930123456")
	f(FormatAddress, "01512 3456789", "DE", "tel:+4915123456789")
	// France
	f(FormatAddress, "01 23 45 67 89", "FR", "tel:+33123456789")
	f(FormatAddress, "01.23.45.67.89", "FR", "tel:+33123456789")
	f(FormatAddress, "06 12 34 56 78", "FR", "tel:+33612345678")
	// Australia
	f(FormatAddress, "(02) 1234 5678", "AU", "tel:+61212345678")
	f(FormatAddress, "0412 345 678", "AU", "tel:+61412345678")
	// Japan
	f(FormatAddress, "03-1234-5678", "JP", "tel:+81312345678")
	f(FormatAddress, "(03) 1234-5678", "JP", "tel:+81312345678")
	f(FormatAddress, "090-1234-5678", "JP", "tel:+819012345678")
	// Brazil
	f(FormatAddress, "(11) 2345-6789", "BR", "tel:+551123456789")
	f(FormatAddress, "(011) 2345-6789", "BR", "tel:+551123456789")
	f(FormatAddress, "(11) 96123-4567", "BR", "tel:+5511961234567")
	// Mexico
	f(FormatAddress, "222 123 4567", "MX", "tel:+522221234567")
	f(FormatAddress, "(55) 1234 5678", "MX", "tel:+525512345678")
	// India
	f(FormatAddress, "081234 56789", "IN", "tel:+918123456789")
	f(FormatAddress, "98765 43210", "IN", "tel:+919876543210")
	f(FormatAddress, "074104 10123", "IN", "tel:+917410410123")
	// Switzerland
	f(FormatAddress, "021 234 56 78", "CH", "tel:+41212345678")
	f(FormatAddress, "078 123 45 67", "CH", "tel:+41781234567")
	// United Arab Emirates
	f(FormatAddress, "02 234 5678", "AE", "tel:+97122345678")
	f(FormatAddress, "050 123 4567", "AE", "tel:+971501234567")
	// Singapore
	f(FormatAddress, "6123 4567", "SG", "tel:+6561234567")
	f(FormatAddress, "8123 4567", "SG", "tel:+6581234567")
	// South Korea
	f(FormatAddress, "02-212-3456", "KR", "tel:+8222123456")
	f(FormatAddress, "010-2000-0000", "KR", "tel:+821020000000")
	// Spain
	f(FormatAddress, "612 34 56 78", "ES", "tel:+34612345678")
	f(FormatAddress, "810 12 34 56", "ES", "tel:+34810123456")
	// Italy (the leading 0 of a fixed line belongs to the number)
	f(FormatAddress, "02 1234 5678", "IT", "tel:+390212345678")
	f(FormatAddress, "312 345 6789", "IT", "tel:+393123456789")
	// Netherlands
	f(FormatAddress, "010 123 4567", "NL", "tel:+31101234567")
	f(FormatAddress, "06-12345678", "NL", "tel:+31612345678")
	// Russia (national prefix 8)
	f(FormatAddress, "8 (495) 123-45-67", "RU", "tel:+74951234567")
}

func TestNormalize_RepairsInternational(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// + notation, read the same whatever the default country
	f(FormatAddress, "+1 201-555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "+1 (201) 555-0123", "GB", "tel:+12015550123")
	f(FormatAddress, "+1 506 234 5678", "DE", "tel:+15062345678")
	f(FormatAddress, "+44 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "+44 7400 123456", "GB", "tel:+447400123456")
	f(FormatAddress, "+353 85 012 3456", "US", "tel:+353850123456")
	f(FormatAddress, "+49 30 123456", "US", "tel:+4930123456")
	f(FormatAddress, "+49 1512 3456789", "FR", "tel:+4915123456789")
	f(FormatAddress, "+33 1 23 45 67 89", "US", "tel:+33123456789")
	f(FormatAddress, "+61 2 1234 5678", "US", "tel:+61212345678")
	f(FormatAddress, "+81 3-1234-5678", "US", "tel:+81312345678")
	f(FormatAddress, "+55 11 96123-4567", "US", "tel:+5511961234567")
	f(FormatAddress, "+52 222 123 4567", "US", "tel:+522221234567")
	f(FormatAddress, "+91 81234 56789", "US", "tel:+918123456789")
	f(FormatAddress, "+41 21 234 56 78", "US", "tel:+41212345678")
	f(FormatAddress, "+971 50 123 4567", "US", "tel:+971501234567")
	f(FormatAddress, "+65 6123 4567", "US", "tel:+6561234567")
	f(FormatAddress, "+82 2-212-3456", "US", "tel:+8222123456")
	f(FormatAddress, "+34 612 34 56 78", "US", "tel:+34612345678")
	f(FormatAddress, "+39 02 1234 5678", "US", "tel:+390212345678")
	f(FormatAddress, "+31 6 12345678", "US", "tel:+31612345678")
	f(FormatAddress, "+7 495 123-45-67", "US", "tel:+74951234567")
	// + with spaces, and without a usable default country
	f(FormatAddress, "+ 44 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "+1 555 123 4567", "", "tel:+15551234567")
	f(FormatAddress, "+1 555 123 4567", "XX", "tel:+15551234567")
	// the national prefix written after the country code, (0)
	f(FormatAddress, "+44 (0)20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "+44 (0) 20 7946 0958", "GB", "tel:+442079460958")
	f(FormatAddress, "+49 (0)30 123456", "US", "tel:+4930123456")
	f(FormatAddress, "+33 (0)1 23 45 67 89", "US", "tel:+33123456789")
	f(FormatAddress, "+4402079460958", "US", "tel:+442079460958")
	f(FormatAddress, "+490301234567", "US", "tel:+49301234567")
	f(FormatAddress, "tel:+4402079460958", "US", "tel:+442079460958")
	f(FormatE164, "+4402079460958", "US", "+442079460958")
	// A national prefix after the calling code is dropped even when the
	// length with the 0 is also possible (the canonicalE164 fast path once
	// kept it).
	f(FormatAddress, "tel:+490301234567", "US", "tel:+49301234567")
	f(FormatAddress, "tel:+310612345678", "US", "tel:+31612345678")
	f(FormatAddress, "tel:+8109012345678", "US", "tel:+819012345678")
	f(FormatAddress, "tel:+9710501234567", "US", "tel:+971501234567")
	f(FormatE164, "+490301234567", "US", "+49301234567")
	f(FormatE164, "+610412345678", "US", "+61412345678")
	f(FormatE164, "+3530850123456", "US", "+353850123456")
	// the country's own international prefix
	f(FormatAddress, "011 44 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "011 33 1 23 45 67 89", "CA", "tel:+33123456789")
	f(FormatAddress, "00 49 30 123456", "FR", "tel:+4930123456")
	f(FormatAddress, "0049 30 123456", "DE", "tel:+4930123456")
	f(FormatAddress, "00 1 201 555 0123", "GB", "tel:+12015550123")
	f(FormatAddress, "0011 44 20 7946 0958", "AU", "tel:+442079460958")
	f(FormatAddress, "010 44 20 7946 0958", "JP", "tel:+442079460958")
	f(FormatAddress, "001 44 20 7946 0958", "KR", "tel:+442079460958")
	// 00 from North America, 011 from the rest of the world
	f(FormatAddress, "0044 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "0044 20 7946 0958", "CA", "tel:+442079460958")
	f(FormatAddress, "0049 30 123456", "US", "tel:+4930123456")
	f(FormatAddress, "0033 1 23 45 67 89", "US", "tel:+33123456789")
	f(FormatAddress, "0044 20 7946 0958", "SG", "tel:+442079460958")
	f(FormatAddress, "0044 20 7946 0958", "BR", "tel:+442079460958")
	f(FormatAddress, "011 44 20 7946 0958", "GB", "tel:+442079460958")
	f(FormatAddress, "011 44 20 7946 0958", "FR", "tel:+442079460958")
	f(FormatAddress, "011 44 20 7946 0958", "IE", "tel:+442079460958")
	f(FormatAddress, "011 44 20 7946 0958", "AU", "tel:+442079460958")
	f(FormatAddress, "011 1 201 555 0123", "GB", "tel:+12015550123")
	// In a country whose plan has long numbers the national reading of a
	// 00/011 number is possible but not valid: the international one wins
	// (the national one once did).
	f(FormatAddress, "011 44 20 7946 0958", "DE", "tel:+442079460958")
	f(FormatAddress, "0044 20 7946 0958", "JP", "tel:+442079460958")
	f(FormatAddress, "0044 20 7946 0958", "KR", "tel:+442079460958")
	f(FormatAddress, "00 1 201 555 0123", "JP", "tel:+12015550123")
}

func TestNormalize_RepairsNotations(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// separators
	f(FormatAddress, "555 123 4567", "US", "tel:+15551234567")
	f(FormatAddress, "555.123.4567", "US", "tel:+15551234567")
	f(FormatAddress, "555-123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "(555) 123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "(555)123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "555/123 4567", "US", "tel:+15551234567")
	f(FormatAddress, "+1.555.123.4567", "US", "tel:+15551234567")
	f(FormatAddress, "+1-555-123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "+1 (555) 123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "+15551234567", "US", "tel:+15551234567")
	f(FormatAddress, "1 555 123 4567", "US", "tel:+15551234567")
	f(FormatAddress, "555\t123\t4567", "US", "tel:+15551234567")
	// A + after an opening bracket counts (once only the first character did)
	f(FormatAddress, "(+44) 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "(+1) 555 123 4567", "GB", "tel:+15551234567")
	// Unicode separators
	f(FormatAddress, "+1\u00a0555\u00a0123\u00a04567", "US", "tel:+15551234567")
	f(FormatAddress, "555\u2011123\u20114567", "US", "tel:+15551234567") // non-breaking hyphen
	f(FormatAddress, "555\u2010123\u20104567", "US", "tel:+15551234567") // hyphen
	f(FormatAddress, "555\u2013123\u20134567", "US", "tel:+15551234567") // en dash
	f(FormatAddress, "555\u2014123\u20144567", "US", "tel:+15551234567") // em dash
	f(FormatAddress, "555\u2212123\u22124567", "US", "tel:+15551234567") // minus
	f(FormatAddress, "(555)\u202f123-4567", "US", "tel:+15551234567")    // narrow no-break space
	f(FormatAddress, "01\u202f23\u202f45\u202f67\u202f89", "FR", "tel:+33123456789")
	f(FormatAddress, "01\u200923\u200945\u200967\u200989", "FR", "tel:+33123456789") // thin space
	f(FormatAddress, "\uff08555\uff09123\uff0d4567", "US", "tel:+15551234567")       // full-width
	f(FormatAddress, "03\u30001234\u30005678", "JP", "tel:+81312345678")             // ideographic space
	// surrounding whitespace
	f(FormatAddress, "  +1 555 123 4567  ", "US", "tel:+15551234567")
	f(FormatAddress, "\t5551234567\n", "US", "tel:+15551234567")
	f(FormatAddress, "\r\n(555) 123-4567\r\n", "US", "tel:+15551234567")
	f(FormatAddress, "\u00a0+1 555 123 4567\u00a0", "US", "tel:+15551234567")
	f(FormatAddress, " \u00a0 020 7946 0958 \u00a0 ", "GB", "tel:+442079460958")
	f(FormatAddress, " tel:+15551234567 ", "US", "tel:+15551234567")
	f(FormatAddress, " tel:+1 555 123 4567\t", "US", "tel:+15551234567")
	// A Unicode space before the + is a separator, not a misplaced + (once
	// only ASCII whitespace and U+00A0 were skipped).
	f(FormatAddress, "\u202f+33 1 23 45 67 89", "FR", "tel:+33123456789")
	f(FormatAddress, "\u3000+81 3-1234-5678", "JP", "tel:+81312345678")
	// tel: URIs with visual separators or a national number
	f(FormatAddress, "tel:555-123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:(555) 123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:5551234567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:+1-555-123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:+1.555.123.4567", "GB", "tel:+15551234567")
	f(FormatAddress, "tel:+44 20 7946 0958", "US", "tel:+442079460958")
	f(FormatAddress, "tel:020 7946 0958", "GB", "tel:+442079460958")
	f(FormatAddress, "tel:+1\u00a0555\u00a0123\u00a04567", "US", "tel:+15551234567")
	f(FormatAddress, "TEL:+15551234567", "US", "tel:+15551234567")
	f(FormatAddress, "Tel:+442079460958", "US", "tel:+442079460958")
	f(FormatAddress, "TEL:555-123-4567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:5551234567;phone-context=+1", "XX", "tel:+15551234567")
	f(FormatAddress, "tel:20 7946 0958;phone-context=+44", "US", "tel:+442079460958")
	f(FormatAddress, "tel:+15551234567;phone-context=+44", "US", "tel:+15551234567")
}

func TestNormalize_RepairsExtensions(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// every marker
	f(FormatAddress, "+1 555 123 4567 x123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+1 555 123 4567x123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+1 555 123 4567 X123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+1 555 123 4567 x. 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555-123-4567 ext. 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555-123-4567 ext.123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "(555) 123-4567 ext 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "(555) 123-4567 Ext: 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "(555) 123-4567 EXT 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555.123.4567 extension 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555.123.4567 Extension: 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555.123.4567 extn. 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555.123.4567 extn 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "5551234567#123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "555 123 4567 # 123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+15551234567;ext=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+1 555 123 4567;ext=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "+1 555 123 4567 x1234567890", "US", "tel:+15551234567;ext=1234567890")
	f(FormatAddress, "+1 555 123 4567 x 123 ", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "020 7946 0958 x123", "GB", "tel:+442079460958;ext=123")
	f(FormatAddress, "+49 30 123456 ext. 12", "US", "tel:+4930123456;ext=12")
	// in tel: URIs
	f(FormatAddress, "tel:+1-555-123-4567;ext=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "tel:555-123-4567;ext=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "tel:+15551234567;EXT=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "TEL:+15551234567;ext=123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "tel:+1 555 123 4567 x123", "US", "tel:+15551234567;ext=123")
	f(FormatAddress, "tel:5551234567;ext=123;phone-context=+1", "XX", "tel:+15551234567;ext=123")
	// in a tel field
	f(FormatTel, "555-123-4567 ext. 123", "US", "tel:+15551234567;ext=123")
}

func TestNormalize_RepairsUserIDs(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// a raw UUID in any case becomes a user: URI, its case kept
	f(FormatAddress, "3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	f(FormatAddress, "3FA85F64-5717-4562-B3FC-2C963F66AFA6", "US", "user:3FA85F64-5717-4562-B3FC-2C963F66AFA6")
	f(FormatAddress, "3Fa85F64-5717-4562-b3Fc-2C963f66aFA6", "US", "user:3Fa85F64-5717-4562-b3Fc-2C963f66aFA6")
	f(FormatAddress, "00000000-0000-0000-0000-000000000000", "US", "user:00000000-0000-0000-0000-000000000000")
	f(FormatAddress, " 3fa85f64-5717-4562-b3fc-2c963f66afa6\n", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	f(FormatAddress, "3fa85f64-5717-4562-b3fc-2c963f66afa6", "", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	f(FormatUser, "3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	f(FormatUser, "3FA85F64-5717-4562-B3FC-2C963F66AFA6", "XX", "user:3FA85F64-5717-4562-B3FC-2C963F66AFA6")
	f(FormatUser, "\t3fa85f64-5717-4562-b3fc-2c963f66afa6 ", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
}

func TestNormalize_KeepsCanonical(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// address: sip:, sips:, user: and tel:+E.164 are kept as they are
	f(FormatAddress, "sip:alice@example.com", "US", "sip:alice@example.com")
	f(FormatAddress, "sips:+15551234567@sip.example.com", "US", "sips:+15551234567@sip.example.com")
	f(FormatAddress, "SIP:Bob@Example.com", "US", "SIP:Bob@Example.com")
	f(FormatAddress, "sip:5551234567@10.0.0.1:5060;transport=tcp", "", "sip:5551234567@10.0.0.1:5060;transport=tcp")
	f(FormatAddress, "user:3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	f(FormatAddress, "user:3FA85F64-5717-4562-B3FC-2C963F66AFA6", "US", "user:3FA85F64-5717-4562-B3FC-2C963F66AFA6")
	f(FormatAddress, "tel:+15551234567", "US", "tel:+15551234567")
	f(FormatAddress, "tel:+15551234567", "", "tel:+15551234567")
	f(FormatAddress, "tel:+442079460958", "US", "tel:+442079460958")
	f(FormatAddress, "tel:+390212345678", "US", "tel:+390212345678")
	f(FormatAddress, "tel:+5511961234567", "US", "tel:+5511961234567")
	f(FormatAddress, "tel:+442079460958;ext=12", "US", "tel:+442079460958;ext=12")
	f(FormatAddress, "tel:+15551234567;ext=1234567890", "US", "tel:+15551234567;ext=1234567890")
	// surrounding whitespace is all that changes (SIP URIs are kept exactly:
	// callfix repairs numbers and user IDs, not SIP)
	f(FormatAddress, " sip:alice@example.com ", "US", " sip:alice@example.com ")
	f(FormatAddress, "\nuser:3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
	// tel, e164 and user fields
	f(FormatTel, "tel:+15551234567", "US", "tel:+15551234567")
	f(FormatTel, "tel:+442079460958", "DE", "tel:+442079460958")
	f(FormatE164, "+15551234567", "US", "+15551234567")
	f(FormatE164, "+15551234567", "", "+15551234567")
	f(FormatE164, "+442079460958", "US", "+442079460958")
	f(FormatE164, "+819012345678", "JP", "+819012345678")
	f(FormatUser, "user:3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "user:3fa85f64-5717-4562-b3fc-2c963f66afa6")
}

func TestNormalize_RepairsByFormat(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelPossible, want)
	}
	// tel
	f(FormatTel, "+1 555 123 4567", "US", "tel:+15551234567")
	f(FormatTel, "(555) 123-4567", "US", "tel:+15551234567")
	f(FormatTel, "020 7946 0958", "GB", "tel:+442079460958")
	f(FormatTel, "+15551234567", "US", "tel:+15551234567")
	f(FormatTel, "TEL:+15551234567", "US", "tel:+15551234567")
	f(FormatTel, "tel:555-123-4567", "US", "tel:+15551234567")
	// e164
	f(FormatE164, "tel:+15551234567", "US", "+15551234567")
	f(FormatE164, "TEL:+15551234567", "US", "+15551234567")
	f(FormatE164, "tel:+1-555-123-4567", "US", "+15551234567")
	f(FormatE164, "tel:555-123-4567", "US", "+15551234567")
	f(FormatE164, "(555) 123-4567", "US", "+15551234567")
	f(FormatE164, "+1 555 123 4567", "US", "+15551234567")
	f(FormatE164, "0044 20 7946 0958", "US", "+442079460958")
	f(FormatE164, "030 123456", "DE", "+4930123456")
	f(FormatE164, " +15551234567 ", "US", "+15551234567")
	f(FormatE164, "+1\u00a0555\u00a0123\u00a04567", "US", "+15551234567")
}

func TestNormalize_RepairsAtLevelValid(t *testing.T) {
	f := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelValid, want)
		checkNormalizeRepair(t, format, in, country, LevelStrict, want)
	}
	// phonenumbers example numbers, national and international
	f(FormatAddress, "(201) 555-0123", "US", "tel:+12015550123")
	f(FormatAddress, "(506) 234-5678", "CA", "tel:+15062345678")
	f(FormatAddress, "0121 234 5678", "GB", "tel:+441212345678")
	f(FormatAddress, "085 012 3456", "IE", "tel:+353850123456")
	f(FormatAddress, "030 123456", "DE", "tel:+4930123456")
	// In North America a leading 1 without + is the trunk prefix.
	f(FormatAddress, "1-317-222-2222", "US", "tel:+13172222222")
	f(FormatAddress, "1 (317) 222-2222", "US", "tel:+13172222222")
	f(FormatE164, "13172222222", "US", "+13172222222")
	// Written with its country code: the client chose the country.
	f(FormatAddress, "+44 20 7946 0958", "IE", "tel:+442079460958")
	f(FormatAddress, "0044 20 7946 0958", "IE", "tel:+442079460958")
	f(FormatAddress, "011 44 20 7946 0958", "US", "tel:+442079460958")
}

// At level valid a national number must be assigned in the country it is
// read in, while a number written with its country code need only be
// possible: callfix never moves a national number into a country the
// client did not mean, and does not second-guess one it named.
func TestNormalize_LevelValid_NationalMustBeValidInCountry(t *testing.T) {
	f := func(format Format, in, country string, want Reason) {
		t.Helper()
		checkNormalizeReject(t, format, in, country, LevelValid, want)
	}
	// A London number read in Ireland (a UK organisation on eu-west-1).
	f(FormatAddress, "020 7946 0958", "IE", ReasonNotValidInCountry)
	f(FormatAddress, "tel:020-7946-0958", "IE", ReasonNotValidInCountry)
	f(FormatAddress, "(555) 123-4567", "US", ReasonNotValidInCountry)
	f(FormatTel, "555-123-4567", "US", ReasonNotValidInCountry)
	f(FormatE164, "5551234567", "US", ReasonNotValidInCountry)
	// Possible only for local dialling: a problem, not a repair.
	f(FormatAddress, "222-2222", "US", ReasonLocalOnly)
	// Reasons other than validity are the same at every level.
	f(FormatAddress, "+999 1234 5678", "US", ReasonCountryCode)
	f(FormatAddress, "12", "US", ReasonTooShort)

	g := func(format Format, in, country, want string) {
		t.Helper()
		checkNormalizeRepair(t, format, in, country, LevelValid, want)
	}
	g(FormatAddress, "+1 555 123 4567", "US", "tel:+15551234567")
	g(FormatAddress, "tel:+15551234567;ext=12", "US", "tel:+15551234567;ext=12")
	g(FormatE164, "+15551234567", "US", "+15551234567")
	g(FormatAddress, "+44 1000 000000", "US", "tel:+441000000000")
	g(FormatAddress, "00 1 555 123 4567", "GB", "tel:+15551234567")
}

func TestNormalize_RejectsAtLevelStrict(t *testing.T) {
	f := func(format Format, in, country string, want Reason) {
		t.Helper()
		checkNormalizeReject(t, format, in, country, LevelStrict, want)
		// the same value passes at level possible
		if got := Normalize(format, in, country, LevelPossible); got.Reason != reasonNone && (want == ReasonNotValid || want == ReasonNotValidInCountry) {
			t.Errorf("Normalize(%v, %q, %q, possible) = reason %v, want a repair", format, in, country, got.Reason)
		}
	}
	f(FormatAddress, "+1 555 123 4567", "US", ReasonNotValid)
	f(FormatAddress, "(555) 123-4567", "US", ReasonNotValidInCountry)
	f(FormatAddress, "tel:+15551234567", "US", ReasonNotValid)
	f(FormatAddress, "tel:+15551234567;ext=12", "US", ReasonNotValid)
	f(FormatTel, "555-123-4567", "US", ReasonNotValidInCountry)
	f(FormatE164, "+15551234567", "US", ReasonNotValid)
	f(FormatE164, "tel:+15551234567", "US", ReasonNotValid)
	f(FormatAddress, "+44 1000 000000", "US", ReasonNotValid)
	f(FormatAddress, "+81 1 0000 0000", "US", ReasonNotValid)
	f(FormatAddress, "+61 1 0000 0000", "US", ReasonNotValid)
	f(FormatAddress, "+49 30 12", "US", ReasonNotValid)
	// reasons other than validity are the same at every level
	f(FormatAddress, "555-1234", "US", ReasonLocalOnly)
	f(FormatAddress, "+999 1234 5678", "US", ReasonCountryCode)
	f(FormatAddress, "12", "US", ReasonTooShort)
}

func TestNormalize_Country(t *testing.T) {
	f := func(in, country, want string) {
		t.Helper()
		got := Normalize(FormatAddress, in, country, LevelPossible)
		if got.Reason != reasonNone || got.Country != want {
			t.Errorf("Normalize(%q, %q).Country = %q (value %q, reason %v), want %q", in, country, got.Country, got.Value, got.Reason, want)
		}
	}
	// national numbers are read in the default country
	f("(201) 555-0123", "US", "US")
	f("(506) 234-5678", "CA", "CA")
	f("tel:555-123-4567", "US", "US")
	// international numbers are read in their own
	f("+44 20 7946 0958", "US", "GB")
	f("+1 506 234 5678", "DE", "US")
	f("tel:+442079460958", "US", "GB")
	f("TEL:+442079460958", "US", "GB")
	f("tel:+44-20-7946-0958", "US", "GB")
	f("tel:5551234567;phone-context=+1", "XX", "US")
	f("0044 20 7946 0958", "US", "GB")
	f("011 44 20 7946 0958", "GB", "GB")
	f("011 1 201 555 0123", "GB", "US")
	// With the default country's own international prefix, which
	// phonenumbers strips itself, the number is reported as its own
	// country's (once as the default country's).
	f("011 44 20 7946 0958", "US", "GB")
	f("00 49 30 123456", "FR", "DE")
	f("0011 44 20 7946 0958", "AU", "GB")
	f("0044 20 7946 0958", "IN", "GB")
	// user IDs and SIP URIs have none
	f("3fa85f64-5717-4562-b3fc-2c963f66afa6", "US", "")
	f("sip:alice@example.com", "US", "")
}

// TestCanonicalE164_AgreesWithPhonenumbers holds the table-driven fast path
// to phonenumbers: canonicalE164(d) must be true exactly when phonenumbers
// reads +d as a possible number and writes it back as +d.
func TestCanonicalE164_AgreesWithPhonenumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 42))
	digits := func(b []byte, n int) []byte {
		for range n {
			b = append(b, byte('0'+rng.IntN(10)))
		}
		return b
	}
	type testCase struct {
		d      string
		sample bool // parsed even when canonicalE164 says no
	}
	var cases []testCase
	// Random digit strings. Parsing under -race costs a quarter of a
	// millisecond, so those canonicalE164 refuses are parsed one in 16;
	// the calling-code sweep below covers every length of every code.
	for i := range 20000 {
		cases = append(cases, testCase{string(digits(nil, 3+rng.IntN(18))), i%16 == 0})
	}
	// Hand-picked: national prefixes written after the calling code
	// (0 in GB and DE, 0 and a carrier code in CO and KR, 8 in RU, 1 in
	// the NANP), and leading zeros that belong to the number (IT, CI).
	for _, d := range []string{
		"4402079460958", "490301234567", "570379716887", "820873436257179", "874951234567",
		"115551234567", "12015550123", "390212345678", "2252721234567", "8000123456",
	} {
		cases = append(cases, testCase{d, true})
	}
	supported := phonenumbers.GetSupportedCallingCodes()
	codes := make([]int, 0, len(supported))
	for cc := range supported {
		codes = append(codes, cc)
	}
	slices.Sort(codes)
	for _, cc := range codes {
		prefix := strconv.Itoa(cc)
		for l := 1; l <= 18; l++ {
			cases = append(cases, testCase{string(digits([]byte(prefix), l)), true})
			if l%3 == 0 {
				// a national number that starts with 0, as when a
				// national prefix is written after the country code
				cases = append(cases, testCase{string(digits([]byte(prefix+"0"), l-1)), true})
			}
		}
	}

	type class struct {
		ours    bool
		why     string
		codes   []int32
		example string
		n       int
	}
	classes := map[string]*class{}
	var keys []string
	parsed, canonical := 0, 0
	num := new(phonenumbers.PhoneNumber)
	for _, c := range cases {
		d := c.d
		ours := canonicalE164(d)
		if !ours && !c.sample {
			continue
		}
		parsed++
		num.Reset()
		theirs, why := false, ""
		if err := phonenumbers.ParseToNumber("+"+d, "", num); err != nil {
			why = "phonenumbers.Parse fails: " + err.Error()
		} else if r := phonenumbers.IsPossibleNumberWithReason(num); r != phonenumbers.IS_POSSIBLE {
			why = fmt.Sprintf("IsPossibleNumberWithReason = %v", r)
		} else if e := phonenumbers.Format(num, phonenumbers.E164); e != "+"+d {
			why = "phonenumbers writes it differently"
			cc := strconv.Itoa(int(num.GetCountryCode()))
			if in, out := d[len(cc):], e[1+len(cc):]; strings.HasSuffix(in, out) {
				why = fmt.Sprintf("phonenumbers strips the national prefix %q after the calling code", in[:len(in)-len(out)])
			}
		} else {
			theirs = true
			canonical++
		}
		if ours == theirs {
			continue
		}
		key := fmt.Sprint(ours, why)
		cl := classes[key]
		if cl == nil {
			cl = &class{ours: ours, why: why, example: d}
			classes[key] = cl
			keys = append(keys, key)
		}
		if cc := num.GetCountryCode(); !slices.Contains(cl.codes, cc) {
			cl.codes = append(cl.codes, cc)
		}
		cl.n++
	}
	t.Logf("%d digit strings, %d parsed, %d canonical", len(cases), parsed, canonical)
	if canonical < 3000 {
		t.Errorf("only %d digit strings are canonical E.164 numbers; the generator no longer exercises canonicalE164", canonical)
	}
	slices.Sort(keys)
	for _, key := range keys {
		cl := classes[key]
		slices.Sort(cl.codes)
		if cl.ours {
			t.Errorf("canonicalE164(%q) = true, but %s (%d cases, calling codes %v)", cl.example, cl.why, cl.n, cl.codes)
		} else {
			t.Errorf("canonicalE164(%q) = false, but phonenumbers reads +%s as possible and writes it back unchanged (%d cases, calling codes %v)", cl.example, cl.example, cl.n, cl.codes)
		}
	}
}
