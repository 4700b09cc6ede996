package rewrite_test

// Fuzz targets. Seeds: every golden input, invSeeds, a few generated
// bodies, and the files in testdata/fuzz/<Target>/.
//
//	go test ./rewrite -run '^$' -fuzz '^FuzzRewrite$' -fuzztime 60s
//	go test ./rewrite -run '^$' -fuzz '^FuzzWalkerValid$' -fuzztime 60s
//	go test ./rewrite -run '^$' -fuzz '^FuzzValue$' -fuzztime 60s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callfix/callfix/rewrite"
)

// fuzzBodies returns the seed bodies shared by the byte-level targets.
func fuzzBodies(f *testing.F) [][]byte {
	var out [][]byte
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.in.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range invSeeds {
		out = append(out, []byte(s))
	}
	// The nesting limit: encoding/json accepts 10000 levels, not 10001.
	for _, n := range []int{10000, 10001} {
		out = append(out, []byte(strings.Repeat("[", n)+strings.Repeat("]", n)))
		out = append(out, []byte(strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n)))
	}
	out = append(out, []byte(`{"a":`+strings.Repeat("[", 9999)+`"5551234567"`+strings.Repeat("]", 9999)+`}`))
	return out
}

// FuzzRewrite checks every property of invCheck on arbitrary bytes, with the
// default rules (US, GB, the user route, level valid) and the custom rules.
func FuzzRewrite(f *testing.F) {
	for _, b := range fuzzBodies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		invCheckAll(t, body)
	})
}

