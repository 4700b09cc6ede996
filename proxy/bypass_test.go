package proxy_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/callfix/callfix/proxy"
	"github.com/callfix/callfix/rewrite"
)

// unfixable is a call body enforce mode must never forward.
var unfixable = []byte(`{"phoneNumber":"abc"}`)

// A path that means the calls endpoint under some reading (an upstream
// that decodes %63, removes dot segments, merges slashes, drops ;params or
// decodes %2F) must not reach an upstream uninspected. callfix refuses any
// path that is not in normal form with 400 callfix.bad.request (README,
// "Paths"): routing and rule matching then see exactly the path the
// upstream gets. In particular /oauth/../api/... never reaches the login
// host.
func TestPaths_NotInNormalForm_400AndNothingForwarded(t *testing.T) {
	f := func(target string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		b := refusedRaw(t, r, target, request("POST", target, unfixable, jsonCT), 400, "callfix.bad.request")
		if !strings.Contains(b.Message, "normal form") {
			t.Errorf("%s: message = %q, want it to say the path is not in normal form", target, b.Message)
		}
	}
	// Percent-encoded unreserved characters.
	f("/api/v2/conversations/%63alls")
	f("/api/v2/conversations/%63%61%6c%6c%73")
	f("/%61pi/v2/conversations/calls")
	f("/api/v2/conversations/call%73")
	f("/api/v2/conversations/calls%2Duser")
	f("/api/v2/conversations/calls/user/%7Eme")
	// Dot segments, literal and encoded.
	f("/api/v2/x/../conversations/calls")
	f("/api/v2/./conversations/calls")
	f("/api/v2/conversations/calls/.")
	f("/api/v2/conversations/calls/x/..")
	f("/api/v2/x/%2e%2e/conversations/calls")
	f("/api/v2/x/%2E%2E/conversations/calls")
	f("/api/v2/x/.%2e/conversations/calls")
	f("/api/v2/%2e/conversations/calls")
	// Empty segments.
	f("//api/v2/conversations/calls")
	f("/api//v2/conversations/calls")
	f("/api/v2/conversations//calls")
	// Path parameters, encoded slashes and backslashes, double encoding.
	f("/api/v2/conversations/calls;x=1")
	f("/api/v2/conversations;x=1/calls")
	f("/api/v2/conversations%2Fcalls")
	f("/api/v2/conversations%2fcalls")
	f("/api/v2/conversations%5Ccalls")
	f("/api/v2/conversations\\calls")
	f("/api/v2/conversations/%2563alls")
	f("/api/v2/conversations/calls%00")
	f("/api/v2/conversations/calls%zz")
	f("/api/v2/conversations/calls%4")
	// Into and out of the login host.
	f("/oauth/../api/v2/conversations/calls")
	f("/oauth/%2e%2e/api/v2/conversations/calls")
	f("/api/v2/../../oauth/token")
	f("/%6fauth/token")
	// The same in absolute form.
	f("http://c.example/api/v2/conversations/%63alls")
	f("http://c.example/oauth/../api/v2/conversations/calls")

	// A fragment is no part of a request target (RFC 9112 section 3.2).
	r := startRig(t, rigOptions{})
	refusedRaw(t, r, "fragment", request("POST", "/api/v2/conversations#/calls", unfixable, jsonCT), 400, "callfix.bad.request")
}

// With gateway prefixes, a prefixed path is checked as a whole too.
func TestPaths_NotInNormalForm_WithGatewayPrefixes_400(t *testing.T) {
	gw := map[string]string{"gateway.login_prefixes": "/login", "gateway.api_prefixes": "/api"}
	f := func(target string) {
		t.Helper()
		r := startRig(t, rigOptions{flags: gw})
		refusedRaw(t, r, target, request("POST", target, unfixable, jsonCT), 400, "callfix.bad.request")
	}
	f("/login/../api/api/v2/conversations/calls")
	f("/login/oauth/../../api/v2/conversations/calls")
	f("/api/api/v2/conversations/%63alls")
	f("/api//api/v2/conversations/calls")
}

