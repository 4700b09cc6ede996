package rewrite

import (
	"bytes"
	"log/slog"
	"testing"
)

// slogString is s as log/slog's JSON handler writes a string value.
func slogString(t testing.TB, s string) []byte {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	slog.New(h).Info("", "v", s)
	out := buf.Bytes()
	const pre, post = `{"v":`, "}\n"
	if !bytes.HasPrefix(out, []byte(pre)) || !bytes.HasSuffix(out, []byte(post)) {
		t.Fatalf("slog wrote %q", out)
	}
	return out[len(pre) : len(out)-len(post)]
}

var quoteSeeds = []string{
	"", "tel:+13172224567", "user:3f1a9c2e", `"`, `\`, "a\"b\\c", "\n\r\t", "\x00\x01\x1f\x7f", "\b\f",
	"<>&", "é", "日本", "😀", "\u2028", "\u2029", "a\u2028b\u2029c", "\xff", "a\xc3", "\xc3\x28",
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "+44 20 7946 0958\x00",
}

// AppendJSONString writes what slog's JSON handler writes (the audit
// records are compared with it), and quotedLen says exactly how long that
// is (the rewritten body is sized by it).
func TestAppendJSONString_AsSlogWritesIt(t *testing.T) {
	for _, s := range quoteSeeds {
		checkQuote(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range quoteSeeds {
		f.Add(s)
	}
	f.Fuzz(checkQuote)
}

func checkQuote(t *testing.T, s string) {
	t.Helper()
	got := AppendJSONString([]byte("x"), s)
	if want := slogString(t, s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Errorf("AppendJSONString(%q) = %q, want %q as slog writes it", s, got[1:], want)
	}
	if n := quotedLen(s); n != len(got)-1 {
		t.Errorf("quotedLen(%q) = %d, want %d", s, n, len(got)-1)
	}
}