// FuzzWalkerValid is a differential test of the engine's validating walker
// against encoding/json: the verdict (JSON or not, and why not) must agree
// for every input.
func FuzzWalkerValid(f *testing.F) {
	for _, b := range fuzzBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{`-`, `1.`, `1e`, `1e+`, `01`, `-01`, `"\u12`, `"\`, `tru`, `nul`, `fals`, `{"a"`, `{"a":`,
		`{"a":1,`, `[1,`, `[`, "\"\x01\"", "\ufeff{}", `{"a":1}}`, `[1]]`, `"\x"`, `{"a" 1}`, `{,}`, `[,]`, `1 2`,
		"\v{}", "{}\x00", "\ufeff", "\ufeff \ufeff{}", "\ufeff[1]", "\ufeff{} 1", "\xff\xfe{\x00}\x00", "{\x00}\x00", "\x00{", `{} {}`, `{}}`, `{"a":.5}`, `{"a":+1}`, `{"a":1.5E+}`, `{"a":"\uD800"}`, `{"a":"\uZZZZ"}`, `{'a':1}`} {
		f.Add([]byte(s))
	}
	cfgs := invConfigs()
	f.Fuzz(func(t *testing.T, body []byte) {
		// The engine reads past a UTF-8 byte-order mark; encoding/json
		// does not.
		doc := bytes.TrimPrefix(body, invBOM)
		valid := json.Valid(doc)
		var raw json.RawMessage
		err := json.Unmarshal(doc, &raw)
		if (err == nil) != valid {
			t.Fatalf("encoding/json disagrees with itself on %q", doc)
		}
		first := invFirstByte(doc)
		allSpace := invSkipWS(doc, 0) == len(doc)
		truncated := !allSpace && fuzzEndsEarly(doc, err)
		tooDeep := err != nil && strings.Contains(err.Error(), "exceeded max depth")
		for _, c := range []invConfig{cfgs[0], cfgs[3]} {
			res := c.engine.Rewrite(c.route, body, c.country)
			engineValid := res.Skipped == rewrite.SkipNone || res.Skipped == rewrite.SkipNotObject
			if engineValid != valid {
				t.Fatalf("[%s] %q: engine says Skipped=%q (valid %v), json.Valid says %v (%v)",
					c.name, body, res.Skipped, engineValid, valid, err)
			}
			var want rewrite.Skip
			switch {
			case fuzzUTF16or32(body):
				want = rewrite.SkipNotUTF8
			case valid && first == '{':
				want = rewrite.SkipNone
			case valid:
				want = rewrite.SkipNotObject
			case allSpace:
				want = rewrite.SkipEmpty
			case tooDeep:
				want = rewrite.SkipTooDeep
			case fuzzTrailing(doc):
				want = rewrite.SkipTrailingData
			case truncated:
				want = rewrite.SkipTruncated
			default:
				want = rewrite.SkipNotJSON
			}
			if res.Skipped != want {
				t.Fatalf("[%s] %q: Skipped = %q, want %q (encoding/json: %v)", c.name, body, res.Skipped, want, err)
			}
			if want != rewrite.SkipNone && !invSameSlice(res.Body, body) {
				t.Fatalf("[%s] %q: skipped body not returned as it is", c.name, body)
			}
		}
	})
}

// fuzzUTF16or32 reports whether Jackson (Genesys's JSON reader) would read
// data as UTF-16 or UTF-32: a byte-order mark of those, or a NUL in one of
// the first two bytes (ByteSourceJsonBootstrapper).
func fuzzUTF16or32(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe}) ||
		len(data) > 0 && data[0] == 0 || len(data) > 1 && data[1] == 0
}

// fuzzTrailing reports whether data starts with one complete JSON value
// and has more than whitespace after it, as encoding/json's Decoder, which
// reads one value at a time, sees it.
func fuzzTrailing(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if dec.Decode(&v) != nil {
		return false
	}
	rest := data[dec.InputOffset():]
	return invSkipWS(rest, 0) < len(rest)
}

// fuzzEndsEarly reports whether encoding/json's error for data says that
// the input ran out, that is, data is the start of a JSON text. At the end
// encoding/json's scanner is fed a space: it says "unexpected end of JSON
// input", or, in the middle of a number, literal or escape, "invalid
// character ' ' ..." at offset len(data) (which a real trailing space
// cannot cause there: the state before it would already have failed).
func fuzzEndsEarly(data []byte, err error) bool {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset != int64(len(data)) {
		return false
	}
	if se.Error() == "unexpected end of JSON input" {
		return true
	}
	return strings.HasPrefix(se.Error(), "invalid character ' '") && len(data) > 0 && data[len(data)-1] != ' '
}

// FuzzValue puts one value at every configured path, written raw, escaped
// by encoding/json and fully \u-escaped (and as a JSON number when it is
// one), and checks the document properties; it also checks Normalize itself:
// Changed means Value differs from the input, and a repaired value is a
// fixed point.
func FuzzValue(f *testing.F) {
	for _, s := range []string{
		"5551234567", "15551234567", "(555) 123-4567", "+1 555 123 4567", "555.123.4567 x12", "+44 20 7946 0958",
		"020 7946 0958", "07700 900123", "011 44 20 7946 0958", "0044 20 7946 0958", "tel:+15551234567",
		"tel:555-123-4567", "tel:5551234567;phone-context=+1", "tel:+15551234567;ext=12", "TEL:+15551234567",
		" tel:+15551234567 ", "sip:alice@example.com", " sips:bob@example.com ", "user:abc",
		"3b2e4f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "3B2E4F5A-1C2D-4E5F-8A9B-0C1D2E3F4A5B", "", " ", "\u00a0", "123",
		"5", "+12", "tel:1", "+999 123 4567", "mailto:x@y", "555-123-4567 ext", "５５５", "555\u2013123\u20134567",
		"+1\u00a0555\u00a0123\u00a04567", "\x00", "\"", "\\", "\xff", "\ud7ff", "tel:+12015550123", "+12015550123",
		"99999999999999999999999", "+800 1234 5678", "+882 1234 5678", "tel:+15551234567;ext=", "#12", "x12",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// Normalize on its own.
		for _, level := range []rewrite.Level{rewrite.LevelPossible, rewrite.LevelValid} {
			for _, country := range []string{"US", "GB", ""} {
				for _, format := range []rewrite.Format{rewrite.FormatAddress, rewrite.FormatTel, rewrite.FormatE164, rewrite.FormatUser} {
					fuzzCheckNormalize(t, format, v, country, level)
				}
			}
		}
		// The value in documents.
		forms := []string{string(fuzzQuoteJSON(v)), fuzzEscapeAll(v)}
		if raw := `"` + v + `"`; json.Valid([]byte(raw)) {
			forms = append(forms, raw)
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) {
			forms = append(forms, v)
		}
		cfgs := invConfigs()
		for _, x := range forms {
			body := fmt.Sprintf(`{"phoneNumber":%[1]s,"callerId":%[1]s,"participants":[{"address":%[1]s},{"address":%[1]s}],`+
				`"to":{"to":%[1]s,"address":%[1]s},"from":%[1]s,"a":[%[1]s,{"b":[%[1]s,{"c":%[1]s}]}],"x":{"y":{"z":%[1]s}},`+
				`"u":%[1]s,"m":[[%[1]s]],"d":[[[[%[1]s]]]]}`, x)
			// default/US, default/GB, custom/GB, valid-level/US: the user
			// route and the other custom countries add little here.
			for _, i := range []int{0, 1, 4, 6} {
				invCheck(t, cfgs[i], []byte(body))
			}
		}
	})
}

func fuzzCheckNormalize(t *testing.T, format rewrite.Format, v, country string, level rewrite.Level) {
	t.Helper()
	n := rewrite.Normalize(format, v, country, level)
	if n.Reason.Code() != "" {
		if n.Value != "" || n.Changed {
			t.Errorf("Normalize(%v, %q, %q, %v) = %+v: a problem must have no Value and no Changed", format, v, country, level, n)
		}
		return
	}
	if n.Changed != (n.Value != v) {
		t.Errorf("Normalize(%v, %q, %q, %v) = %+v: Changed must say whether Value differs from the input",
			format, v, country, level, n)
	}
	again := rewrite.Normalize(format, n.Value, country, level)
	if again.Reason.Code() != "" || again.Value != n.Value || again.Changed {
		t.Errorf("Normalize(%v, %q, %q, %v) = %q, but normalising that again gives %+v", format, v, country, level, n.Value, again)
	}
	// (Normalized.Kind is "phone or user, when known": a sip: URI has none.
	// A Change must have one: invCheckObject checks that.)
}

// fuzzQuoteJSON is v as encoding/json writes it (which turns invalid UTF-8
// into \ufffd and escapes <, > and &).
func fuzzQuoteJSON(v string) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// fuzzEscapeAll writes every rune of v as a \u escape (a surrogate pair
// above U+FFFF); an invalid byte becomes \ufffd as encoding/json reads it.
func fuzzEscapeAll(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if r > 0xffff {
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04X`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			continue
		}
		if r == utf8.RuneError {
			b.WriteString(`\ufffd`)
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteByte('"')
	return b.String()
}
