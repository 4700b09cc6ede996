package proxy

import (
	"testing"
)

func routingState(apiPrefixes []string, loginPrefixes ...string) *state {
	st := &state{api: &upstream{name: "api"}, login: &upstream{name: "login"}}
	for _, p := range apiPrefixes {
		st.apiPrefixes = append(st.apiPrefixes, []byte(p))
	}
	for _, p := range loginPrefixes {
		st.loginPrefixes = append(st.loginPrefixes, []byte(p))
	}
	return st
}

func TestOriginForm(t *testing.T) {
	f := func(uri, want string, wantOK bool) {
		t.Helper()
		got, ok := originForm([]byte(uri))
		if ok != wantOK || string(got) != want {
			t.Errorf("originForm(%q) = %q, %v; want %q, %v", uri, got, ok, want, wantOK)
		}
	}
	f("/api/v2/x?y=1", "/api/v2/x?y=1", true)
	f("http://elsewhere/api/v2/x", "/api/v2/x", true)
	f("HTTPS://elsewhere:8443/oauth/token?a=b", "/oauth/token?a=b", true)
	f("http://elsewhere?q=1", "/?q=1", true)
	f("http://elsewhere", "/", true)
	f("*", "", false)
	f("elsewhere/api", "", false)
	f("ftp://elsewhere/x", "", false)
	f("", "", false)
}

func TestStripPrefixAndSegmentPrefix(t *testing.T) {
	f := func(target, p, want string, wantOK bool) {
		t.Helper()
		got, ok := stripPrefix([]byte(target), []byte(p))
		if ok != wantOK || string(got) != want {
			t.Errorf("stripPrefix(%q, %q) = %q, %v; want %q, %v", target, p, got, ok, want, wantOK)
		}
	}
	f("/api", "/api", "/", true)
	f("/api/v2/x", "/api", "/v2/x", true)
	f("/api?x=1", "/api", "/?x=1", true)
	f("/apix/v2", "/api", "", false)
	f("/ap", "/api", "", false)
	for _, tc := range []struct {
		t, p string
		want bool
	}{{"/api", "/api", true}, {"/api/v2", "/api", true}, {"/api?x", "/api", true}, {"/apix", "/api", false}, {"/ap", "/api", false}} {
		if got := segmentPrefix([]byte(tc.t), []byte(tc.p)); got != tc.want {
			t.Errorf("segmentPrefix(%q, %q) = %v, want %v", tc.t, tc.p, got, tc.want)
		}
	}
}

// The routing table without sockets (TestRouting_PathSelectsUpstream
// holds it end to end).
func TestRoute_Table(t *testing.T) {
	plain := routingState(nil)
	gw := routingState([]string{"/api"}, []string{"/login"}...)
	f := func(st *state, target, wantUp, wantTarget string) {
		t.Helper()
		up, got := st.route([]byte(target))
		if up.name != wantUp || string(got) != wantTarget {
			t.Errorf("route(%q) = %s %q, want %s %q", target, up.name, got, wantUp, wantTarget)
		}
	}
	f(plain, "/oauth/token", "login", "/oauth/token")
	f(plain, "/oauth", "login", "/oauth")
	f(plain, "/oauth?x=1", "login", "/oauth?x=1")
	f(plain, "/oauthx", "api", "/oauthx")
	f(plain, "/api/v2/oauth/clients", "api", "/api/v2/oauth/clients")
	f(gw, "/login", "login", "/")
	f(gw, "/login?x", "login", "/?x")
	f(gw, "/login/oauth/token", "login", "/oauth/token")
	f(gw, "/api/oauth/token", "login", "/oauth/token")
	f(gw, "/api/api/v2/x", "api", "/api/v2/x")
	f(gw, "/api/v2/x", "api", "/api/v2/x") // no gateway prefix: its own /api kept
	f(gw, "/api", "api", "/api")
	f(gw, "/apiv2", "api", "/apiv2")
}

// routeTarget routes once, and says the format of the answer even for a
// target it refuses: a fragment on a login path is a login request, a
// path not in normal form is nobody's.
func TestRouteTarget_Edges(t *testing.T) {
	st := routingState([]string{"/api"}, []string{"/login"}...)
	f := func(uri string, wantLogin bool, wantTarget, wantPath, wantReason string) {
		t.Helper()
		var h head
		r := h.routeTarget(st, []byte(uri))
		if h.login != wantLogin || r.reason != wantReason || r.reason == "" && (string(h.target) != wantTarget || string(h.path) != wantPath) {
			t.Errorf("routeTarget(%q) = login %v target %q path %q refusal %q; want %v %q %q %q",
				uri, h.login, h.target, h.path, r.reason, wantLogin, wantTarget, wantPath, wantReason)
		}
		if st.loginTarget([]byte(uri)) != wantLogin {
			t.Errorf("loginTarget(%q) = %v, want %v", uri, !wantLogin, wantLogin)
		}
	}
	f("/login/oauth/token?grant_type=x", true, "/oauth/token?grant_type=x", "/oauth/token", "")
	f("http://elsewhere/oauth/token", true, "/oauth/token", "/oauth/token", "")
	f("/api/v2/users/me", false, "/api/v2/users/me", "/api/v2/users/me", "")
	f("/oauth/token#frag", true, "", "", "invalid_target")
	f("/oauth/../api/v2/x", false, "", "", "path_not_normal")
	f("/oauth//token", false, "", "", "path_not_normal")
	f("/oauth/%74oken", false, "", "", "path_not_normal")
	f("*", false, "", "", "invalid_target")
}
