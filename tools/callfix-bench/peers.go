package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// peerConf is the data of every peer template in assets
// (nginx.conf.tmpl, haproxy.cfg.tmpl, Caddyfile.tmpl).
type peerConf struct {
	Dir      string // the peer's temporary directory, absolute
	Assets   string // the assets directory (rewrite.lua)
	Workers  int    // worker processes or threads: GOMAXPROCS of the harness
	Listen   string // 127.0.0.1:PORT
	Upstream string // 127.0.0.1:PORT of the upstream
	// Scheme is http, or https in the TLS scenarios, with the harness's
	// CA file and the name in the upstream's certificate.
	Scheme     string
	CAFile     string
	ServerName string
	// Lua: nginx with Lua and cjson rewriting the calls route, from these
	// files (found by findLua).
	Lua                            bool
	NDKModule, LuaModule, CjsonDir string
	// Temp path directives for the modules this nginx was built with
	// (an unknown directive is a fatal error).
	FastCGI, UWSGI, SCGI bool
}

// renderConf executes the template text with c.
func renderConf(name, tmpl string, c peerConf) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("%s template: %v", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, c); err != nil {
		return nil, fmt.Errorf("%s template: %v", name, err)
	}
	return b.Bytes(), nil
}

// peerKind is one of the proxies callfix is compared with.
type peerKind struct {
	Name     string // the target's name
	Bin      string // its binary
	Template string // its configuration template in assets
	Conf     string // the rendered file's name
	// Workers: a master and worker processes (nginx), all of them
	// measured; otherwise one process.
	Workers bool
	// Lua: nginx with the calls route rewritten by rewrite.lua.
	Lua bool
	// CallsOnly: driven only in the call scenarios (nginx-lua differs from
	// nginx only there).
	CallsOnly bool
	// Rewrites: it turns the national numbers of call-rewrite into E.164,
	// as callfix does; the warm-up check wants every body rewritten.
	Rewrites bool
}

// peerKinds lists the peers the harness knows, in the order of the table.
func peerKinds(o *options) []*peerKind {
	var out []*peerKind
	if o.Nginx != "" {
		out = append(out, &peerKind{Name: "nginx", Bin: o.Nginx, Template: "nginx.conf.tmpl", Conf: "nginx.conf", Workers: true})
		if o.NginxLua {
			out = append(out, &peerKind{Name: "nginx-lua", Bin: o.Nginx, Template: "nginx.conf.tmpl", Conf: "nginx.conf", Workers: true,
				Lua: true, CallsOnly: true, Rewrites: true})
		}
	}
	if o.HAProxy != "" {
		out = append(out, &peerKind{Name: "haproxy", Bin: o.HAProxy, Template: "haproxy.cfg.tmpl", Conf: "haproxy.cfg"})
	}
	if o.Caddy != "" {
		out = append(out, &peerKind{Name: "caddy", Bin: o.Caddy, Template: "Caddyfile.tmpl", Conf: "Caddyfile"})
	}
	return out
}

// luaFiles are the files the nginx-lua target loads.
type luaFiles struct{ NDK, Lua, CjsonDir string }