// Paths in normal form are untouched: percent-encoded reserved and
// non-ASCII characters, a trailing slash, a query with anything in it.
// A trailing slash on the calls path is still intercepted.
func TestPaths_InNormalForm_ForwardedByteForByte(t *testing.T) {
	f := func(target string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		if resp := r.do(request("GET", target, nil)); resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200: %s", target, resp.Status, resp.Body)
		}
		if got := only(t, "api", r.api); got.Target != target {
			t.Errorf("upstream target = %q, want %q", got.Target, target)
		}
	}
	f("/api/v2/users/me/profile%20image")
	f("/api/v2/flows/datatables/abc/rows/%E2%9C%93%40x%3Ay")
	f("/api/v2/users/")
	f("/api/v2/users/me?x=%2F..%2e//;&y=%63")
	f("/")

	r := startRig(t, rigOptions{})
	resp := r.do(request("POST", callsPath+"/", unfixable, jsonCT))
	wantAPIError(t, "trailing slash", resp, 400, "callfix.invalid.address")
	none(t, "api", r.api)
}

// RFC 9110 section 8.3 and 8.4: the Content-Type and Content-Encoding of
// an intercepted request are each one header. Two Content-Types let callfix
// decide on one and Genesys on the other; two Content-Encodings stack
// codings. Both are answered 400 on intercepted routes.
func TestIntercept_DuplicateContentTypeOrEncoding_400AndNothingForwarded(t *testing.T) {
	f := func(name string, headers ...string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		refusedRaw(t, r, name, request("POST", callsPath, unfixable, headers...), 400, "callfix.bad.request")
	}
	f("two Content-Types, JSON last", "Content-Type: text/plain", jsonCT)
	f("two Content-Types, JSON first", jsonCT, "Content-Type: text/plain")
	f("two JSON Content-Types", jsonCT, jsonCT)
	f("two Content-Encodings", jsonCT, "Content-Encoding: identity", "Content-Encoding: identity")
	f("identity and gzip headers", jsonCT, "Content-Encoding: identity", "Content-Encoding: gzip")
}

// A list of codings is undone in order (the last applied is undone first),
// so that the body under them is inspected; an unknown coding is 415.
func TestIntercept_StackedCodings_DecodedAndInspected(t *testing.T) {
	reject := func(name, enc string, body []byte) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, body, jsonCT, "Content-Encoding: "+enc))
		wantAPIError(t, name, resp, 400, "callfix.invalid.address")
		none(t, "api", r.api)
	}
	reject("identity, gzip", "identity, gzip", proxy.Gzipped(unfixable))
	reject("gzip, identity", "gzip, identity", proxy.Gzipped(unfixable))
	reject("gzip, gzip", "gzip, gzip", proxy.Gzipped(proxy.Gzipped(unfixable)))
	reject("deflate, gzip", "deflate, gzip", proxy.Gzipped(proxy.Zlibbed(unfixable)))
	reject("gzip,gzip without space", "gzip,gzip", proxy.Gzipped(proxy.Gzipped(unfixable)))
	reject("upper case", "GZIP, Identity", proxy.Gzipped(unfixable))

	// Rewritten: forwarded decoded, without Content-Encoding.
	r := startRig(t, rigOptions{})
	resp := r.do(request("POST", callsPath, proxy.Gzipped(proxy.Gzipped([]byte(`{"phoneNumber":"(555) 123-4567"}`))), jsonCT, "Content-Encoding: gzip, gzip"))
	if resp.Status != 200 {
		t.Errorf("gzip, gzip rewritten: status = %d: %s", resp.Status, resp.Body)
	}
	got := only(t, "api", r.api)
	if string(got.Body) != `{"phoneNumber":"tel:+15551234567"}` || len(got.Get("Content-Encoding")) != 0 {
		t.Errorf("upstream got Content-Encoding %q body %q, want the rewritten body decoded", got.Get("Content-Encoding"), got.Body)
	}

	// Wrongly stacked: the body is not what the list says.
	r2 := startRig(t, rigOptions{})
	resp = r2.do(request("POST", callsPath, proxy.Gzipped(unfixable), jsonCT, "Content-Encoding: gzip, gzip"))
	wantAPIError(t, "one gzip for two", resp, 400, "callfix.bad.request")
	none(t, "api", r2.api)
}

