package proxy_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
	"github.com/callfix/callfix/proxy"
)

// tokenLogin answers a token exchange with access token AT-<n> for the
// n-th exchange, like Genesys's login host; 401 for the client "denied".
func tokenLogin(r *upstreamtest.Request) upstreamtest.Response {
	if r.Target != "/oauth/token" {
		return upstreamtest.OK(r)
	}
	if strings.Contains(string(r.Body), "client_id=denied") {
		return upstreamtest.Response{Status: 401, Body: []byte(`{"error":"invalid_client"}`)}
	}
	return upstreamtest.Response{Status: 200, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/json"}},
		Body: []byte(`{"access_token":"AT-` + strings.TrimPrefix(r.Target, "/oauth/token") + `secret-token-value","token_type":"bearer","expires_in":86400}`)}
}

const callBody = `{"phoneNumber":"(555) 123-4567"}`

func callWithToken(token string, headers ...string) string {
	h := append([]string{"Content-Type: application/json", "Authorization: Bearer " + token}, headers...)
	return request("POST", "/api/v2/conversations/calls", []byte(callBody), h...)
}

// The token exchange is learnt from HTTP Basic credentials and from a
// client_id form field; a request with the issued token then carries the
// client ID; the audit record has it, and neither the secret nor the token.
func TestTokenExchange_LearnsTheClient(t *testing.T) {
	f := func(name string, exchange string, wantClient string) {
		t.Run(name, func(t *testing.T) {
			r := startOtelRig(t, map[string]string{"mode": "audit"}, "")
			r.rig.login.SetHandler(tokenLogin)
			resp := r.rig.do(exchange)
			if resp.Status != 200 {
				t.Fatalf("token exchange answered %d: %s", resp.Status, resp.Body)
			}
			resp = r.rig.do(callWithToken("AT-secret-token-value"))
			if resp.Status != 200 {
				t.Fatalf("call answered %d", resp.Status)
			}
			rec := r.auditRecord(t, 1)
			if rec["client_id"] != wantClient || !regexp.MustCompile(`^tok-[0-9a-f]{16}$`).MatchString(rec["token_id"].(string)) {
				t.Errorf("audit client_id %q token_id %q, want %q and a token ID", rec["client_id"], rec["token_id"], wantClient)
			}
			if a := r.audit.String(); strings.Contains(a, "s3cret") || strings.Contains(a, "secret-token-value") {
				t.Errorf("the audit log holds the secret or the token:\n%s", a)
			}
			if l := r.rig.logs.String(); strings.Contains(l, "s3cret") || strings.Contains(l, "secret-token-value") {
				t.Errorf("the log holds the secret or the token:\n%s", l)
			}
			// The exchange reached Genesys byte for byte.
			got := r.rig.login.Requests()[0]
			if !strings.Contains(exchange, string(got.Body)) || len(got.Body) == 0 {
				t.Errorf("the login host got body %q", got.Body)
			}
		})
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("crm-legacy:s3cret"))
	f("basic", request("POST", "/oauth/token", []byte("grant_type=client_credentials"),
		"Content-Type: application/x-www-form-urlencoded", "Authorization: "+basic), "crm-legacy")
	f("form", request("POST", "/oauth/token", []byte("grant_type=client_credentials&client_id=form-client&client_secret=s3cret"),
		"Content-Type: application/x-www-form-urlencoded"), "form-client")
	f("basic wins over the form", request("POST", "/oauth/token", []byte("grant_type=client_credentials&client_id=form-client"),
		"Content-Type: application/x-www-form-urlencoded", "Authorization: "+basic), "crm-legacy")
}

