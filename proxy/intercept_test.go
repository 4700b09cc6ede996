package proxy_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/proxy"
	"github.com/callfix/callfix/rewrite"
)

const (
	callsPath = "/api/v2/conversations/calls"
	jsonCT    = "Content-Type: application/json"
)

// wantForwarded checks that the API upstream received exactly one request
// with this body and a Content-Length that matches it.
func wantForwarded(t *testing.T, r *rig, want string) {
	t.Helper()
	got := only(t, "api", r.api)
	if string(got.Body) != want {
		t.Errorf("upstream body = %s, want %s", got.Body, want)
	}
	if cl := got.Get("Content-Length"); len(cl) != 1 || cl[0] != strconv.Itoa(len(want)) {
		t.Errorf("upstream Content-Length = %q, want [%d]", cl, len(want))
	}
}

func TestIntercept_RewritesAddresses_HeaderBlockOtherwiseKept(t *testing.T) {
	r := startRig(t, rigOptions{})
	in := `{"to":{"to":"15551234567"},"from":{"from":"2ca3b6e8-0000-4000-8000-000000000001"},"callUserId":"2ca3b6e8-0000-4000-8000-000000000001"}`
	resp := r.do("POST " + callsPath + "?x=%2F1 HTTP/1.1\r\nAuthorization: Bearer tok\r\nhost: c.example\r\ncontent-type: application/json\r\ncontent-length: " + strconv.Itoa(len(in)) + "\r\nX-After: 1\r\n\r\n" + in)
	if resp.Status != 200 || string(resp.Body) != string(okBody) {
		t.Errorf("client got %d %s, want the upstream's 200 %s", resp.Status, resp.Body, okBody)
	}
	want := `{"to":{"to":"tel:+15551234567"},"from":{"from":"user:2ca3b6e8-0000-4000-8000-000000000001"},"callUserId":"2ca3b6e8-0000-4000-8000-000000000001"}`
	got := only(t, "api", r.api)
	if string(got.Body) != want {
		t.Errorf("upstream body = %s, want %s", got.Body, want)
	}
	wantHead := r.expand("POST " + callsPath + "?x=%2F1 HTTP/1.1\r\nAuthorization: Bearer tok\r\nhost: {api}\r\ncontent-type: application/json\r\ncontent-length: " + strconv.Itoa(len(want)) + "\r\nX-After: 1\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: c.example\r\n\r\n")
	if string(got.Raw) != wantHead {
		t.Errorf("upstream header block =\n%s\nwant\n%s", got.Raw, wantHead)
	}
}

var okBody = []byte(`{"id":"3f1a9c2e-0000-4000-8000-000000000009","selfUri":"/api/v2/conversations/calls/3f1a9c2e"}`)

// A compressed body is decoded, rewritten, and forwarded as identity: no
// Content-Encoding, and a Content-Length that fits the new body. Header
// names are case-insensitive (RFC 9110, section 5.1).
func TestIntercept_EncodedBody_RewrittenAndForwardedDecoded(t *testing.T) {
	in := []byte(`{"phoneNumber":"(555) 123-4567","callerId":"555.010.0199"}`)
	want := `{"phoneNumber":"tel:+15551234567","callerId":"+15550100199"}`
	f := func(header string, body []byte) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, body, jsonCT, header))
		if resp.Status != 200 {
			t.Errorf("%q: status = %d, want 200: %s", header, resp.Status, resp.Body)
		}
		if r.api.Count() == 0 {
			return
		}
		got := only(t, "api", r.api)
		if string(got.Body) != want {
			t.Errorf("%q: upstream body = %q, want %s", header, got.Body, want)
		}
		if cl := got.Get("Content-Length"); len(cl) != 1 || cl[0] != strconv.Itoa(len(want)) {
			t.Errorf("%q: upstream Content-Length = %q, want [%d]", header, cl, len(want))
		}
		if ce := got.Get("Content-Encoding"); len(ce) != 0 {
			t.Errorf("%q: upstream Content-Encoding = %q, want none", header, ce)
		}
	}
	f("Content-Encoding: gzip", proxy.Gzipped(in))
	f("Content-Encoding: x-gzip", proxy.Gzipped(in))
	f("Content-Encoding: GZIP", proxy.Gzipped(in))
	f("Content-Encoding: deflate", proxy.Zlibbed(in))
	f("Content-Encoding: deflate", proxy.Deflated(in)) // raw DEFLATE, as some clients send
	f("Content-Encoding: br", proxy.Brotlied(in))
	f("content-encoding: gzip", proxy.Gzipped(in))
	f("CONTENT-ENCODING: br", proxy.Brotlied(in))
	f("Content-Encoding: zstd", proxy.Zstded(in))
	f("Content-Encoding: gzip, zstd", proxy.Zstded(proxy.Gzipped(in)))
}

