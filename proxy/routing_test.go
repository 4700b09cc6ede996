package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// /oauth/* goes to the login host, everything else to the API host; a
// gateway prefix is stripped before forwarding.
func TestRouting_PathSelectsUpstream(t *testing.T) {
	f := func(flags map[string]string, in, wantUpstream, wantTarget string) {
		t.Helper()
		r := startRig(t, rigOptions{flags: flags})
		resp := r.do("POST " + in + " HTTP/1.1\r\nHost: c\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials")
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200", in, resp.Status)
		}
		to, other, otherName := r.api, r.login, "login"
		if wantUpstream == "login" {
			to, other, otherName = r.login, r.api, "api"
		}
		got := only(t, wantUpstream, to)
		if got.Target != wantTarget {
			t.Errorf("%s: %s upstream got target %q, want %q", in, wantUpstream, got.Target, wantTarget)
		}
		if host := got.Get("Host"); len(host) != 1 || host[0] != r.expand("{"+wantUpstream+"}") {
			t.Errorf("%s: Host = %q, want [%s]", in, host, r.expand("{"+wantUpstream+"}"))
		}
		if string(got.Body) != "grant_type=client_credentials" {
			t.Errorf("%s: body = %q, want the client's", in, got.Body)
		}
		none(t, otherName, other)
	}
	gw := map[string]string{"gateway.login_prefixes": "/login", "gateway.api_prefixes": "/api"}

	// No gateway prefixes.
	f(nil, "/oauth/token", "login", "/oauth/token")
	f(nil, "/oauth/token?grant_type=x", "login", "/oauth/token?grant_type=x")
	f(nil, "/oauth", "login", "/oauth")
	f(nil, "/oauthx/token", "api", "/oauthx/token")
	f(nil, "/api/v2/oauth/clients", "api", "/api/v2/oauth/clients")
	f(nil, "/login/oauth/token", "api", "/login/oauth/token")

	// With gateway prefixes.
	f(gw, "/login/oauth/token", "login", "/oauth/token")
	f(gw, "/login/oauth/token?x=%2F", "login", "/oauth/token?x=%2F")
	f(gw, "/api/api/v2/users/me", "api", "/api/v2/users/me")
	f(gw, "/api/oauth/token", "login", "/oauth/token")
	f(gw, "/oauth/token", "login", "/oauth/token")
	f(gw, "/loginx/oauth/token", "api", "/loginx/oauth/token")
	f(gw, "/apix/v2/users", "api", "/apix/v2/users")
	// A client without the gateway prefix shares the same callfix: its own
	// /api is not stripped.
	f(gw, "/api/v2/users/me", "api", "/api/v2/users/me")
	f(gw, "/api/v2/conversations/calls?x=1", "api", "/api/v2/conversations/calls?x=1")
}

// With gateway prefixes configured, a call from a client that does not use
// them is still intercepted and rewritten.
func TestRouting_GatewayPrefix_UnprefixedClientStillRewritten(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"gateway.api_prefixes": "/api", "gateway.login_prefixes": "/login"}})
	body := `{"phoneNumber":"(555) 123-4567"}`
	resp := r.do("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n" + body)
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	got := only(t, "api", r.api)
	if want := `{"phoneNumber":"tel:+15551234567"}`; got.Target != "/api/v2/conversations/calls" || string(got.Body) != want {
		t.Errorf("upstream got %s %s, want /api/v2/conversations/calls %s", got.Target, got.Body, want)
	}
}

// An intercepted route is matched after the gateway prefix is stripped.
func TestRouting_GatewayPrefix_InterceptedRouteStillRewritten(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"gateway.api_prefixes": "/api"}})
	body := `{"phoneNumber":"(555) 123-4567"}`
	resp := r.do("POST /api/api/v2/conversations/calls HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n" + body)
	if resp.Status != 200 {
		t.Errorf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	got := only(t, "api", r.api)
	if want := `{"phoneNumber":"tel:+15551234567"}`; got.Target != "/api/v2/conversations/calls" || string(got.Body) != want {
		t.Errorf("upstream got %s %s, want /api/v2/conversations/calls %s", got.Target, got.Body, want)
	}
}