// findLua looks for Debian's nginx Lua module, the NDK it needs, and
// lua-cjson for Lua 5.1 (LuaJIT's ABI).
func findLua() (luaFiles, error) {
	first := func(what string, paths ...string) (string, error) {
		for _, p := range paths {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s not found (looked for %s): make bench-deps installs it", what, strings.Join(paths, ", "))
	}
	var f luaFiles
	var err error
	mods := []string{"/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/local/lib/nginx/modules"}
	join := func(name string) []string {
		var out []string
		for _, d := range mods {
			out = append(out, filepath.Join(d, name))
		}
		return out
	}
	if f.NDK, err = first("nginx's NDK module (libnginx-mod-http-ndk)", join("ndk_http_module.so")...); err != nil {
		return f, err
	}
	if f.Lua, err = first("nginx's Lua module (libnginx-mod-http-lua)", join("ngx_http_lua_module.so")...); err != nil {
		return f, err
	}
	cj, err := first("lua-cjson for Lua 5.1", "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so", "/usr/lib/aarch64-linux-gnu/lua/5.1/cjson.so",
		"/usr/lib/lua/5.1/cjson.so", "/usr/local/lib/lua/5.1/cjson.so")
	if err != nil {
		return f, err
	}
	f.CjsonDir = filepath.Dir(cj)
	return f, nil
}

// peerVersion asks the binary for its version.
func peerVersion(ctx context.Context, k *peerKind) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []byte
	switch k.Template {
	case "nginx.conf.tmpl":
		out, _ = exec.CommandContext(ctx, k.Bin, "-v").CombinedOutput()
		return strings.TrimSpace(strings.TrimPrefix(firstLine(out), "nginx version: "))
	case "haproxy.cfg.tmpl":
		out, _ = exec.CommandContext(ctx, k.Bin, "-v").CombinedOutput()
		if f := strings.Fields(firstLine(out)); len(f) >= 3 {
			return "haproxy/" + f[2]
		}
	case "Caddyfile.tmpl":
		out, _ = exec.CommandContext(ctx, k.Bin, "version").CombinedOutput()
		if f := strings.Fields(firstLine(out)); len(f) >= 1 {
			return "caddy/" + strings.TrimPrefix(f[0], "v")
		}
	}
	return ""
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

// nginxModules reads `nginx -V` for the modules whose temp paths the
// template sets.
func nginxModules(ctx context.Context, bin string) (fastcgi, uwsgi, scgi bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-V").CombinedOutput()
	s := string(out)
	return !strings.Contains(s, "--without-http_fastcgi_module"),
		!strings.Contains(s, "--without-http_uwsgi_module"), !strings.Contains(s, "--without-http_scgi_module")
}

// peerProc is a running peer.
type peerProc struct {
	kind    *peerKind
	dir     string
	addr    string
	version string
	proc    *child
	out     *capBuffer // its standard output and error
	errLog  string     // nginx's error log; "" for the others
	// Ready is the time from starting the process to its first answer
	// through to the upstream (GET /api/v2/users/me, 200).
	Ready time.Duration
}

// peerStart is what startPeer needs besides the kind.
type peerStart struct {
	Assets   string
	Upstream string
	Scheme   string
	CAFile   string
	Workers  int
	Lua      luaFiles
}

// startPeer renders the peer's configuration into its own new temporary
// directory and starts it in front of the upstream. It retries on another
// port if the one it picked was taken in the meantime.
func startPeer(ctx context.Context, ps *procSet, k *peerKind, s peerStart, keep bool, logf func(string, ...any)) (*peerProc, error) {
	tmpl, err := os.ReadFile(filepath.Join(s.Assets, k.Template))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", k.Name, err)
	}
	// Right under the system's temporary directory: nginx started as root
	// runs its workers as nobody, who must reach their temporary files.
	dir, err := os.MkdirTemp("", "callfix-bench-"+k.Name+"-")
	if err != nil {
		return nil, err
	}
	if keep {
		logf("keeping %s (-keep)", dir)
	}
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	conf := peerConf{Dir: dir, Assets: s.Assets, Workers: s.Workers, Upstream: s.Upstream, Scheme: s.Scheme,
		CAFile: s.CAFile, ServerName: tlsServerName, Lua: k.Lua}
	if k.Lua {
		conf.NDKModule, conf.LuaModule, conf.CjsonDir = s.Lua.NDK, s.Lua.Lua, s.Lua.CjsonDir
	}
	if k.Template == "nginx.conf.tmpl" {
		conf.FastCGI, conf.UWSGI, conf.SCGI = nginxModules(ctx, k.Bin)
	}
	version := peerVersion(ctx, k)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf.Listen = port
		text, err := renderConf(k.Template, string(tmpl), conf)
		if err != nil {
			return nil, err
		}
		confPath := filepath.Join(dir, k.Conf)
		if err := os.WriteFile(confPath, text, 0o644); err != nil {
			return nil, err
		}
		p := &peerProc{kind: k, dir: dir, addr: port, version: version, out: &capBuffer{max: 64 << 10}}
		var cmd *exec.Cmd
		switch k.Template {
		case "nginx.conf.tmpl":
			p.errLog = filepath.Join(dir, "error.log")
			_ = os.Remove(p.errLog)
			cmd = exec.Command(k.Bin, "-p", dir, "-c", confPath, "-e", p.errLog, "-g", "daemon off;")
			cmd.Env = os.Environ()
		case "haproxy.cfg.tmpl":
			cmd = exec.Command(k.Bin, "-db", "-f", confPath)
			cmd.Env = os.Environ()
		case "Caddyfile.tmpl":
			cmd = exec.Command(k.Bin, "run", "--adapter", "caddyfile", "--config", confPath)
			cmd.Env = append(withoutEnv(os.Environ(), "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"),
				fmt.Sprintf("GOMAXPROCS=%d", s.Workers), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
				"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
		default:
			return nil, fmt.Errorf("%s: no command for %s", k.Name, k.Template)
		}
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = p.out, p.out
		start := time.Now()
		c, err := ps.start(k.Name, cmd)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k.Name, err)
		}
		p.proc = c
		err = waitReady(ctx, "http://"+port, c, 15*time.Second)
		if err == nil {
			p.Ready = time.Since(start)
			return p, nil
		}
		ps.stop(c, syscall.SIGTERM, 2*time.Second)
		logText := p.log()
		lastErr = fmt.Errorf("%s did not start: %v\n%s", k.Name, err, logText)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !strings.Contains(strings.ToLower(logText), "address already in use") && !strings.Contains(logText, "cannot bind socket") {
			break
		}
	}
	if !keep {
		os.RemoveAll(dir)
	}
	return nil, lastErr
}