// A compressed body with nothing to change is forwarded as the client sent
// it: still encoded, byte for byte.
func TestIntercept_EncodedBody_Unchanged_ForwardedStillEncoded(t *testing.T) {
	in := []byte(`{"phoneNumber":"tel:+15551234567","callUserId":"2ca3b6e8-0000-4000-8000-000000000001"}`)
	f := func(enc string, body []byte) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, body, jsonCT, "Content-Encoding: "+enc))
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200: %s", enc, resp.Status, resp.Body)
		}
		got := only(t, "api", r.api)
		if !bytes.Equal(got.Body, body) {
			t.Errorf("%s: upstream body = %d bytes sha %s, want the client's %d bytes sha %s", enc, len(got.Body), sha(got.Body), len(body), sha(body))
		}
		if ce := got.Get("Content-Encoding"); len(ce) != 1 || ce[0] != enc {
			t.Errorf("%s: upstream Content-Encoding = %q, want [%s]", enc, ce, enc)
		}
		if cl := got.Get("Content-Length"); len(cl) != 1 || cl[0] != strconv.Itoa(len(body)) {
			t.Errorf("%s: upstream Content-Length = %q, want [%d]", enc, cl, len(body))
		}
	}
	f("gzip", proxy.Gzipped(in))
	f("deflate", proxy.Zlibbed(in))
	f("br", proxy.Brotlied(in))
	f("zstd", proxy.Zstded(in))
	// An encoding callfix cannot read is answered 415
	// (TestIntercept_UnknownCoding_415AndNothingForwarded).
}

// A body that claims an encoding it does not have is refused, not
// forwarded.
func TestIntercept_CorruptEncodedBody_400AndNotForwarded(t *testing.T) {
	f := func(enc string, body []byte) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, body, jsonCT, "Content-Encoding: "+enc))
		wantAPIError(t, enc, resp, 400, "callfix.bad.request")
		none(t, "api", r.api)
	}
	f("gzip", []byte(`{"phoneNumber":"5551234567"}`))
	f("gzip", proxy.Gzipped([]byte(`{"phoneNumber":"5551234567"}`))[:20]) // truncated
	f("br", []byte("\xff\xff\xff\xff definitely not brotli"))
}

// A body callfix cannot decode is recorded as an encoding it refused, in
// every mode: outcome rejected with the status the client got (415 for a
// coding callfix does not know or too many, 400 for a body not encoded as
// its Content-Encoding says), never as a body that is not JSON (no
// skipped), and the log line names the encoding reason.
func TestIntercept_EncodingRefusal_RecordedAsSuch_NotAsNotJSON(t *testing.T) {
	body := []byte(`{"phoneNumber":"5551234567"}`)
	cases := []struct {
		enc    string
		body   []byte
		status int
		reason string
	}{
		{"compress", body, 415, "unsupported_content_encoding"},
		{"gzip, gzip, gzip, gzip, gzip, gzip", body, 415, "too_many_content_codings"},
		{"gzip", body, 400, "bad_content_encoding"},
		{"br", []byte("\xff\xff\xff\xff definitely not brotli"), 400, "bad_content_encoding"},
	}
	for _, mode := range []string{"enforce", "rewrite", "audit"} {
		for _, tc := range cases {
			obs := &recorder{}
			r := startRig(t, rigOptions{observer: obs, flags: map[string]string{"mode": mode}})
			resp := r.do(request("POST", callsPath, tc.body, jsonCT, "Content-Encoding: "+tc.enc))
			wantAPIError(t, mode+" "+tc.enc, resp, tc.status, "callfix.bad.request")
			none(t, "api", r.api)
			if !waitFor(func() bool { return len(obs.records()) > 0 }) {
				t.Fatalf("%s %s: no record", mode, tc.enc)
			}
			g := obs.records()[0]
			if g.Outcome != rewrite.OutcomeRejected || g.Status != tc.status || g.Upstream != 0 || g.Skipped != rewrite.SkipNone ||
				len(g.Changes)+len(g.Problems)+len(g.Kept) != 0 {
				t.Errorf("%s %s: record = outcome %q status %d upstream %d skipped %q, %d changes %d problems; want rejected, %d, 0, not skipped, none",
					mode, tc.enc, g.Outcome, g.Status, g.Upstream, g.Skipped, len(g.Changes), len(g.Problems), tc.status)
			}
			if logs := r.logs.String(); !strings.Contains(logs, `"reason":"`+tc.reason+`"`) || strings.Contains(logs, "not JSON") {
				t.Errorf("%s %s: logs = %s, want reason %s and no \"not JSON\"", mode, tc.enc, logs, tc.reason)
			}
		}
	}
}

