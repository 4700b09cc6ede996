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
// start of d, from phonenumbers' table (rewrite.CallingCodeLen); for digits
// that start no calling code, as many of the first three as are digits, so
// that the mask still shows a short prefix.
func callingCodeLen(d string) int {
	if n := rewrite.CallingCodeLen(d); n > 0 {
		return n
	}
	n := 0
	for n < len(d) && n < 3 && d[n] >= '0' && d[n] <= '9' {
		n++
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