// An answer the login host compressed (SDKs send Accept-Encoding) is
// learnt too, and reaches the client as it was sent.
func TestTokenExchange_CompressedAnswer(t *testing.T) {
	f := func(coding string, encode func([]byte) []byte) {
		t.Helper()
		r := startOtelRig(t, map[string]string{"mode": "audit"}, "")
		answer := encode([]byte(`{"access_token":"AT-` + coding + `","token_type":"bearer","expires_in":3600}`))
		r.rig.login.SetHandler(func(*upstreamtest.Request) upstreamtest.Response {
			return upstreamtest.Response{Status: 200, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Encoding", Value: coding}}, Body: answer}
		})
		resp := r.rig.do(request("POST", "/oauth/token", []byte("grant_type=client_credentials&client_id="+coding+"-client"),
			"Content-Type: application/x-www-form-urlencoded", "Accept-Encoding: "+coding))
		if resp.Status != 200 || !bytes.Equal(resp.Body, answer) {
			t.Fatalf("%s: the client got %d and %d bytes, want 200 and the compressed answer", coding, resp.Status, len(resp.Body))
		}
		r.rig.do(callWithToken("AT-" + coding))
		if got := r.auditRecord(t, 1)["client_id"]; got != coding+"-client" {
			t.Errorf("%s: client_id = %v, want %s-client", coding, got, coding)
		}
	}
	f("gzip", proxy.Gzipped)
	f("br", proxy.Brotlied)
	f("zstd", proxy.Zstded)
}

// A token whose exchange this replica did not see, or that Genesys
// refused, gives a token ID and no client ID; no token gives neither.
func TestTokenExchange_FingerprintFallback(t *testing.T) {
	r := startOtelRig(t, map[string]string{"mode": "audit", "identity.token_key": "replica-key"}, "")
	r.rig.login.SetHandler(tokenLogin)
	r.rig.do(request("POST", "/oauth/token", []byte("grant_type=client_credentials&client_id=denied&client_secret=x"),
		"Content-Type: application/x-www-form-urlencoded"))
	r.rig.do(callWithToken("AT-secret-token-value"))
	rec := r.auditRecord(t, 1)
	if _, ok := rec["client_id"]; ok || rec["token_id"] == nil {
		t.Errorf("refused exchange: client_id %v, token_id %v; want only a token ID", rec["client_id"], rec["token_id"])
	}
	first := rec["token_id"]

	// Another replica with the same key gives the same token ID.
	other := startOtelRig(t, map[string]string{"mode": "audit", "identity.token_key": "replica-key"}, "")
	other.rig.do(callWithToken("AT-secret-token-value"))
	if got := other.auditRecord(t, 1)["token_id"]; got != first {
		t.Errorf("token ID on another replica with the same key = %v, want %v", got, first)
	}
	// No Authorization: neither.
	r.rig.do(request("POST", "/api/v2/conversations/calls", []byte(callBody), "Content-Type: application/json"))
	rec = r.auditRecord(t, 2)
	if _, ok := rec["token_id"]; ok {
		t.Errorf("a request without a token has token_id %v", rec["token_id"])
	}
}

// server.trusted_proxies: the first X-Forwarded-For hop from a trusted
// peer, the peer otherwise; identity.max_user_agent_bytes cuts the agent.
func TestIdentity_AddressAndUserAgent(t *testing.T) {
	f := func(trusted string, wantAddr string) {
		t.Helper()
		r := startOtelRig(t, map[string]string{"mode": "audit", "server.trusted_proxies": trusted, "identity.max_user_agent_bytes": "8"}, "")
		r.rig.do(callWithToken("AT-1", "X-Forwarded-For: 203.0.113.9, 10.0.0.1", "User-Agent: LegacyCRM/4.2"))
		rec := r.auditRecord(t, 1)
		if rec["client_address"] != wantAddr || rec["user_agent"] != "LegacyCR" {
			t.Errorf("trusted %q: client_address %v, user_agent %v; want %s, LegacyCR", trusted, rec["client_address"], rec["user_agent"], wantAddr)
		}
	}
	f("127.0.0.1", "203.0.113.9")
	f("127.0.0.0/8", "203.0.113.9")
	f("127.0.0.2", "127.0.0.1") // the peer is not that proxy
	f("", "127.0.0.1")
}

// auditRecord returns the n-th audit record (from 1), waiting for it: a
// record is written once the client has its answer.
func (r *otelRig) auditRecord(t *testing.T, n int) map[string]any {
	t.Helper()
	var lines []string
	if !waitFor(func() bool {
		lines = strings.Split(strings.TrimSpace(r.audit.String()), "\n")
		return len(lines) >= n && lines[0] != ""
	}) {
		t.Fatalf("%d audit records, want %d:\n%s", len(lines), n, r.audit.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[n-1]), &m); err != nil {
		t.Fatalf("audit record %q: %v", lines[n-1], err)
	}
	return m
}

// clients: and a rule's mode decide per request, by the precedence of
// config.Overrides, and a reload changes them.
func TestOverrides_PerClientAndPerRuleMode(t *testing.T) {
	const file = `
mode: audit
rules:
  - method: POST
    path: /api/v2/conversations/calls/{conversationId}/participants
    mode: enforce
    fields: [{path: address, format: address}]
clients:
  crm-legacy: {mode: enforce, country: GB}
`
	r := startOtelRig(t, nil, file)
	r.rig.login.SetHandler(tokenLogin)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("crm-legacy:s3cret"))
	r.rig.do(request("POST", "/oauth/token", []byte("grant_type=client_credentials"), "Content-Type: application/x-www-form-urlencoded", "Authorization: "+basic))
	bad := []byte(`{"phoneNumber":"12"}`)
	call := func(token string, path string, body []byte, headers ...string) int {
		h := append([]string{"Content-Type: application/json", "Authorization: Bearer " + token}, headers...)
		return r.rig.do(request("POST", path, body, h...)).Status
	}
	n := 0
	want := func(what string, status int, gotStatus int, mode, country string) {
		t.Helper()
		n++
		rec := r.auditRecord(t, n)
		if gotStatus != status || rec["mode"] != mode || rec["country"] != country {
			t.Errorf("%s: status %d, mode %v, country %v; want %d, %s, %s", what, gotStatus, rec["mode"], rec["country"], status, mode, country)
		}
	}
	want("crm-legacy (client: enforce, GB)", 400, call("AT-secret-token-value", "/api/v2/conversations/calls", bad), "enforce", "GB")
	want("crm-legacy with X-Callfix-Country", 400, call("AT-secret-token-value", "/api/v2/conversations/calls", bad, "X-Callfix-Country: DE"), "enforce", "DE")
	want("another client (global: audit)", 200, call("AT-other", "/api/v2/conversations/calls", bad), "audit", "US")
	want("another client on the enforce rule", 400, call("AT-other", "/api/v2/conversations/calls/c1/participants", []byte(`{"address":"12"}`)), "enforce", "US")

	// A reload that moves crm-legacy back to audit applies to its next request.
	r.rig.writeFile("upstream:\n  api: " + r.rig.api.URL + "\n  login: " + r.rig.login.URL + "\n" + strings.Replace(file, "crm-legacy: {mode: enforce, country: GB}", "crm-legacy: {mode: audit}", 1))
	if err := r.rig.mgr.Reload("test"); err != nil {
		t.Fatal(err)
	}
	want("crm-legacy after the reload", 200, call("AT-secret-token-value", "/api/v2/conversations/calls", bad), "audit", "US")
}
