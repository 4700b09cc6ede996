package telemetry

import (
	"strings"
	"testing"
)

func TestMask_Partial(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := (Masker{}).Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	// E.164 forms keep the scheme, the calling code and the last two digits.
	f("tel:+442079460958", "tel:+44********58")
	f("+15551234567", "+1********67")
	f("tel:+15551234567;ext=123", "tel:+1**********;***=*23")
	// National and free-form input: only the last two digits stay.
	f("(555) 123-4567", "(***) ***-**67")
	f("1-800-FLOWERS", "*-*00-*******")
	f("123", "*23")
	f("7", "*")
	f("", "")
	// SIP: the user part is masked, the host is not personal.
	f("sip:+15551234567@example.com", "sip:+1********67@example.com")
	// User IDs are not personal data.
	f("2ca3b6e8-0000-4000-8000-000000000001", "2ca3b6e8-0000-4000-8000-000000000001")
	f("user:2ca3b6e8-0000-4000-8000-000000000001", "user:2ca3b6e8-0000-4000-8000-000000000001")
}

func TestMask_OtherModes(t *testing.T) {
	const n = "tel:+442079460958"
	if got := (Masker{Mode: MaskFull}).Mask(n); got != n {
		t.Errorf("full: Mask = %q, want %q", got, n)
	}
	if got := (Masker{Mode: MaskNone}).Mask(n); got != "" {
		t.Errorf("none: Mask = %q, want empty", got)
	}
	a := (Masker{Mode: MaskHash, Key: []byte("k1")}).Mask(n)
	b := (Masker{Mode: MaskHash, Key: []byte("k1")}).Mask(n)
	c := (Masker{Mode: MaskHash, Key: []byte("k2")}).Mask(n)
	if a != b || a == c || !strings.HasPrefix(a, "hmac:") || len(a) != len("hmac:")+16 || strings.Contains(a, "442079") {
		t.Errorf("hash: Mask = %q, %q (same key), %q (other key); want a stable keyed 16-hex-digit prefix", a, b, c)
	}
}

func TestParseMaskMode(t *testing.T) {
	for _, s := range []string{"partial", "hash", "full", "none"} {
		m, err := ParseMaskMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMaskMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMaskMode("some"); err == nil || !strings.Contains(err.Error(), "use partial, hash, full or none") {
		t.Errorf("ParseMaskMode(some) error = %v", err)
	}
}