// Codings callfix cannot undo make the body unreadable: 415, in every
// mode, on intercepted routes; the same request on another route is
// passed through.
func TestIntercept_UnknownCoding_415AndNothingForwarded(t *testing.T) {
	f := func(mode, enc string) {
		t.Helper()
		r := startRig(t, rigOptions{flags: map[string]string{"mode": mode}})
		resp := r.do(request("POST", callsPath, []byte("\x1f\x9d not really compress"), jsonCT, "Content-Encoding: "+enc))
		b := wantAPIError(t, mode+" "+enc, resp, 415, "callfix.bad.request")
		if !strings.Contains(b.Message, "Content-Encoding") {
			t.Errorf("%s %s: message = %q, want it to name Content-Encoding", mode, enc, b.Message)
		}
		none(t, "api", r.api)
	}
	for _, mode := range []string{"enforce", "rewrite", "audit"} {
		f(mode, "compress")
		f(mode, "x-bzip2")
		f(mode, "gzip, compress")
		f(mode, "zstd, compress")
		f(mode, "identity, x-unknown")
	}
	r := startRig(t, rigOptions{})
	if resp := r.do(request("POST", "/api/v2/analytics/x", []byte("zz"), jsonCT, "Content-Encoding: compress")); resp.Status != 200 {
		t.Errorf("pass-through compress: status = %d, want 200", resp.Status)
	}
	only(t, "api", r.api)
}

// limits.max_content_codings at its edge: as many codings as the limit are
// undone; one more is 415 (each is bounded by limits.max_body_bytes, but a
// chain of them multiplies the work).
func TestIntercept_MaxContentCodings_AtLimitDecoded_OneMoreIs415(t *testing.T) {
	flags := map[string]string{"limits.max_content_codings": "3"}
	r := startRig(t, rigOptions{flags: flags})
	resp := r.do(request("POST", callsPath, proxy.Gzipped(proxy.Gzipped(proxy.Gzipped(unfixable))), jsonCT, "Content-Encoding: gzip, gzip, identity, gzip"))
	wantAPIError(t, "three codings", resp, 400, "callfix.invalid.address")
	r2 := startRig(t, rigOptions{flags: flags})
	resp = r2.do(request("POST", callsPath, proxy.Gzipped(proxy.Gzipped(proxy.Gzipped(proxy.Gzipped(unfixable)))), jsonCT, "Content-Encoding: gzip, gzip, gzip, gzip"))
	b := wantAPIError(t, "four codings", resp, 415, "callfix.bad.request")
	if !strings.Contains(b.Message, "limits.max_content_codings") {
		t.Errorf("message = %q, want it to name limits.max_content_codings", b.Message)
	}
	none(t, "api", r.api)
	none(t, "api", r2.api)
}

