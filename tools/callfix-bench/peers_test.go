package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func readAsset(t *testing.T, name string) string {
	t.Helper()
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "tools", "callfix-bench", "assets", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives returns the configuration without comments, one directive
// per line, spaces collapsed.
func directives(conf string) []string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.Join(strings.Fields(line), " ")
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}

func render(t *testing.T, tmpl string, c peerConf) string {
	t.Helper()
	conf, err := renderConf(tmpl, readAsset(t, tmpl), c)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(directives(string(conf)), "\n")
	for _, absent := range []string{"{{", "<no value>"} {
		if strings.Contains(got, absent) {
			t.Errorf("the rendered %s holds %q:\n%s", tmpl, absent, got)
		}
	}
	// Loopback only: every IP address in it, and every listen, bind and
	// server line names one.
	for _, ip := range regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`).FindAllString(got, -1) {
		if ip != "127.0.0.1" {
			t.Errorf("%s: address %s is not loopback", tmpl, ip)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^(listen|bind|server|server up|reverse_proxy|http://)\b.*$`).FindAllString(got, -1) {
		if !strings.Contains(m, "127.0.0.1:") && m != "server {" {
			t.Errorf("%s: %q names no loopback address", tmpl, m)
		}
	}
	return got
}

func wantAll(t *testing.T, name, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the rendered %s lacks %q:\n%s", name, w, got)
		}
	}
}

func wantNone(t *testing.T, name, got string, absent ...string) {
	t.Helper()
	for _, a := range absent {
		if strings.Contains(got, a) {
			t.Errorf("the rendered %s holds %q:\n%s", name, a, got)
		}
	}
}

var testConf = peerConf{Dir: "/tmp/callfix-bench-peer-test", Assets: "/repo/assets", Workers: 3, Listen: "127.0.0.1:18080",
	Upstream: "127.0.0.1:19090", Scheme: "http", ServerName: tlsServerName, CAFile: "/tmp/ca.pem"}

func TestRenderNginxConf(t *testing.T) {
	c := testConf
	c.FastCGI = true
	got := render(t, "nginx.conf.tmpl", c)
	dir := c.Dir
	wantAll(t, "nginx.conf", got,
		"worker_processes 3;",
		"pid "+dir+"/nginx.pid;",
		"error_log "+dir+"/error.log warn;",
		"access_log off;",
		"client_body_temp_path "+dir+"/client_body_temp;",
		"proxy_temp_path "+dir+"/proxy_temp;",
		"fastcgi_temp_path "+dir+"/fastcgi_temp;",
		"upstream genesys {\nserver 127.0.0.1:19090;\nkeepalive 256;",
		"listen 127.0.0.1:18080;",
		"client_max_body_size 0;",
		"proxy_pass http://genesys;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_buffering on;",
		"proxy_request_buffering off;",
		"keepalive_requests 1000000;",
	)
	// daemon comes from -g; modules off are left out; no Lua, no TLS.
	wantNone(t, "nginx.conf", got, "daemon", "uwsgi_temp_path", "scgi_temp_path", "load_module", "lua", "proxy_ssl", "https://")
}

func TestRenderNginxConf_LuaAndTLS(t *testing.T) {
	c := testConf
	c.Scheme, c.Lua = "https", true
	c.NDKModule, c.LuaModule, c.CjsonDir = "/m/ndk_http_module.so", "/m/ngx_http_lua_module.so", "/lua/5.1"
	got := render(t, "nginx.conf.tmpl", c)
	wantAll(t, "nginx.conf (Lua, TLS)", got,
		"load_module /m/ndk_http_module.so;\nload_module /m/ngx_http_lua_module.so;",
		`lua_package_cpath "/lua/5.1/?.so;;";`,
		"location = /api/v2/conversations/calls {\nclient_max_body_size 1m;\nclient_body_buffer_size 1m;\naccess_by_lua_file /repo/assets/rewrite.lua;\nproxy_pass https://genesys;\n}",
		"location / {\nproxy_pass https://genesys;",
		"proxy_ssl_trusted_certificate /tmp/ca.pem;",
		"proxy_ssl_verify on;",
		"proxy_ssl_name "+tlsServerName+";",
		"proxy_ssl_session_reuse on;",
		"keepalive 256;",
	)
	wantNone(t, "nginx.conf (Lua, TLS)", got, "http://genesys")
}

func TestRenderHAProxyConf(t *testing.T) {
	got := render(t, "haproxy.cfg.tmpl", testConf)
	wantAll(t, "haproxy.cfg", got, "nbthread 3", "mode http", "option http-keep-alive", "http-reuse always", "option forwardfor",
		"bind 127.0.0.1:18080", "server up 127.0.0.1:19090 pool-max-conn 1024")
	wantNone(t, "haproxy.cfg", got, "log ", "ssl", "daemon")
	c := testConf
	c.Scheme = "https"
	got = render(t, "haproxy.cfg.tmpl", c)
	wantAll(t, "haproxy.cfg (TLS)", got, "server up 127.0.0.1:19090 ssl verify required ca-file /tmp/ca.pem sni str("+tlsServerName+") verifyhost "+tlsServerName)
}

