package proxy

import "testing"

func TestPathProblem_NormalForm(t *testing.T) {
	f := func(path string) {
		t.Helper()
		if got := pathProblem([]byte(path)); got != "" {
			t.Errorf("pathProblem(%q) = %q, want none", path, got)
		}
	}
	f("/")
	f("/api/v2/conversations/calls")
	f("/api/v2/conversations/calls/")
	f("/api/v2/users/me%20x/%E2%9C%93%3A%40%2C%2B")
	f("/api/v2/a.b/..c/c../.d/...")
	f("/api/v2/x%e2%9c%93")
}

func TestPathProblem_NotNormal(t *testing.T) {
	f := func(path, want string) {
		t.Helper()
		if got := pathProblem([]byte(path)); got != want {
			t.Errorf("pathProblem(%q) = %q, want %q", path, got, want)
		}
	}
	f("", "it does not start with /")
	f("api", "it does not start with /")
	f("/%61pi", "an escaped letter, digit or -._~")
	f("/%2e", "an escaped letter, digit or -._~")
	f("/%7E", "an escaped letter, digit or -._~")
	f("/a/..", "a dot segment")
	f("/a/./b", "a dot segment")
	f("/..", "a dot segment")
	f("//a", "an empty segment (//)")
	f("/a//", "an empty segment (//)")
	f("/a;b", "a ;parameter")
	f("/a\\b", "a backslash")
	f("/a%2Fb", "an escaped slash or backslash")
	f("/a%5cb", "an escaped slash or backslash")
	f("/a%25", "an escaped %")
	f("/a%0A", "an escaped control character")
	f("/a%7f", "an escaped control character")
	f("/a%", "a % that does not start an escape")
	f("/a%4", "a % that does not start an escape")
	f("/a%g1", "a % that does not start an escape")
}

func TestHostProblem(t *testing.T) {
	ok := func(host string) {
		t.Helper()
		if got := hostProblem([]byte(host)); got != "" {
			t.Errorf("hostProblem(%q) = %q, want none", host, got)
		}
	}
	bad := func(host string) {
		t.Helper()
		if hostProblem([]byte(host)) == "" {
			t.Errorf("hostProblem(%q) = none, want a problem", host)
		}
	}
	ok("")
	ok("api.mypurecloud.com")
	ok("api.mypurecloud.com:443")
	ok("c:65535")
	ok("c:")
	ok("127.0.0.1:8080")
	ok("[::1]")
	ok("[2001:db8::1]:443")
	bad("u@c")
	bad("u:p@c:80")
	bad("c:65536")
	bad("c:100000")
	bad("c:8o")
	bad("c:80:80")
	bad("::1")
	bad("[::1")
	bad("[::1]x")
	bad("[::g]")
	bad("c/x")
	bad("c x")
	bad("c\\x")
}

func TestCountCodings(t *testing.T) {
	f := func(v string, wantN int, wantKnown bool) {
		t.Helper()
		if n, known := countCodings([]byte(v)); n != wantN || known != wantKnown {
			t.Errorf("countCodings(%q) = %d, %v, want %d, %v", v, n, known, wantN, wantKnown)
		}
	}
	f("", 0, true)
	f("identity", 0, true)
	f("gzip", 1, true)
	f("identity, gzip", 1, true)
	f("gzip,gzip", 2, true)
	f(" GZIP , x-gzip ,, deflate , br ", 4, true)
	f("zstd", 1, true)
	f("ZSTD, br", 2, true)
	f("compress", 0, false)
	f("gzip, compress", 1, false)
}
