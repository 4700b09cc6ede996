package rewrite_test

import (
	"strings"
	"testing"

	"github.com/callfix/callfix/rewrite"
)

// Why a body was not inspected, reason by reason: the enforce mode answers
// each with its own message, and the audit record names it.
func TestRewrite_Skipped_SaysWhy(t *testing.T) {
	e := rewrite.Default()
	rt := e.Match("POST", "/api/v2/conversations/calls")
	f := func(body string, want rewrite.Skip) {
		t.Helper()
		res := e.Rewrite(rt, []byte(body), "US")
		if res.Skipped != want {
			t.Errorf("%.60q: Skipped = %q, want %q", body, res.Skipped, want)
		}
		if want != rewrite.SkipNone && (string(res.Body) != body || len(res.Changes)+len(res.Problems) != 0) {
			t.Errorf("%.60q: a skipped body came back changed, or with changes", body)
		}
	}
	f("", rewrite.SkipEmpty)
	f(" \r\n\t", rewrite.SkipEmpty)
	f("\ufeff", rewrite.SkipEmpty)
	f("\ufeff  ", rewrite.SkipEmpty)
	f("not json", rewrite.SkipNotJSON)
	f("\v{}", rewrite.SkipNotJSON)
	f("\ufeff\ufeff{}", rewrite.SkipNotJSON) // one mark is read past, not two
	f(`{"phoneNumber":"5551234567"`, rewrite.SkipTruncated)
	f(`["5551234567"]`, rewrite.SkipNotObject)
	f("\ufeff[1]", rewrite.SkipNotObject)
	f(`"5551234567"`, rewrite.SkipNotObject)

	// Data after the value: some readers, Genesys's among them, take the
	// first value and ignore the rest.
	f(`{"phoneNumber":"5551234567"} {"phoneNumber":"abc"}`, rewrite.SkipTrailingData)
	f(`{"phoneNumber":"abc"}x`, rewrite.SkipTrailingData)
	f(`{}}`, rewrite.SkipTrailingData)
	f("{}\x00", rewrite.SkipTrailingData)
	f(`[1] 2`, rewrite.SkipTrailingData)
	f(`01`, rewrite.SkipTrailingData)
	f("\ufeff{} 1", rewrite.SkipTrailingData)

	// UTF-16 and UTF-32, with or without their byte-order mark.
	f("{\x00\"\x00a\x00\"\x00:\x001\x00}\x00", rewrite.SkipNotUTF8)
	f("\x00{\x00\"\x00a\x00\"\x00:\x001\x00}", rewrite.SkipNotUTF8)
	f("\xff\xfe{\x00}\x00", rewrite.SkipNotUTF8)
	f("\xfe\xff\x00{\x00}", rewrite.SkipNotUTF8)
	f("{\x00\x00\x00}\x00\x00\x00", rewrite.SkipNotUTF8)
	f("\x00\x00\x00{\x00\x00\x00}", rewrite.SkipNotUTF8)
	f("\x00", rewrite.SkipNotUTF8)

	// Nesting: at the limit is JSON, one more level is too deep.
	at := strings.Repeat("[", rewrite.MaxNesting-1) + strings.Repeat("]", rewrite.MaxNesting-1)
	f(`{"a":`+at+`}`, rewrite.SkipNone)
	f(`{"a":[`+at+`]}`, rewrite.SkipTooDeep)
	f(strings.Repeat(`{"a":`, rewrite.MaxNesting+1), rewrite.SkipTooDeep)
}

// A UTF-8 byte-order mark is read past, and kept: the body after it is
// inspected and repaired, and the mark is forwarded in front of it.
func TestRewrite_UTF8BOM_InspectedAndKept(t *testing.T) {
	e := rewrite.Default()
	rt := e.Match("POST", "/api/v2/conversations/calls")
	res := e.Rewrite(rt, []byte("\ufeff {\"phoneNumber\":\"(317) 222-4567\"}"), "US")
	if want := "\ufeff {\"phoneNumber\":\"tel:+13172224567\"}"; string(res.Body) != want || res.Skipped != rewrite.SkipNone || len(res.Changes) != 1 {
		t.Errorf("Rewrite = %q skipped %q changes %v, want %q and one change", res.Body, res.Skipped, res.Changes, want)
	}
	res = e.Rewrite(rt, []byte("\ufeff{\"phoneNumber\":\"abc\"}"), "US")
	if len(res.Problems) != 1 || res.Problems[0].Path != "phoneNumber" {
		t.Errorf("problems = %+v, want one for phoneNumber", res.Problems)
	}
}

// Skip names are stable: the audit record's skipped field and the
// callfix.skipped span attribute carry them.
func TestSkip_String(t *testing.T) {
	f := func(s rewrite.Skip, want string) {
		t.Helper()
		if got := s.String(); got != want {
			t.Errorf("Skip(%d).String() = %q, want %q", s, got, want)
		}
	}
	f(rewrite.SkipNone, "")
	f(rewrite.SkipEmpty, "empty body")
	f(rewrite.SkipNotJSON, "not JSON")
	f(rewrite.SkipTruncated, "truncated JSON")
	f(rewrite.SkipNotObject, "not a JSON object")
	f(rewrite.SkipTrailingData, "trailing data")
	f(rewrite.SkipNotUTF8, "not UTF-8")
	f(rewrite.SkipTooDeep, "nested too deeply")
}
