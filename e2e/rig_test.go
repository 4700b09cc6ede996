package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/e2e"
)

// callfixBin and rigBin are built once for these tests.
var callfixBin, rigBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callfix-e2e-rig")
	if err != nil {
		panic(err)
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	callfixBin = filepath.Join(dir, "callfix"+exe)
	rigBin = filepath.Join(dir, "rig"+exe)
	for _, b := range [][2]string{{callfixBin, "../cmd/callfix"}, {rigBin, "./rig"}} {
		build := exec.Command("go", "build", "-o", b[0], b[1])
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			panic("building " + b[1] + ": " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var client = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

func do(t *testing.T, method, url, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func records(t *testing.T, r *e2e.Rig, instance, upstream string) []e2e.Recorded {
	t.Helper()
	code, body := do(t, "GET", r.Control+"/requests?instance="+instance+"&upstream="+upstream, "", "")
	var recs []e2e.Recorded
	if code != 200 || json.Unmarshal([]byte(body), &recs) != nil {
		t.Fatalf("control /requests: %d %s", code, body)
	}
	return recs
}

// The rig routes through callfix as the SDK tests rely on, and its control
// endpoint shows what each upstream received.
func TestRig_UpstreamsRecordWhatCallfixForwards(t *testing.T) {
	r, err := e2e.Start(callfixBin)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	info := r.Info()
	if info["callfix"] == "" || info["gateway"] == "" || info["rig"] != r.Control {
		t.Fatalf("Info() = %v, want callfix, gateway and rig", info)
	}

	type step struct {
		instance, method, path, contentType, body string
		upstream, wantTarget, wantBody            string
		wantStatus                                int
		wantAnswer                                string
	}
	for _, s := range []step{
		{"callfix", "POST", "/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", "login", "/oauth/token", "grant_type=client_credentials", 200, e2e.Token},
		{"callfix", "POST", "/api/v2/conversations/calls", "application/json", `{"phoneNumber":"(317) 555-0100"}`, "api", "/api/v2/conversations/calls", `{"phoneNumber":"tel:+13175550100"}`, 200, e2e.Conversation},
		{"callfix", "GET", "/api/v2/users/me?expand=presence", "", "", "api", "/api/v2/users/me?expand=presence", "", 200, e2e.User},
		{"gateway", "POST", "/login/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", "login", "/oauth/token", "grant_type=client_credentials", 200, e2e.Token},
		{"gateway", "POST", "/api/api/v2/conversations/calls", "application/json", `{"to":{"to":"13172224567"}}`, "api", "/api/v2/conversations/calls", `{"to":{"to":"tel:+13172224567"}}`, 200, e2e.Conversation},
		{"callfix", "GET", "/api/v2/nowhere", "", "", "api", "/api/v2/nowhere", "", 404, ""},
	} {
		in := r.Instance(s.instance)
		before := len(records(t, r, s.instance, s.upstream))
		code, answer := do(t, s.method, "http://"+in.Addr+s.path, s.contentType, s.body)
		if code != s.wantStatus || s.wantAnswer != "" && answer != s.wantAnswer {
			t.Errorf("%s %s %s: %d %s, want %d %s", s.instance, s.method, s.path, code, answer, s.wantStatus, s.wantAnswer)
		}
		recs := records(t, r, s.instance, s.upstream)[before:]
		if len(recs) != 1 || recs[0].Method != s.method || recs[0].Target != s.wantTarget || recs[0].Body != s.wantBody {
			t.Errorf("%s %s %s: the %s upstream got %+v, want one %s %s with body %q", s.instance, s.method, s.path, s.upstream, recs, s.method, s.wantTarget, s.wantBody)
		}
	}
	if n := len(records(t, r, "gateway", "login")); n != 1 {
		t.Errorf("the gateway instance's login upstream got %d requests, want 1", n)
	}
	if code, body := do(t, "GET", r.Control+"/requests?instance=nope&upstream=api", "", ""); code != 404 || !strings.Contains(body, "nope") {
		t.Errorf("control /requests for an unknown instance: %d %s, want 404 naming it", code, body)
	}
	if code, body := do(t, "GET", r.Control+"/log?instance=callfix", "", ""); code != 200 || !strings.Contains(body, "callfix serving") {
		t.Errorf("control /log: %d %s, want callfix's log", code, body)
	}

	r.Close()
	for _, in := range r.Instances {
		if in.Running() {
			t.Errorf("callfix %s still runs after Close", in.Name)
		}
		if c, err := net.DialTimeout("tcp", in.Addr, time.Second); err == nil {
			c.Close()
			t.Errorf("callfix %s (%s) still accepts connections after Close", in.Name, in.Addr)
		}
	}
}

// A callfix that cannot start is reported with its log, and nothing is
// left running.
func TestRig_CallfixFailsToStart_ErrorHasItsLog(t *testing.T) {
	r, err := e2e.Start(callfixBin, e2e.Variant{Name: "bad", Args: []string{"--mode", "block"}})
	if err == nil {
		r.Close()
		t.Fatal("Start succeeded with --mode block")
	}
	if !strings.Contains(err.Error(), `"block" is not a mode`) {
		t.Errorf("error = %v, want callfix's complaint", err)
	}
}

// startRigProgram runs the rig program and returns it with the addresses
// it printed.
func startRigProgram(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, map[string]string, chan error) {
	t.Helper()
	cmd := exec.Command(rigBin, append([]string{"-callfix", callfixBin}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	var info map[string]string
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &info); err != nil || info["callfix"] == "" || info["gateway"] == "" || info["rig"] == "" {
			t.Fatalf("the rig printed %q, want {\"callfix\",\"gateway\",\"rig\"}", line)
		}
	case err := <-done:
		t.Fatalf("the rig exited before printing its addresses: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the rig printed nothing within 20s")
	}
	return cmd, stdin, info, done
}

// gone reports whether nothing accepts connections at addr.
func gone(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// The rig program stops callfix and everything else on stdin EOF and on
// SIGTERM.
func TestRigProgram_StopsEverything_OnEOFAndSIGTERM(t *testing.T) {
	for _, how := range []string{"eof", "sigterm"} {
		cmd, stdin, info, done := startRigProgram(t)
		if code, body := do(t, "GET", "http://"+info["callfix"]+"/api/v2/users/me", "", ""); code != 200 || body != e2e.User {
			t.Errorf("%s: GET through callfix = %d %s", how, code, body)
		}
		if how == "eof" {
			stdin.Close()
		} else if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Skipf("no SIGTERM here: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: the rig exited with %v, want 0", how, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the rig still runs 15s later", how)
		}
		for name, addr := range info {
			if !gone(strings.TrimPrefix(addr, "http://")) {
				t.Errorf("%s: %s (%s) still accepts connections after the rig stopped", how, name, addr)
			}
		}
	}
}

// With a command, the rig runs it with CALLFIX_RIG set and exits with its
// status.
func TestRigProgram_RunsACommand(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(rigBin, "-callfix", callfixBin, "--", sh, "-c", `case "$CALLFIX_RIG" in http://127.0.0.1:*) exit 3;; esac; exit 1`)
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("rig -- sh: %v, want exit 3 (the command saw CALLFIX_RIG)", err)
	}
}

// RunTests kills the command and everything it started when its context
// ends.
func TestRunTests_TimeoutKillsTheWholeTree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process groups are set up on Linux only")
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e2e.RunTests(ctx, t.TempDir(), os.Environ(), io.Discard, "sh", "-c", `sleep 60 & echo $! > `+pidFile+`; wait`)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Fatalf("RunTests = %v after %s, want the deadline within 10s", err, time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(5 * time.Second); ; {
		// Gone, or a zombie (state Z) waiting for init to reap it.
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child %d still runs after RunTests returned", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
