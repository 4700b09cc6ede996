package telemetry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/callfix/callfix/rewrite"
)

// MaskMode is how values that may hold phone numbers are shown in spans,
// logs and error bodies.
type MaskMode uint8

const (
	// MaskPartial shows the scheme, the country calling code and the last
	// two digits: tel:+44*******58. It is the default.
	MaskPartial MaskMode = iota
	// MaskHash shows "hmac:" and the first 16 hex digits of a keyed
	// HMAC-SHA256 of the value, so that records can be joined without
	// showing numbers.
	MaskHash
	// MaskFull shows values as they are. It is a privacy risk: phone numbers
	// reach every telemetry backend and log.
	MaskFull
	// MaskNone omits values entirely.
	MaskNone
)

// String returns partial, hash, full or none.
func (m MaskMode) String() string {
	switch m {
	case MaskPartial:
		return "partial"
	case MaskHash:
		return "hash"
	case MaskFull:
		return "full"
	case MaskNone:
		return "none"
	}
	return fmt.Sprintf("MaskMode(%d)", uint8(m))
}

// ParseMaskMode returns the MaskMode named s.
func ParseMaskMode(s string) (MaskMode, error) {
	for m := MaskPartial; m <= MaskNone; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown mask mode %q: use partial, hash, full or none", s)
}

// Masker masks values by a MaskMode. The zero Masker masks partially.
type Masker struct {
	Mode MaskMode
	// Key is the HMAC key for MaskHash. A hash without a key can be reversed
	// by trying every phone number, so configuration requires one.
	Key []byte
}

// Mask returns v as the policy allows it to be shown. User IDs (UUIDs and
// user: URIs) are not personal data and are shown as they are.
func (m Masker) Mask(v string) string {
	if isUserID(v) {
		return v
	}
	switch m.Mode {
	case MaskFull:
		return v
	case MaskNone:
		return ""
	case MaskHash:
		mac := hmac.New(sha256.New, m.Key)
		mac.Write([]byte(v))
		return "hmac:" + hex.EncodeToString(mac.Sum(nil))[:16]
	}
	return maskPartial(v)
}

// maskPartial keeps a URI scheme, a +country calling code and the last two
// digits, and a SIP host; every other letter and digit becomes '*'.
func maskPartial(v string) string {
	b := []byte(v)
	start := 0
	if i := strings.IndexByte(v, ':'); i > 0 && i < 6 && isScheme(v[:i]) {
		start = i + 1
	}
	end := len(b)
	if at := strings.LastIndexByte(v, '@'); at > start {
		end = at // sip:user@host: the host is not personal
	}
	i := start
	for i < end && (b[i] == ' ' || b[i] == '(') {
		i++
	}
	if i < end && b[i] == '+' {
		i++
		i += callingCodeLen(v[i:end])
	}
	// The last two digits stay; every other letter and digit goes.
	keepFrom := end
	for j, seen := end-1, 0; j >= i && seen < 2; j-- {
		if b[j] >= '0' && b[j] <= '9' {
			seen++
			if seen == 2 {
				keepFrom = j
			}
		}
	}
	for j := i; j < end; j++ {
		c := b[j]
		if c|0x20 >= 'a' && c|0x20 <= 'z' || c >= 0x80 || c >= '0' && c <= '9' && j < keepFrom {
			b[j] = '*'
		}
	}
	return string(b)
}

func isScheme(s string) bool {
	switch strings.ToLower(s) {
	case "tel", "sip", "sips":
		return true
	}
	return false
}

// callingCodeLen returns the length of the country calling code at the
// start of d (E.164 codes are prefix-free: 1, 7, 2x, 3x, 4x, 5x, 6x, 8x,
// 9x with 2 or 3 digits). It is approximate by design: it only decides how
// much of a number to show.
func callingCodeLen(d string) int {
	n := 0
	for n < len(d) && n < 3 && d[n] >= '0' && d[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0
	}
	switch d[0] {
	case '1', '7':
		return 1
	}
	if n >= 2 {
		switch d[:2] {
		case "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
			"51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
			"81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98":
			return 2
		}
	}
	return n
}

// isUserID reports whether v is a Genesys user ID (a UUID), bare or as a
// user: URI. A user: URI holding anything else (a number) is masked.
func isUserID(v string) bool {
	if len(v) == 41 && strings.EqualFold(v[:5], "user:") {
		v = v[5:]
	}
	return rewrite.IsUUID(v)
}
