package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// callfixTarget is a running `callfix serve`.
type callfixTarget struct {
	addr    string
	admin   string
	version string
	proc    *child
	head    *capBuffer // the first lines of its log (startup, errors)
	// Ready is the time from starting the process to its first answer
	// through to the upstream (GET /api/v2/users/me, 200).
	Ready time.Duration
}

// callfixStart is how one callfix target runs.
type callfixStart struct {
	Bin      string
	Upstream string   // http://127.0.0.1:PORT or https://… (TLS scenarios)
	CAFile   string   // with https: the harness's CA
	Sets     []string // extra --set KEY=VALUE
	Env      []string // extra environment (a variant's GOGC=…)
}

var (
	listenRe  = regexp.MustCompile(`"listen":"(127\.0\.0\.1:\d+)"`)
	adminRe   = regexp.MustCompile(`"admin_listen":"(127\.0\.0\.1:\d+)"`)
	versionRe = regexp.MustCompile(`"version":"([^"]*)"`)
)

// buildCallfix builds ./cmd/callfix of the module at root into dir.
func buildCallfix(ctx context.Context, ps *procSet, root, dir string) (string, error) {
	bin := filepath.Join(dir, "callfix")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out := &capBuffer{max: 64 << 10}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/callfix")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = out, out
	c, err := ps.start("go build", cmd)
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/callfix: %v", err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		ps.stop(c, syscall.SIGTERM, time.Second)
		return "", fmt.Errorf("go build ./cmd/callfix: %v", ctx.Err())
	}
	if c.err != nil {
		return "", fmt.Errorf("go build ./cmd/callfix: %v\n%s", c.err, out.String())
	}
	return bin, nil
}

// startCallfix runs `callfix serve` on a free loopback port in front of
// upstreamAddr, in enforce mode, with the extra --set options, and waits
// for its "callfix serving" log line.
func startCallfix(ctx context.Context, ps *procSet, st callfixStart) (*callfixTarget, error) {
	args := []string{"serve",
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream-api", st.Upstream, "--upstream-login", st.Upstream,
		"--mode", "enforce",
		// 64 client connections never wait for an upstream connection.
		"--set", "upstream.max_conns=1024",
		// Nothing routes to the harness by readiness: stop at once.
		"--set", "server.shutdown_delay=0",
	}
	if st.CAFile != "" {
		args = append(args, "--set", "upstream.ca_file="+st.CAFile, "--set", "upstream.server_name="+tlsServerName)
	}
	for _, s := range st.Sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(st.Bin, args...)
	// Without the harness's CALLFIX_* and OTEL_* (or proxy) variables: the
	// flags above are the whole configuration (no tracing exporter by
	// accident).
	cmd.Env = testsupport.CleanEnv(os.Environ())
	if len(st.Env) > 0 {
		var names []string
		for _, kv := range st.Env {
			k, _, _ := strings.Cut(kv, "=")
			names = append(names, k)
		}
		cmd.Env = append(withoutEnv(cmd.Env, names...), st.Env...)
	}
	t := &callfixTarget{head: &capBuffer{max: 32 << 10}}
	ready := make(chan [3]string, 1)
	// callfix writes one audit record per intercepted request to stderr:
	// os/exec copies it into this writer, which looks for the "callfix
	// serving" line and keeps only the beginning, so that callfix never
	// blocks on a full pipe and the harness holds a bounded log.
	cmd.Stderr = &startupLog{head: t.head, ready: ready}
	start := time.Now()
	c, err := ps.start("callfix", cmd)
	if err != nil {
		return nil, fmt.Errorf("callfix serve: %v", err)
	}
	t.proc = c
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case r := <-ready:
		t.addr, t.admin, t.version = r[0], r[1], r[2]
	case <-c.done:
		return nil, fmt.Errorf("callfix serve exited (%v) before listening:\n%s", c.err, t.head.String())
	case <-timer.C:
		ps.stop(c, syscall.SIGTERM, 2*time.Second)
		return nil, fmt.Errorf("callfix serve did not log its listen address within 15s:\n%s", t.head.String())
	case <-ctx.Done():
		ps.stop(c, syscall.SIGTERM, 2*time.Second)
		return nil, ctx.Err()
	}
	if err := waitReady(ctx, "http://"+t.addr, c, 5*time.Second); err != nil {
		ps.stop(c, syscall.SIGTERM, 2*time.Second)
		return nil, fmt.Errorf("callfix serve: %v\n%s", err, t.head.String())
	}
	t.Ready = time.Since(start)
	return t, nil
}

// stop ends callfix with SIGTERM (its graceful shutdown: nothing is in
// flight any more) and kills it after 5s.
func (t *callfixTarget) stop(ps *procSet) {
	ps.stop(t.proc, syscall.SIGTERM, 5*time.Second)
}

// startupLog receives callfix's stderr: it keeps the first lines (for
// error messages) and reports the listen address, admin address and
// version from the "callfix serving" line.
type startupLog struct {
	head    *capBuffer
	ready   chan [3]string
	partial []byte
	sent    bool
}

func (w *startupLog) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.head.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		if m := listenRe.FindSubmatch(line); m != nil && bytes.Contains(line, []byte(`"callfix serving"`)) {
			var r [3]string
			r[0] = string(m[1])
			if a := adminRe.FindSubmatch(line); a != nil {
				r[1] = string(a[1])
			}
			if v := versionRe.FindSubmatch(line); v != nil {
				r[2] = string(v[1])
			}
			w.ready <- r
			w.sent, w.partial = true, nil
			return len(p), nil
		}
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 64<<10 { // no line that long in a startup log
		w.partial = nil
	}
	return len(p), nil
}