// Neither the Host header nor an absolute-form request line can send
// traffic anywhere but the configured upstreams: a third server on
// loopback, named by both, must receive nothing.
func TestRouting_HostHeaderAndAbsoluteForm_CannotRedirect(t *testing.T) {
	other := upstreamtest.Start(t, nil)
	f := func(in, wantUpstream, wantTarget string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		raw := r.expand(in)
		raw = replaceOther(raw, other.Addr)
		resp := r.do(raw)
		if resp.Status != 200 {
			t.Errorf("%q: status = %d, want 200", raw, resp.Status)
		}
		to := r.api
		if wantUpstream == "login" {
			to = r.login
		}
		got := only(t, wantUpstream, to)
		if got.Target != wantTarget {
			t.Errorf("%q: %s upstream got target %q, want %q", raw, wantUpstream, got.Target, wantTarget)
		}
		if host := got.Get("Host"); len(host) != 1 || host[0] != r.expand("{"+wantUpstream+"}") {
			t.Errorf("%q: Host = %q, want [%s]", raw, host, r.expand("{"+wantUpstream+"}"))
		}
		none(t, "other", other)
	}
	f("POST http://elsewhere.example/api/v2/x HTTP/1.1\r\nHost: elsewhere.example\r\nContent-Length: 2\r\n\r\n{}", "api", "/api/v2/x")
	f("POST http://{other}/api/v2/x?y=1 HTTP/1.1\r\nHost: {other}\r\nContent-Length: 2\r\n\r\n{}", "api", "/api/v2/x?y=1")
	f("GET HTTPS://{other}/api/v2/users/me HTTP/1.1\r\nHost: {other}\r\n\r\n", "api", "/api/v2/users/me")
	f("GET http://{other}?q=1 HTTP/1.1\r\nHost: {other}\r\n\r\n", "api", "/?q=1")
	f("GET http://{other} HTTP/1.1\r\nHost: {other}\r\n\r\n", "api", "/")
	f("POST /api/v2/x HTTP/1.1\r\nHost: {other}\r\nContent-Length: 2\r\n\r\n{}", "api", "/api/v2/x")
	// The login host named for an API path: still the API host.
	f("GET http://{login}/api/v2/users/me HTTP/1.1\r\nHost: {login}\r\n\r\n", "api", "/api/v2/users/me")
	// The API host named for a login path: still the login host.
	f("POST http://{api}/oauth/token HTTP/1.1\r\nHost: {api}\r\nContent-Length: 2\r\n\r\n{}", "login", "/oauth/token")
	// No Host at all, HTTP/1.0.
	f("GET /api/v2/users/me HTTP/1.0\r\n\r\n", "api", "/api/v2/users/me")
}

// Request targets that are not a path (CONNECT's authority form, the
// asterisk form, a relative path) are refused and forwarded nowhere.
func TestRouting_NonPathTargets_RefusedAndNotForwarded(t *testing.T) {
	other := upstreamtest.Start(t, nil)
	f := func(in string) {
		t.Helper()
		r := startRig(t, rigOptions{})
		raw := replaceOther(r.expand(in), other.Addr)
		resp := r.do(raw)
		wantAPIError(t, raw, resp, 400, "callfix.bad.request")
		none(t, "api", r.api)
		none(t, "login", r.login)
		none(t, "other", other)
	}
	f("CONNECT {other} HTTP/1.1\r\nHost: {other}\r\n\r\n")
	f("OPTIONS * HTTP/1.1\r\nHost: c\r\n\r\n")
	f("GET api/v2/users/me HTTP/1.1\r\nHost: c\r\n\r\n")
	f("GET ftp://{other}/api/v2/x HTTP/1.1\r\nHost: c\r\n\r\n")
}

func replaceOther(s, addr string) string { return strings.ReplaceAll(s, "{other}", addr) }

// A reload swaps in the new upstream and mode for the next request; a
// configuration that fails validation never replaces the running one.
func TestRouting_ConfigReload_SwitchesUpstreamAndMode_BadFileKeepsRunning(t *testing.T) {
	api2 := upstreamtest.Start(t, nil)
	yaml := func(mode, api, login string) string {
		return fmt.Sprintf("mode: %s\nupstream:\n  api: %s\n  login: %s\n", mode, api, login)
	}
	r := startRig(t, rigOptions{file: func(api, login string) string { return yaml("enforce", api, login) }})
	unfixable := []byte(`{"phoneNumber":"5551234"}`)

	if resp := r.do(request("POST", callsPath, unfixable, jsonCT)); resp.Status != 400 {
		t.Errorf("enforce: status = %d, want 400", resp.Status)
	}

	r.writeFile(yaml("audit", api2.URL, r.login.URL))
	if err := r.mgr.Reload("test"); err != nil {
		t.Fatalf("Reload = %v, want nil", err)
	}
	if resp := r.do(request("POST", callsPath, unfixable, jsonCT)); resp.Status != 200 {
		t.Errorf("after reload to audit: status = %d, want 200: %s", resp.Status, resp.Body)
	}
	if got := only(t, "new api", api2); string(got.Body) != string(unfixable) || got.Get("Host")[0] != api2.Addr {
		t.Errorf("new api upstream got Host %q body %s, want Host %s and the client's body", got.Get("Host"), got.Body, api2.Addr)
	}
	none(t, "old api", r.api)

	r.writeFile("mode: block\n")
	if err := r.mgr.Reload("test"); err == nil {
		t.Errorf("Reload of an invalid file = nil, want an error")
	}
	if resp := r.do(request("POST", callsPath, unfixable, jsonCT)); resp.Status != 200 {
		t.Errorf("after a failed reload: status = %d, want 200 (still audit)", resp.Status)
	}
	if n := api2.Count(); n != 2 {
		t.Errorf("after a failed reload: new api upstream has %d requests, want 2", n)
	}
	none(t, "old api", r.api)
}
