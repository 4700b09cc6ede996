package proxy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
)

// fasthttp's parse errors quote what they refuse: a header value, a
// request target, a trailer. None of it may reach a log line or an error
// body. Each request below carries a secret inside the part fasthttp (or
// callfix) refuses; the log records a stable reason code and, where one is
// concerned, the header's name.
func TestLogs_RefusedRequests_NoHeaderValueInLogsOrBodies(t *testing.T) {
	type leak struct {
		name, raw, secret string
		header            string // the header name the log should carry
	}
	basic := base64.StdEncoding.EncodeToString([]byte("user:pw-SECRET-CR"))
	chunked := func(target, trailer string) string {
		return "POST " + target + " HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\n{}\r\n0\r\n" + trailer + "\r\n\r\n"
	}
	cases := []leak{
		{"NUL in a token", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer tok-SECRET-NUL\x00\r\n\r\n", "tok-SECRET-NUL", "Authorization"},
		{"bare CR in Basic credentials", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nAuthorization: Basic " + basic + "\rX\r\n\r\n", basic, "Authorization"},
		{"phone number in a header", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nX-Caller: +15557654321\x01\r\n\r\n", "5557654321", "X-Caller"},
		{"phone number in a folded header", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nX-Caller: a\r\n +15557654322\r\n\r\n", "5557654322", "X-Caller"},
		{"DEL in a cookie", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nCookie: session=SECRET-DEL\x7f\r\n\r\n", "SECRET-DEL", "Cookie"},
		{"secret in a line without a colon", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nBearer tok-SECRET-NOCOLON\r\n\r\n", "tok-SECRET-NOCOLON", ""},
		{"control character in the target", "GET /api/v2/users/me?access_token=tok-SECRET-URI\x01 HTTP/1.1\r\nHost: c\r\n\r\n", "tok-SECRET-URI", ""},
		{"bad trailer, pass-through", chunked("/api/v2/analytics/x", "X-Auth: Bearer tok-SECRET-TRAILER1\x01"), "tok-SECRET-TRAILER1", ""},
		{"bad trailer, intercepted", chunked(callsPath, "X-Auth: Bearer tok-SECRET-TRAILER2\x01"), "tok-SECRET-TRAILER2", ""},
		{"bad trailer, login", chunked("/oauth/token", "X-Auth: Bearer tok-SECRET-TRAILER3\x01"), "tok-SECRET-TRAILER3", ""},
		{"forbidden trailer", chunked("/api/v2/analytics/x", "Authorization: Bearer tok-SECRET-TRAILER4"), "tok-SECRET-TRAILER4", ""},
		{"oversized header", "GET /api/v2/users/me HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer tok-SECRET-BIG" + strings.Repeat("a", 20<<10) + "\r\n\r\n", "tok-SECRET-BIG", ""},
		{"secret in an ambiguous request", "POST /api/v2/x HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer tok-SECRET-CLTE\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "tok-SECRET-CLTE", ""},
	}
	// country set: the start-up line about the region's country is not a
	// refusal (TestCountry_FromRegion_OneLogLineAtStartAndReload holds it).
	r := startRig(t, rigOptions{flags: map[string]string{"country": "US"}})
	for _, c := range cases {
		conn := dialRaw(t, r.addr)
		conn.send(c.raw)
		resp, err := conn.readErr()
		conn.Close()
		if err != nil {
			t.Errorf("%s: %v, want a 4xx answer", c.name, err)
			continue
		}
		if resp.Status < 400 || resp.Status > 499 {
			t.Errorf("%s: status = %d, want a 4xx", c.name, resp.Status)
		}
		if strings.Contains(string(resp.Raw)+string(resp.Body), c.secret) {
			t.Errorf("%s: the answer holds the secret: %s%s", c.name, resp.Raw, resp.Body)
		}
	}
	time.Sleep(100 * time.Millisecond) // the last log lines
	logs := r.logs.String()
	for _, c := range cases {
		if strings.Contains(logs, c.secret) {
			t.Errorf("%s: the log holds the secret %q:\n%s", c.name, c.secret, logs)
		}
	}
	none(t, "api", r.api)
	none(t, "login", r.login)

	// Each refusal is logged with a reason code, and with the header's
	// name where one header is to blame.
	var refusals []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		if m["level"] != "DEBUG" {
			refusals = append(refusals, m)
		}
		if _, has := m["error"]; has && m["msg"] != "upstream request failed" {
			t.Errorf("log line carries an error text: %s", l)
		}
	}
	if len(refusals) < len(cases) {
		t.Errorf("%d log lines above debug, want one per refused request (%d):\n%s", len(refusals), len(cases), logs)
	}
	for _, m := range refusals {
		if reason, _ := m["reason"].(string); reason == "" || strings.ContainsAny(reason, " \"") {
			t.Errorf("log line without a stable reason code: %v", m)
		}
	}
	for _, c := range cases {
		if c.header != "" && !strings.Contains(logs, `"header":"`+c.header+`"`) {
			t.Errorf("%s: no log line names the header %s:\n%s", c.name, c.header, logs)
		}
	}
}

// manyAddresses is a call body with n participants whose address cannot be
// repaired.
func manyAddresses(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"participants":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"address":"a"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// One request with thousands of unfixable addresses (well under the body
// limit) must not produce an answer proportional to them: details and the
// list in the message stop at limits.max_details (20), and the message
// gives the total. The audit record lists as many and counts them all.
func TestIntercept_ManyProblems_AnswerAndAuditBounded(t *testing.T) {
	audit := &testsupport.Buffer{}
	r := startRig(t, rigOptions{telemetry: func(*config.Config) *telemetry.Telemetry {
		tel, err := telemetry.New(context.Background(), telemetry.Options{AuditWriter: audit})
		if err != nil {
			t.Fatal(err)
		}
		return tel
	}})
	const n = 20000
	body := manyAddresses(n)
	resp := r.do(request("POST", callsPath, body, jsonCT))
	b := wantAPIError(t, "many problems", resp, 400, "callfix.invalid.address")
	if len(b.Details) != 20 {
		t.Errorf("details has %d entries, want 20", len(b.Details))
	}
	if !strings.Contains(b.Message, strconv.Itoa(n)) || !strings.Contains(b.Message, strconv.Itoa(n-20)+" more") {
		t.Errorf("message = %.300q, want the total %d and the %d not listed", b.Message, n, n-20)
	}
	if b.MessageParams["count"] != strconv.Itoa(n) {
		t.Errorf("messageParams.count = %q, want %d", b.MessageParams["count"], n)
	}
	if len(resp.Body) > 16<<10 {
		t.Errorf("answer is %d bytes for a %d-byte request, want it bounded", len(resp.Body), len(body))
	}
	none(t, "api", r.api)
	r.stop()
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(audit.String())), &rec); err != nil {
		t.Fatalf("audit record: %v: %.300s", err, audit.String())
	}
	if p, _ := rec["problems"].([]any); len(p) != 20 {
		t.Errorf("audit problems has %d entries, want 20", len(p))
	}
	if got, _ := rec["problems_total"].(float64); got != n {
		t.Errorf("audit problems_total = %v, want %d", rec["problems_total"], n)
	}
	if len(audit.String()) > 16<<10 {
		t.Errorf("audit record is %d bytes, want it bounded", len(audit.String()))
	}
}

// limits.max_details at its edge: as many problems as the limit are all
// listed and nothing is said to be left out; one more is left out and
// counted.
func TestIntercept_MaxDetails_AtLimitAllListed_OneMoreCounted(t *testing.T) {
	f := func(n int, wantDetails int, wantMore bool) {
		t.Helper()
		r := startRig(t, rigOptions{flags: map[string]string{"limits.max_details": "3"}})
		resp := r.do(request("POST", callsPath, manyAddresses(n), jsonCT))
		b := wantAPIError(t, strconv.Itoa(n), resp, 400, "callfix.invalid.address")
		if len(b.Details) != wantDetails {
			t.Errorf("%d problems: %d details, want %d", n, len(b.Details), wantDetails)
		}
		if more := strings.Contains(b.Message, "more"); more != wantMore {
			t.Errorf("%d problems: message = %q, want a count of the rest: %v", n, b.Message, wantMore)
		}
		if got := strings.Count(b.Message, "participants["); got != wantDetails {
			t.Errorf("%d problems: message lists %d fields, want %d: %q", n, got, wantDetails, b.Message)
		}
	}
	f(3, 3, false)
	f(4, 3, true)
}