func utf16LE(s string, bom bool) []byte {
	var b bytes.Buffer
	if bom {
		b.Write([]byte{0xff, 0xfe})
	}
	for _, u := range utf16.Encode([]rune(s)) {
		binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

func utf16BE(s string) []byte {
	var b bytes.Buffer
	for _, u := range utf16.Encode([]rune(s)) {
		binary.Write(&b, binary.BigEndian, u)
	}
	return b.Bytes()
}

// Genesys's JSON reader takes a UTF-8 byte-order mark, UTF-16 and data
// after the top-level object. In enforce mode a body callfix cannot read
// as exactly one JSON object is answered 400 callfix.bad.request saying
// why; an empty body is forwarded. The rewrite and audit modes forward
// such bodies as sent and record why they were not inspected.
func TestIntercept_UnreadableBody_EnforceRefuses_OtherModesForward(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001)
	cases := []struct {
		name string
		body []byte
		skip rewrite.Skip
		why  string
	}{
		{"trailing object", []byte(`{"phoneNumber":"5551234567"} {"phoneNumber":"abc"}`), rewrite.SkipTrailingData, "after the JSON object"},
		{"trailing garbage", []byte(`{"phoneNumber":"abc"}x`), rewrite.SkipTrailingData, "after the JSON object"},
		{"UTF-16LE", utf16LE(string(unfixable), false), rewrite.SkipNotUTF8, "UTF-8"},
		{"UTF-16LE with BOM", utf16LE(string(unfixable), true), rewrite.SkipNotUTF8, "UTF-8"},
		{"UTF-16BE", utf16BE(string(unfixable)), rewrite.SkipNotUTF8, "UTF-8"},
		{"nested too deeply", []byte(deep), rewrite.SkipTooDeep, "nest"},
		{"not JSON", []byte("phoneNumber=abc"), rewrite.SkipNotJSON, "not JSON"},
		{"truncated", []byte(`{"phoneNumber":"abc"`), rewrite.SkipTruncated, "truncated"},
		{"an array", []byte(`[{"phoneNumber":"abc"}]`), rewrite.SkipNotObject, "not a JSON object"},
	}
	for _, c := range cases {
		obs := &recorder{}
		r := startRig(t, rigOptions{observer: obs})
		resp := r.do(request("POST", callsPath, c.body, jsonCT))
		b := wantAPIError(t, "enforce, "+c.name, resp, 400, "callfix.bad.request")
		if !strings.Contains(b.Message, c.why) {
			t.Errorf("enforce, %s: message = %q, want it to say why (%q)", c.name, b.Message, c.why)
		}
		none(t, "api", r.api)
		if recs := obs.records(); len(recs) != 1 || recs[0].Skipped != c.skip || recs[0].Outcome != rewrite.OutcomeRejected {
			t.Errorf("enforce, %s: records = %+v, want one rejected, skipped %q", c.name, recs, c.skip)
		}
		for _, mode := range []string{"rewrite", "audit"} {
			obs := &recorder{}
			r := startRig(t, rigOptions{observer: obs, flags: map[string]string{"mode": mode}})
			if resp := r.do(request("POST", callsPath, c.body, jsonCT)); resp.Status != 200 {
				t.Errorf("%s, %s: status = %d, want 200: %s", mode, c.name, resp.Status, resp.Body)
			}
			if got := only(t, "api", r.api); !bytes.Equal(got.Body, c.body) {
				t.Errorf("%s, %s: upstream body = %.80q, want it as sent", mode, c.name, got.Body)
			}
			if recs := obs.records(); len(recs) != 1 || recs[0].Skipped != c.skip {
				t.Errorf("%s, %s: records = %+v, want one skipped %q", mode, c.name, recs, c.skip)
			}
			r.stop()
		}
		r.stop()
	}
}

// An empty body and whitespace are forwarded in enforce mode too; a body
// after a UTF-8 byte-order mark is inspected, and the mark is kept.
func TestIntercept_EmptyBodyAndUTF8BOM_Enforce(t *testing.T) {
	for _, body := range []string{"", "  \r\n"} {
		r := startRig(t, rigOptions{})
		if resp := r.do(request("POST", callsPath, []byte(body), jsonCT)); resp.Status != 200 {
			t.Errorf("%q: status = %d, want 200: %s", body, resp.Status, resp.Body)
		}
		if got := only(t, "api", r.api); string(got.Body) != body {
			t.Errorf("%q: upstream body = %q", body, got.Body)
		}
		r.stop()
	}
	r := startRig(t, rigOptions{})
	resp := r.do(request("POST", callsPath, []byte("\ufeff{\"phoneNumber\":\"(555) 123-4567\"}"), jsonCT))
	if resp.Status != 200 {
		t.Errorf("BOM: status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, "\ufeff{\"phoneNumber\":\"tel:+15551234567\"}")
	r2 := startRig(t, rigOptions{})
	resp = r2.do(request("POST", callsPath, []byte("\ufeff"+string(unfixable)), jsonCT))
	wantAPIError(t, "BOM, unfixable", resp, 400, "callfix.invalid.address")
	none(t, "api", r2.api)
}