// padded returns a JSON call body with a fixable number, exactly n bytes
// long.
func padded(t testing.TB, n int) []byte {
	t.Helper()
	head, tail := `{"phoneNumber":"5551234567","pad":"`, `"}`
	if n < len(head)+len(tail) {
		t.Fatalf("cannot pad to %d bytes", n)
	}
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// limits.max_body_bytes is the most an intercepted body may be: exactly
// the limit is rewritten and forwarded, one byte more is 413 and nothing
// is forwarded, whatever the framing.
func TestIntercept_BodyLimit_ExactlyAtLimitPasses_OneMoreIs413(t *testing.T) {
	const limit = 256
	flags := map[string]string{"limits.max_body_bytes": strconv.Itoa(limit)}
	f := func(name string, size int, chunked bool, wantStatus int) {
		t.Helper()
		r := startRig(t, rigOptions{flags: flags})
		body := padded(t, size)
		raw := request("POST", callsPath, body, jsonCT)
		if chunked {
			raw = request("POST", callsPath, chunk(body, 100), jsonCT, "Transfer-Encoding: chunked")
		}
		resp := r.do(raw)
		if wantStatus == 413 {
			b := wantAPIError(t, name, resp, 413, "callfix.body.too.large")
			if !strings.Contains(b.Message, "256") {
				t.Errorf("%s: message = %q, want it to name the limit", name, b.Message)
			}
			none(t, "api", r.api)
			return
		}
		if resp.Status != wantStatus {
			t.Errorf("%s: status = %d, want %d: %s", name, resp.Status, wantStatus, resp.Body)
		}
		want := strings.Replace(string(body), `"5551234567"`, `"tel:+15551234567"`, 1)
		wantForwarded(t, r, want)
	}
	f("Content-Length at the limit", limit, false, 200)
	f("Content-Length one over", limit+1, false, 413)
	f("chunked at the limit", limit, true, 200)
	f("chunked one over", limit+1, true, 413)
	f("Content-Length far over", 100<<10, false, 413)
	f("chunked far over", 100<<10, true, 413)
}

// Intercepted bodies larger than what fasthttp reads at once (64 KiB) are
// read from the stream and rewritten the same, under the default limit.
func TestIntercept_LargeBodyUnderDefaultLimit_Rewritten(t *testing.T) {
	body := padded(t, 300<<10)
	want := strings.Replace(string(body), `"5551234567"`, `"tel:+15551234567"`, 1)
	for _, chunked := range []bool{false, true} {
		r := startRig(t, rigOptions{})
		raw := request("POST", callsPath, body, jsonCT)
		if chunked {
			raw = request("POST", callsPath, chunk(body, 7000), jsonCT, "Transfer-Encoding: chunked")
		}
		if resp := r.do(raw); resp.Status != 200 {
			t.Errorf("chunked %v: status = %d, want 200: %s", chunked, resp.Status, resp.Body)
		}
		wantForwarded(t, r, want)
		r.stop()
	}
}

// The limit applies to the decoded body: a small gzip that expands past it
// is refused.
func TestIntercept_BodyLimit_AppliesToDecodedBody(t *testing.T) {
	const limit = 256
	flags := map[string]string{"limits.max_body_bytes": strconv.Itoa(limit)}

	r := startRig(t, rigOptions{flags: flags})
	resp := r.do(request("POST", callsPath, proxy.Gzipped(padded(t, limit+1)), jsonCT, "Content-Encoding: gzip"))
	wantAPIError(t, "decoded one over", resp, 413, "callfix.body.too.large")
	none(t, "api", r.api)

	r = startRig(t, rigOptions{flags: flags})
	resp = r.do(request("POST", callsPath, proxy.Gzipped(padded(t, limit)), jsonCT, "Content-Encoding: gzip"))
	if resp.Status != 200 {
		t.Errorf("decoded exactly at the limit: status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, strings.Replace(string(padded(t, limit)), `"5551234567"`, `"tel:+15551234567"`, 1))
}

// In enforce mode an address that cannot be repaired gets Genesys's 400,
// with the number masked, and nothing reaches Genesys.
func TestIntercept_Enforce_Unfixable_400InGenesysFormat_NothingForwarded(t *testing.T) {
	r := startRig(t, rigOptions{})
	resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234","callerId":"+13175550100"}`), jsonCT))
	b := wantAPIError(t, "unfixable", resp, 400, "callfix.invalid.address")
	if len(b.Details) != 1 || b.Details[0].FieldName != "phoneNumber" || b.Details[0].ErrorCode != "callfix.invalid.address.local_only" {
		t.Errorf("details = %+v, want one for phoneNumber with errorCode callfix.invalid.address.local_only", b.Details)
	}
	if b.MessageParams["count"] != "1" || b.MessageParams["problems"] == "" {
		t.Errorf("messageParams = %v, want count 1 and the problems", b.MessageParams)
	}
	if !strings.Contains(b.MessageWithParams, "{count}") {
		t.Errorf("messageWithParams = %q, want the {count} template", b.MessageWithParams)
	}
	if !strings.Contains(b.Message, "phoneNumber") {
		t.Errorf("message = %q, want it to name phoneNumber", b.Message)
	}
	for _, full := range []string{"5551234", "555123", "3175550100"} {
		if bytes.Contains(resp.Body, []byte(full)) {
			t.Errorf("400 body holds the number %q unmasked: %s", full, resp.Body)
		}
	}
	none(t, "api", r.api)
}

// The client's X-Request-Id, when sane, is the contextId.
func TestIntercept_Enforce_ClientRequestIDIsContextID(t *testing.T) {
	f := func(header, want string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234"}`), jsonCT, header))
		b := wantAPIError(t, header, resp, 400, "callfix.invalid.address")
		if b.ContextID != want {
			t.Errorf("%q: contextId = %q, want %q", header, b.ContextID, want)
		}
	}
	f("X-Request-Id: abc-123", "abc-123")
	f("x-request-id: abc-456", "abc-456")

	// One that is not a sane token is replaced by callfix's own.
	r := startRig(t, rigOptions{})
	resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234"}`), jsonCT, `X-Request-Id: a "quoted" id`))
	if b := wantAPIError(t, "unsafe X-Request-Id", resp, 400, "callfix.invalid.address"); strings.Contains(b.ContextID, "quoted") {
		t.Errorf("contextId = %q, want callfix's own ID instead of the unsafe one", b.ContextID)
	}
}

func TestIntercept_RewriteMode_ForwardsUnfixableAndFixesTheRest(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"mode": "rewrite"}})
	resp := r.do(request("POST", callsPath, []byte(`{"participants":[{"address":"5551234"},{"address":"(555) 123-4567"}]}`), jsonCT))
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, `{"participants":[{"address":"5551234"},{"address":"tel:+15551234567"}]}`)
}

