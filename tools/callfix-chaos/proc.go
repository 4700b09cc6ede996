package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// callfixProc is a running `callfix serve` on loopback ports.
type callfixProc struct {
	cmd         *exec.Cmd
	srv         *testsupport.Serve
	addr, admin string

	mu   sync.Mutex
	tail []string // the last log lines, for a breach's diagnosis
	// reloads counts the reload log lines by result and trigger.
	reloads map[[2]string]int
	// delay and grace are those the shutdown log line gives; closedAt is
	// when callfix logged that it closes its listener.
	delay, grace string
	closedAt     time.Time
}

var adminHTTP = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}

// startCallfix runs bin serve on loopback ports in front of the upstream
// at upstreamURL with the extra arguments, without the campaign's own
// CALLFIX_* and OTEL_* variables, and waits until it serves.
// Nothing routes to it by readiness, so it stops without a shutdown delay;
// startCallfixDefaultDrain keeps the default delay.
func startCallfix(ctx context.Context, bin, upstreamURL string, extra ...string) (*callfixProc, error) {
	return startProc(ctx, bin, upstreamURL, append([]string{"--set", "server.shutdown_delay=0"}, extra...))
}

// startCallfixDefaultDrain is startCallfix with the default
// server.shutdown_delay.
func startCallfixDefaultDrain(ctx context.Context, bin, upstreamURL string, extra ...string) (*callfixProc, error) {
	return startProc(ctx, bin, upstreamURL, extra)
}

func startProc(ctx context.Context, bin, upstreamURL string, extra []string) (*callfixProc, error) {
	args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	if upstreamURL != "" {
		args = append(args, "--upstream-api", upstreamURL, "--upstream-login", upstreamURL)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = testsupport.CleanEnv(os.Environ())
	p := &callfixProc{cmd: cmd, reloads: map[[2]string]int{}}
	srv, err := testsupport.StartServe(cmd, p.noteLine)
	if err != nil {
		return nil, fmt.Errorf("cannot start %s (run make build first): %w", bin, err)
	}
	p.srv = srv
	if p.addr, p.admin, err = srv.Serving(15*time.Second, ctx.Done()); err == nil {
		return p, nil
	}
	srv.Kill()
	return nil, fmt.Errorf("callfix serve %v:\n%s", err, p.logTail())
}

func (p *callfixProc) noteLine(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 40 {
		p.tail = append(p.tail[:0], p.tail[1:]...)
	}
	p.tail = append(p.tail, string(line))
	if !bytes.Contains(line, []byte(`"msg":"config reload`)) && !bytes.Contains(line, []byte(`"msg":"shutting down`)) && !bytes.Contains(line, []byte(`"msg":"closing the listener`)) {
		return
	}
	var l struct {
		Msg     string `json:"msg"`
		Trigger string `json:"trigger"`
		Delay   string `json:"delay"`
		Grace   string `json:"grace"`
	}
	if json.Unmarshal(line, &l) != nil {
		return
	}
	switch {
	case strings.HasPrefix(l.Msg, "shutting down"):
		p.delay, p.grace = l.Delay, l.Grace
	case strings.HasPrefix(l.Msg, "closing the listener"):
		p.closedAt = time.Now()
	case l.Msg == "config reloaded":
		p.reloads[[2]string{"success", l.Trigger}]++
	case strings.HasPrefix(l.Msg, "config reload rejected"):
		p.reloads[[2]string{"failure", l.Trigger}]++
	}
}

// reloadLines returns how many reload log lines have the result (success
// or failure) and the trigger ("" for any).
func (p *callfixProc) reloadLines(result, trigger string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, v := range p.reloads {
		if k[0] == result && (trigger == "" || k[1] == trigger) {
			n += v
		}
	}
	return n
}

// shutdownTimes returns the delay and grace of the shutdown log line and
// when the listener was closed (zero before).
func (p *callfixProc) shutdownTimes() (delay, grace string, closedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay, p.grace, p.closedAt
}

func (p *callfixProc) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *callfixProc) signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits up to d for the exit and returns its code, -1 if running.
func (p *callfixProc) wait(d time.Duration) int { return p.srv.Wait(d) }

// stop ends the process gracefully if it runs, by force after 40s (past
// the default shutdown delay and grace).
func (p *callfixProc) stop() {
	if !p.srv.Running() {
		return
	}
	p.signal(syscall.SIGTERM)
	time.Sleep(20 * time.Millisecond)
	p.signal(syscall.SIGTERM) // the second ends any shutdown delay
	if p.wait(40*time.Second) == -1 {
		p.srv.Kill()
	}
}

// ready reports whether /readyz answers 200.
func (p *callfixProc) ready() bool {
	resp, err := adminHTTP.Get("http://" + p.admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// metrics returns the samples of /metrics by series (name and labels as
// written, such as callfix_config_reloads_total{result="success"}).
func (p *callfixProc) metrics() (map[string]float64, error) {
	resp, err := adminHTTP.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// rss returns the resident memory of the process (VmRSS), or 0 where
// /proc cannot tell.
func (p *callfixProc) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
