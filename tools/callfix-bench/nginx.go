package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// nginxConf is the data of tools/callfix-bench/assets/nginx.conf.tmpl.
type nginxConf struct {
	Dir      string // the temporary prefix directory, absolute
	Workers  int    // worker_processes: GOMAXPROCS of the harness
	Listen   string // 127.0.0.1:PORT
	Upstream string // 127.0.0.1:PORT of the upstream
	// Temp path directives for the modules this nginx was built with
	// (an unknown directive is a fatal error).
	FastCGI, UWSGI, SCGI bool
}

// renderNginxConf executes the template text with c.
func renderNginxConf(tmpl string, c nginxConf) ([]byte, error) {
	t, err := template.New("nginx.conf").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("nginx template: %v", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, c); err != nil {
		return nil, fmt.Errorf("nginx template: %v", err)
	}
	return b.Bytes(), nil
}

// nginxModules reads `nginx -V` for the modules whose temp paths the
// template sets.
func nginxModules(ctx context.Context, bin string) (version string, fastcgi, uwsgi, scgi bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-V").CombinedOutput()
	s := string(out)
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "nginx version: "); ok {
			version = strings.TrimSpace(v)
		}
	}
	return version, !strings.Contains(s, "--without-http_fastcgi_module"),
		!strings.Contains(s, "--without-http_uwsgi_module"), !strings.Contains(s, "--without-http_scgi_module")
}

// nginxTarget is a running nginx.
type nginxTarget struct {
	dir     string
	addr    string
	version string
	proc    *child
	log     *capBuffer
}

// startNginx renders the config into dir and starts nginx in front of
// upstreamAddr. It retries on another port if the one it picked was taken
// in the meantime.
func startNginx(ctx context.Context, ps *procSet, bin, tmplPath, dir, upstreamAddr string, workers int) (*nginxTarget, error) {
	tmpl, err := os.ReadFile(tmplPath)
	if err != nil {
		return nil, fmt.Errorf("nginx: %v", err)
	}
	version, fcgi, uwsgi, scgi := nginxModules(ctx, bin)
	if os.Geteuid() == 0 {
		// nginx started as root runs its workers as nobody: they must be
		// able to reach their temporary directories under dir.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := nginxConf{Dir: dir, Workers: workers, Listen: port, Upstream: upstreamAddr, FastCGI: fcgi, UWSGI: uwsgi, SCGI: scgi}
		text, err := renderNginxConf(string(tmpl), conf)
		if err != nil {
			return nil, err
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, text, 0o644); err != nil {
			return nil, err
		}
		errLog := filepath.Join(dir, "error.log")
		_ = os.Remove(errLog)
		out := &capBuffer{max: 64 << 10}
		cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", errLog, "-g", "daemon off;")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.Env = os.Environ()
		c, err := ps.start("nginx", cmd)
		if err != nil {
			return nil, fmt.Errorf("nginx: %v", err)
		}
		n := &nginxTarget{dir: dir, addr: port, version: version, proc: c, log: out}
		if err := waitListening(ctx, port, c, 10*time.Second); err != nil {
			ps.stop(c, syscall.SIGTERM, 2*time.Second)
			logText, _ := os.ReadFile(errLog)
			lastErr = fmt.Errorf("nginx did not start: %v\n%s%s", err, out.String(), logText)
			if bytes.Contains(logText, []byte("Address already in use")) {
				continue
			}
			return nil, lastErr
		}
		return n, nil
	}
	return nil, lastErr
}

// stop ends nginx: SIGQUIT would wait for keep-alive connections; SIGTERM
// is its fast shutdown, and the process group is killed after 3s.
func (n *nginxTarget) stop(ps *procSet) {
	ps.stop(n.proc, syscall.SIGTERM, 3*time.Second)
}

// logSize is the current size of nginx's error log, to read what it
// logs from then on with problemsSince.
func (n *nginxTarget) logSize() int64 {
	fi, err := os.Stat(filepath.Join(n.dir, "error.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// problemsSince returns the lines of level error and above that nginx
// logged after offset (at most 5, and how many there were).
func (n *nginxTarget) problemsSince(offset int64) ([]string, int) {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	if offset > int64(len(b)) {
		offset = 0
	}
	var out []string
	count := 0
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		for _, lvl := range []string{"[error]", "[crit]", "[alert]", "[emerg]"} {
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
// file so far.
func (n *nginxTarget) tempFileWarnings() int {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return bytes.Count(b, []byte("buffered to a temporary file"))
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

// waitListening polls addr until it accepts a connection, the process
// exits, ctx ends or d passes.
func waitListening(ctx context.Context, addr string, c *child, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if c.exited() {
			return fmt.Errorf("the process exited (%v)", c.err)
		}
		if time.Now().After(deadline) {
			return errors.New("nothing listening on " + addr + " after " + d.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
