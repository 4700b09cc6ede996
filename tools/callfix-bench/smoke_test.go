package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// binaries builds callfix and the harness once (into a directory removed
// by TestMain), outside the time the runs below are held to.
func binaries(t *testing.T) (callfix, bench string) {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "callfix-bench-test-")
		if buildErr != nil {
			return
		}
		root, err := findRoot(".")
		if err != nil {
			buildErr = err
			return
		}
		for _, pkg := range []string{"./cmd/callfix", "./tools/callfix-bench"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			cmd := exec.CommandContext(ctx, "go", "build", "-o", builtDir+"/", pkg)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				buildErr = err
				builtDir += ": " + string(out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binaries: %v %s", buildErr, builtDir)
	}
	return filepath.Join(builtDir, "callfix"), filepath.Join(builtDir, "callfix-bench")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" && buildErr == nil {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// assertNothingLeft checks that none of the PIDs the harness recorded is
// still running (a zombie waiting for a reaper counts as gone), that no
// process is left in the process groups it created, and that the test
// process has no child left.
func assertNothingLeft(t *testing.T, pids []recordedPID) {
	t.Helper()
	groups := map[int]bool{}
	for _, p := range pids {
		groups[p.PID] = true
	}
	// A process killed a moment ago may take a few ms to leave.
	deadline := time.Now().Add(3 * time.Second)
	for {
		var left []string
		for _, p := range pids {
			if alive, _ := processAlive(p.PID); alive {
				st, _ := readStat(p.PID)
				// The PID may have been reused by an unrelated process.
				if groups[st.pgrp] || st.ppid == os.Getpid() {
					left = append(left, strconv.Itoa(p.PID)+" ("+p.Name+")")
				}
			}
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			st, err := readStat(pid)
			if err != nil || st.state == 'Z' {
				continue
			}
			if groups[st.pgrp] || st.ppid == os.Getpid() {
				left = append(left, strconv.Itoa(pid)+" (unrecorded, group "+strconv.Itoa(st.pgrp)+")")
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %s", strings.Join(left, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The whole harness, -quick, on loopback: upstream, the real callfix,
// nginx when installed, every scenario, the built-in generator; about five
// seconds. Every check passes, the files are written, and nothing it
// started is left running.
func TestQuickRun_WholeHarness_LeavesNothingBehind(t *testing.T) {
	callfix, _ := binaries(t)
	dir := t.TempDir()
	o, err := parseFlags([]string{"-quick", "-callfix", callfix, "-out-json", filepath.Join(dir, "r.json"), "-out-md", filepath.Join(dir, "r.md")}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log bytes.Buffer
	start := time.Now()
	rep, err := execute(ctx, o, newProcSet(), &log, &log)
	took := time.Since(start)
	t.Logf("quick run: %v\n%s", took, log.String())
	if rep == nil {
		t.Fatalf("no report: %v", err)
	}
	assertNothingLeft(t, rep.PIDs)
	if err != nil {
		t.Fatal(err)
	}
	if took > 40*time.Second {
		t.Errorf("the quick run took %v (aimed at ~15s)", took)
	}
	// In CI the peers are installed (make bench-deps): the quick run
	// must have used every one of them.
	if os.Getenv("CI") == "true" && (o.Nginx == "" || !o.NginxLua || o.HAProxy == "" || o.Caddy == "") {
		t.Errorf("CI without every peer: nginx %q, nginx-lua %v, haproxy %q, caddy %q", o.Nginx, o.NginxLua, o.HAProxy, o.Caddy)
	}
	// Per scenario: direct (not over TLS), callfix, and each peer found
	// (nginx-lua in the call scenarios only).
	wantTargets := func(sc *scenarioResult) int {
		n := 1
		if !sc.TLS {
			n++
		}
		for _, k := range peerKinds(o) {
			if !k.CallsOnly || strings.HasPrefix(sc.Path, "/api/v2/conversations/calls") {
				n++
			}
		}
		return n
	}
	names := map[string]bool{}
	for _, p := range rep.PIDs {
		names[p.Name] = true
	}
	for _, k := range peerKinds(o) {
		if !names[k.Name] || (k.Workers && !names[k.Name+" worker"]) {
			t.Errorf("recorded PIDs %v: %s (and its workers) should be among them", rep.PIDs, k.Name)
		}
	}
	if !names["callfix"] {
		t.Errorf("recorded PIDs %v: no callfix", rep.PIDs)
	}
	if len(rep.Scenarios) != len(allScenarios) {
		t.Fatalf("%d scenarios, want %d", len(rep.Scenarios), len(allScenarios))
	}
	// Over the TLS scenarios each target opened its connections (the later
	// scenario may reuse the earlier one's).
	tlsHandshakes := map[string]int64{}
	defer func() {
		for _, name := range rep.Targets {
			if name != "direct" && tlsHandshakes[name] == 0 {
				t.Errorf("%s: no TLS handshake at the upstream in the TLS scenarios", name)
			}
		}
	}()
	for _, s := range rep.Scenarios {
		if len(s.Results) != wantTargets(s) {
			t.Errorf("%s: %d targets, want %d", s.Name, len(s.Results), wantTargets(s))
		}
		for _, r := range s.Results {
			if r.Requests == 0 || r.Errors != 0 {
				t.Errorf("%s %s: %d requests, %d errors", s.Name, r.Target, r.Requests, r.Errors)
			}
			if r.Target != "direct" && r.PeakRSS == 0 {
				t.Errorf("%s %s: no peak RSS", s.Name, r.Target)
			}
		}
		for _, c := range s.Checks {
			if !c.OK {
				t.Errorf("%s: check failed: %s", s.Name, c.Detail)
			}
		}
		for _, r := range s.Results {
			if r.Target != "callfix" && s.Ratios["callfix/"+r.Target+" rps"] <= 0 {
				t.Errorf("%s: no callfix/%s ratio", s.Name, r.Target)
			}
			if s.TLS {
				tlsHandshakes[r.Target] += r.TLSHandshakes
				if r.TLSHandshakes > r.TLSConns {
					t.Errorf("%s %s: %d TLS handshakes on %d connections: want at most one per connection", s.Name, r.Target, r.TLSHandshakes, r.TLSConns)
				}
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Scenarios) != len(allScenarios) || len(back.PIDs) == 0 {
		t.Errorf("the JSON does not read back (%v)", err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "r.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Every callfix target forwards the probe byte for byte but for its
	// two numbers; nginx-lua, when there, shows cjson's four losses.
	var fids []string
	for _, f := range rep.Fidelity {
		fids = append(fids, f.Target)
		if strings.HasPrefix(f.Target, "callfix") && !f.Exact {
			t.Errorf("fidelity %s: %v", f.Target, f.Losses)
		}
		if f.Target == "nginx-lua" {
			all := strings.Join(f.Losses, "\n")
			for _, want := range []string{"key order lost", `"/" escaped`, "routingSkillsIds: [] became {}", "priority: 9007199254740993 became 9.007199254741e+15"} {
				if !strings.Contains(all, want) {
					t.Errorf("fidelity nginx-lua: no %q among %v", want, f.Losses)
				}
			}
		}
	}
	if len(fids) == 0 || fids[0] != "callfix" || (o.NginxLua && len(fids) != 2) {
		t.Errorf("fidelity checked on %v", fids)
	}
	if len(rep.Footprint) == 0 || rep.Footprint[0].Target != "callfix" || rep.Footprint[0].Ready <= 0 || rep.Footprint[0].IdleRSS <= 0 {
		t.Errorf("footprint %+v", rep.Footprint)
	}
	for _, want := range []string{"| scenario | target | req/s | p50 | p99 | errors | peak RSS", "generator: built-in Go generator", "kernel ", "command: `go run ./tools/callfix-bench -quick",
		"| target | start to ready | idle RSS |", "| callfix | true | nothing |"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("the markdown lacks %q:\n%s", want, md)
		}
	}
}

// A callfix that does not rewrite (here: audit mode) is caught by the
// warm-up check before anything is measured, and the harness still stops
// everything it started.
func TestRun_CallfixNotRewriting_FailsTheCheck(t *testing.T) {
	callfix, _ := binaries(t)
	o, err := parseFlags([]string{"-quick", "-callfix", callfix, "-scenarios", "call-rewrite", "-set", "mode=audit", "-out-json", ""}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log bytes.Buffer
	rep, err := run(ctx, o, newProcSet(), &log)
	if err == nil || !strings.Contains(err.Error(), "callfix did not rewrite every body") {
		t.Errorf("err = %v, want the rewrite check to fail\n%s", err, log.String())
	}
	assertNothingLeft(t, rep.PIDs)
}

// Ctrl-C on the real harness binary: it stops the run (wrk killed mid-run
// when wrk is the generator), writes what it has with the PIDs it
// recorded, exits 130, and none of those processes is left.
func TestMain_CtrlC_StopsEverything(t *testing.T) {
	callfix, bench := binaries(t)
	root, err := findRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	gen := "go"
	if _, err := exec.LookPath("wrk"); err == nil {
		gen = "wrk"
	}
	cmd := exec.Command(bench, "-quick", "-generator", gen, "-duration", "30s", "-scenarios", "get-small", "-callfix", callfix, "-out-json", out)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }() // only if the test fails midway
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			// The first warm-up has run (with wrk, if it is the
			// generator): callfix, nginx and a load generator have been
			// started, and the next runs are under way.
			if strings.Contains(sc.Text(), "warm-up direct") {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the harness did not reach its first warm-up in 30s")
	}
	time.Sleep(500 * time.Millisecond) // in the next warm-up or the 30s run
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the harness did not exit within 20s of SIGINT")
	}
	t.Logf("exited %v after SIGINT in %v", err, time.Since(start))
	if cmd.ProcessState.ExitCode() != 130 {
		t.Errorf("exit code %d, want 130", cmd.ProcessState.ExitCode())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no JSON written on interrupt: %v", err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// callfix always; nginx and wrk when this machine has them (a fresh
	// CI machine may not: make bench-deps installs them).
	minPIDs := 1
	if _, err := exec.LookPath("nginx"); err == nil || gen == "wrk" {
		minPIDs = 2
	} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		minPIDs = 2
	}
	if rep.Error != "interrupted" || len(rep.PIDs) < minPIDs {
		t.Errorf("error %q, PIDs %v, want at least %d", rep.Error, rep.PIDs, minPIDs)
	}
	if gen == "wrk" {
		hasWrk := false
		for _, p := range rep.PIDs {
			hasWrk = hasWrk || p.Name == "wrk"
		}
		if !hasWrk {
			t.Errorf("no wrk among the recorded PIDs %v", rep.PIDs)
		}
	}
	assertNothingLeft(t, append(rep.PIDs, recordedPID{PID: cmd.Process.Pid, Name: "callfix-bench"}))
}