func TestIntercept_AuditMode_ForwardsTheOriginalBytes(t *testing.T) {
	obs := &recorder{}
	r := startRig(t, rigOptions{flags: map[string]string{"mode": "audit"}, observer: obs})
	in := []byte("{ \"phoneNumber\" : \"(555) 123-4567\",\n \"participants\":[{\"address\":\"5551234\"}] }")
	resp := r.do(request("POST", callsPath, in, jsonCT))
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	got := only(t, "api", r.api)
	if !bytes.Equal(got.Body, in) {
		t.Errorf("upstream body = %q, want the client's bytes %q", got.Body, in)
	}
	recs := obs.records()
	if len(recs) != 1 || recs[0].Outcome != rewrite.OutcomeAudited || len(recs[0].Changes) != 1 || len(recs[0].Problems) != 1 {
		t.Errorf("records = %+v, want one audited with 1 change and 1 problem", recs)
	}
}

// X-Callfix-Country picks the numbering plan for one request and is not
// forwarded; header names are case-insensitive.
func TestIntercept_CountryHeader_SelectsPlanAndIsRemoved(t *testing.T) {
	f := func(header string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"020 7946 0958"}`), jsonCT, header))
		if resp.Status != 200 {
			t.Errorf("%q: status = %d, want 200: %s", header, resp.Status, resp.Body)
		}
		if r.api.Count() == 0 {
			return
		}
		wantForwarded(t, r, `{"phoneNumber":"tel:+442079460958"}`)
		if got := only(t, "api", r.api); len(got.Get("X-Callfix-Country")) != 0 {
			v := got.Get("X-Callfix-Country")
			t.Errorf("%q: upstream received X-Callfix-Country %q, want it removed", header, v)
		}
	}
	f("X-Callfix-Country: GB")
	f("X-Callfix-Country: gb")
	f("X-Callfix-Country:  GB ")
	f("x-callfix-country: GB")
	f("X-CALLFIX-COUNTRY: GB")
}

// 2079460958 is a number in both plans: London (+44 20 7946 0958) and
// Maine (+1 207 946 0958). A country header the proxy fails to read would
// place a real call to the wrong country.
func TestIntercept_CountryHeader_AnyCase_ChoosesTheCountryCalled(t *testing.T) {
	f := func(header string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		r.do(request("POST", callsPath, []byte(`{"phoneNumber":"2079460958"}`), jsonCT, header))
		if got, want := string(only(t, "api", r.api).Body), `{"phoneNumber":"tel:+442079460958"}`; got != want {
			t.Errorf("%q: upstream body = %s, want %s", header, got, want)
		}
	}
	f("X-Callfix-Country: GB")
	f("x-callfix-country: GB")
	f("X-CALLFIX-COUNTRY: GB")
}

func TestIntercept_BadCountryHeader_400AndNotForwarded(t *testing.T) {
	f := func(header string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT, header))
		b := wantAPIError(t, header, resp, 400, "callfix.bad.request")
		if !strings.Contains(b.Message, "X-Callfix-Country") {
			t.Errorf("%q: message = %q, want it to name X-Callfix-Country", header, b.Message)
		}
		none(t, "api", r.api)
	}
	f("X-Callfix-Country: XX")
	f("X-Callfix-Country: GBR")
	f("X-Callfix-Country: UK")
	f("x-callfix-country: XX")
}

// Only JSON bodies are rewritten: application/json with any parameters, or
// no Content-Type at all.
func TestIntercept_ContentType_SelectsInterception(t *testing.T) {
	in := []byte(`{"phoneNumber":"5551234567"}`)
	fixed := `{"phoneNumber":"tel:+15551234567"}`
	f := func(header string, want string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		var resp *rawResponse
		if header == "" {
			resp = r.do(request("POST", callsPath, in))
		} else {
			resp = r.do(request("POST", callsPath, in, header))
		}
		if resp.Status != 200 {
			t.Errorf("%q: status = %d, want 200: %s", header, resp.Status, resp.Body)
		}
		if got := only(t, "api", r.api); string(got.Body) != want {
			t.Errorf("%q: upstream body = %s, want %s", header, got.Body, want)
		}
	}
	f("Content-Type: text/plain", string(in))
	f("Content-Type: application/x-www-form-urlencoded", string(in))
	f("Content-Type: application/json; charset=utf-8", fixed)
	f("Content-Type: Application/JSON", fixed)
	f("content-type: application/json", fixed)
	f("", fixed)
}

// Both call-creating routes are intercepted; other methods and paths are
// not.
func TestIntercept_Routes(t *testing.T) {
	in := []byte(`{"phoneNumber":"5551234567"}`)
	fixed := `{"phoneNumber":"tel:+15551234567"}`
	f := func(method, path, want string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		resp := r.do(request(method, path, in, jsonCT))
		if resp.Status != 200 {
			t.Errorf("%s %s: status = %d, want 200: %s", method, path, resp.Status, resp.Body)
		}
		got := only(t, "api", r.api)
		if string(got.Body) != want || got.Target != path {
			t.Errorf("%s %s: upstream got %s %s, want %s %s", method, path, got.Target, got.Body, path, want)
		}
	}
	f("POST", callsPath, fixed)
	f("POST", callsPath+"?foo=bar", fixed)
	f("POST", callsPath+"/user/2ca3b6e8-0000-4000-8000-000000000001", fixed)
	f("PUT", callsPath, string(in))
	f("PATCH", callsPath+"/abc", string(in))
	f("POST", callsPath+"/abc/participants", string(in))
	f("POST", "/api/v2/conversations/emails", string(in))
}

// A body that is not JSON, or not an object, is forwarded unchanged in the
// rewrite and audit modes; enforce mode refuses it
// (TestIntercept_UnreadableBody_EnforceRefuses_OtherModesForward) unless
// it is empty.
func TestIntercept_NotJSONBody_ForwardedUnchanged(t *testing.T) {
	f := func(mode, in string) {
		t.Helper()
		r := startRig(t, rigOptions{flags: map[string]string{"mode": mode}})
		resp := r.do(request("POST", callsPath, []byte(in), jsonCT))
		if resp.Status != 200 {
			t.Errorf("%s %q: status = %d, want 200: %s", mode, in, resp.Status, resp.Body)
		}
		if got := only(t, "api", r.api); string(got.Body) != in {
			t.Errorf("%s %q: upstream body = %q, want it unchanged", mode, in, got.Body)
		}
	}
	for _, mode := range []string{"rewrite", "audit"} {
		f(mode, "not json")
		f(mode, `["5551234567"]`)
		f(mode, `{"phoneNumber":"5551234567"`)
		f(mode, "")
	}
	f("enforce", "")
}

// Expect: 100-continue is answered by callfix, which then reads the body;
// the upstream gets the rewritten body and no Expect.
func TestIntercept_Expect100Continue(t *testing.T) {
	r := startRig(t, rigOptions{})
	c := dialRaw(t, r.addr)
	defer c.Close()
	body := `{"phoneNumber":"5551234567"}`
	c.send("POST " + callsPath + " HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	interim := c.read()
	if interim.Status != 100 {
		t.Fatalf("status = %d, want 100 Continue before the body is sent", interim.Status)
	}
	c.send(body)
	if resp := c.read(); resp.Status != 200 {
		t.Errorf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	wantForwarded(t, r, `{"phoneNumber":"tel:+15551234567"}`)
	if got := only(t, "api", r.api); len(got.Get("Expect")) != 0 {
		v := got.Get("Expect")
		t.Errorf("upstream received Expect %q, want none", v)
	}
}

// The observer gets one record per intercepted request, with the client's
// and the upstream's status and what changed.
func TestIntercept_Observer_RecordsEachRequest(t *testing.T) {
	obs := &recorder{}
	r := startRig(t, rigOptions{observer: obs})
	r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234567"}`), jsonCT, "X-Request-Id: rec-1"))
	r.do(request("POST", callsPath, []byte(`{"phoneNumber":"5551234"}`), jsonCT, "X-Request-Id: rec-2"))
	r.do(request("GET", "/api/v2/users/me", nil))
	recs := obs.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2 (one per intercepted request): %+v", len(recs), recs)
	}
	if g := recs[0]; g.RequestID != "rec-1" || g.Outcome != rewrite.OutcomeRewritten || g.Status != 200 || g.Upstream != 200 ||
		len(g.Changes) != 1 || g.Country != "US" || g.Route == "" || g.Duration <= 0 || g.Duration > time.Minute {
		t.Errorf("record 1 = %+v, want rec-1 rewritten, status 200, upstream 200, one change, country US", g)
	}
	if g := recs[1]; g.RequestID != "rec-2" || g.Outcome != rewrite.OutcomeRejected || g.Status != 400 || g.Upstream != 0 || len(g.Problems) != 1 {
		t.Errorf("record 2 = %+v, want rec-2 rejected, status 400, upstream 0, one problem", g)
	}
}