// log is what the peer wrote: its output and (nginx) its error log.
func (p *peerProc) log() string {
	s := p.out.String()
	if p.errLog != "" {
		b, _ := os.ReadFile(p.errLog)
		s += string(b)
	}
	return s
}

// stop ends the peer and removes its directory unless keep: SIGTERM is
// nginx's fast shutdown (SIGQUIT would wait for keep-alive connections),
// HAProxy's hard stop and Caddy's graceful one; the process group is
// killed after 3s.
func (p *peerProc) stop(ps *procSet, keep bool) {
	ps.stop(p.proc, syscall.SIGTERM, 3*time.Second)
	if !keep {
		os.RemoveAll(p.dir)
	}
}

// logMark is a position in the peer's logs, for problemsSince.
type logMark struct{ out, errLog int64 }

func (p *peerProc) mark() logMark {
	m := logMark{out: int64(p.out.Len())}
	if p.errLog != "" {
		if fi, err := os.Stat(p.errLog); err == nil {
			m.errLog = fi.Size()
		}
	}
	return m
}

// problemLevels are the words that mark a line a peer logged as a
// problem: nginx's levels error and above, HAProxy's alerts, Caddy's
// (zap's) error levels.
var problemLevels = []string{"[error]", "[crit]", "[alert]", "[emerg]", "[ALERT]", `"level":"error"`, `"level":"fatal"`, `"level":"panic"`}

// clientGone marks lines about a client that closed its connection in the
// middle of a response: the load generator stopping at the end of a run
// with 10 MiB downloads in flight. nginx logs that at info level; Caddy as
// an error ("aborting with incomplete response": the write failed, or the
// request's context was cancelled when the client left), which is not one.
func clientGone(line string) bool {
	return strings.Contains(line, "aborting with incomplete response") &&
		(strings.Contains(line, "broken pipe") || strings.Contains(line, "connection reset by peer") || strings.Contains(line, `"error":"context canceled"`))
}

// problemsSince returns the problem lines the peer logged after m (at
// most 5, and how many there were), leaving out clientGone lines.
func (p *peerProc) problemsSince(m logMark) ([]string, int) {
	text := p.out.String()
	if m.out <= int64(len(text)) {
		text = text[m.out:]
	}
	if p.errLog != "" {
		b, _ := os.ReadFile(p.errLog)
		if m.errLog <= int64(len(b)) {
			b = b[m.errLog:]
		}
		text += "\n" + string(b)
	}
	var out []string
	count := 0
	for _, line := range strings.Split(text, "\n") {
		if clientGone(line) {
			continue
		}
		for _, lvl := range problemLevels {
			if strings.Contains(line, lvl) {
				count++
				if len(out) < 5 {
					out = append(out, line)
				}
				break
			}
		}
	}
	return out, count
}

// tempFileWarnings counts the responses nginx buffered to a temporary
// file so far (0 for the other peers).
func (p *peerProc) tempFileWarnings() int {
	if p.errLog == "" {
		return 0
	}
	b, _ := os.ReadFile(p.errLog)
	return bytes.Count(b, []byte("buffered to a temporary file"))
}

// withoutEnv drops the named variables from env.
func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// freePort returns a loopback address with a port that was free a moment
// ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// readyClient asks a proxy whether it forwards yet: no keep-alive, so
// that no connection outlives the check.
var readyClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// waitReady polls base+/api/v2/users/me every 2 ms until it answers 200
// (the proxy is listening and forwards to the upstream), the process
// exits, ctx ends or d passes.
func waitReady(ctx context.Context, base string, c *child, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v2/users/me", nil)
		req.Header.Set("Authorization", "Bearer bench.token.value")
		resp, err := readyClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		last = err
		if c.exited() {
			return fmt.Errorf("the process exited (%v)", c.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from %s/api/v2/users/me after %s (last: %v)", base, d, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