func TestRenderCaddyfile(t *testing.T) {
	got := render(t, "Caddyfile.tmpl", testConf)
	wantAll(t, "Caddyfile", got, "admin off", "auto_https off", "http://127.0.0.1:18080 {", "reverse_proxy 127.0.0.1:19090 {",
		"transport http {", "keepalive 120s", "keepalive_idle_conns_per_host 256")
	wantNone(t, "Caddyfile", got, "log", "tls")
	c := testConf
	c.Scheme = "https"
	got = render(t, "Caddyfile.tmpl", c)
	wantAll(t, "Caddyfile (TLS)", got, "tls\ntls_trusted_ca_certs /tmp/ca.pem\ntls_server_name "+tlsServerName)
}

func TestRenderConf_BadTemplate(t *testing.T) {
	if _, err := renderConf("t", "worker_processes {{.Nope}};", peerConf{}); err == nil {
		t.Error("a template naming an unknown field rendered")
	}
	if _, err := renderConf("t", "worker_processes {{.Workers;", peerConf{}); err == nil {
		t.Error("a malformed template rendered")
	}
}

// peerBin finds a peer's binary. Outside CI a missing one skips the test;
// in CI (CI=true) the peers are part of the machine (make bench-deps), so
// a missing one fails it.
func peerBin(t *testing.T, name string) string {
	t.Helper()
	p, _ := lookPath("auto", name)
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: CI runs make bench-deps first", name)
		}
		t.Skipf("%s is not installed (make bench-deps)", name)
	}
	return p
}

// Each installed peer accepts its rendered file, plain and TLS, as it will
// be run: nginx -t (with and without Lua), haproxy -c, caddy validate.
func TestPeers_AcceptTheirConfigs(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run("nginx/"+scheme, func(t *testing.T) {
			bin := peerBin(t, "nginx")
			for _, lua := range []bool{false, true} {
				dir := t.TempDir()
				c := testConf
				c.Dir, c.Scheme, c.Lua, c.CAFile = dir, scheme, lua, writeTestCA(t, dir)
				c.Assets = filepath.Dir(filepath.Join(mustRoot(t), "tools", "callfix-bench", "assets", "x"))
				c.FastCGI, c.UWSGI, c.SCGI = nginxModules(context.Background(), bin)
				if lua {
					f, err := findLua()
					if err != nil {
						if os.Getenv("CI") == "true" {
							t.Fatal(err)
						}
						t.Skip(err)
					}
					c.NDKModule, c.LuaModule, c.CjsonDir = f.NDK, f.Lua, f.CjsonDir
				}
				path := writeConf(t, dir, "nginx.conf.tmpl", "nginx.conf", c)
				runCheck(t, bin, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
			}
		})
		t.Run("haproxy/"+scheme, func(t *testing.T) {
			bin := peerBin(t, "haproxy")
			dir := t.TempDir()
			c := testConf
			c.Dir, c.Scheme, c.CAFile = dir, scheme, writeTestCA(t, dir)
			runCheck(t, bin, "-c", "-f", writeConf(t, dir, "haproxy.cfg.tmpl", "haproxy.cfg", c))
		})
		t.Run("caddy/"+scheme, func(t *testing.T) {
			bin := peerBin(t, "caddy")
			dir := t.TempDir()
			c := testConf
			c.Dir, c.Scheme, c.CAFile = dir, scheme, writeTestCA(t, dir)
			t.Setenv("XDG_DATA_HOME", dir)
			t.Setenv("XDG_CONFIG_HOME", dir)
			t.Setenv("HOME", dir)
			runCheck(t, bin, "validate", "--adapter", "caddyfile", "--config", writeConf(t, dir, "Caddyfile.tmpl", "Caddyfile", c))
		})
	}
}

func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func writeTestCA(t *testing.T, dir string) string {
	t.Helper()
	ca, err := newBenchCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca.CAFile
}

func writeConf(t *testing.T, dir, tmpl, name string, c peerConf) string {
	t.Helper()
	conf, err := renderConf(tmpl, readAsset(t, tmpl), c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCheck(t *testing.T, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
}

// A peer's log lines of level error count as problems, except a client
// that went away mid-response (the end of a run) in Caddy's words.
func TestProblemsSince(t *testing.T) {
	p := &peerProc{out: &capBuffer{max: 64 << 10}}
	m := p.mark()
	p.out.Write([]byte(`{"level":"info","msg":"serving"}` + "\n" +
		`{"level":"error","logger":"http.handlers.reverse_proxy","msg":"aborting with incomplete response","error":"write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"}` + "\n" +
		`{"level":"error","logger":"http.handlers.reverse_proxy","msg":"aborting with incomplete response","error":"write: connection reset by peer"}` + "\n" +
		`{"level":"error","logger":"http.handlers.reverse_proxy","msg":"aborting with incomplete response","error":"context canceled"}` + "\n"))
	if lines, n := p.problemsSince(m); n != 0 {
		t.Errorf("a client gone mid-response counted as %d problems: %v", n, lines)
	}
	p.out.Write([]byte(`{"level":"error","logger":"http.log.error","msg":"dial tcp 127.0.0.1:2: connect: connection refused"}` + "\n" +
		"[ALERT]    (1) : config : parsing error\n" +
		`{"level":"error","logger":"http.handlers.reverse_proxy","msg":"aborting with incomplete response","error":"reading: unexpected EOF"}` + "\n"))
	if _, n := p.problemsSince(m); n != 3 {
		t.Errorf("%d problems, want 3 (a refused dial, an HAProxy alert, an upstream body cut short)", n)
	}
	if _, n := p.problemsSince(p.mark()); n != 0 {
		t.Errorf("%d problems after the mark, want 0", n)
	}
}
