package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkGen runs wrk as a child process:
//
//	wrk -t2 -c64 -d5s --latency -s tools/callfix-bench/assets/SCRIPT URL -- ARGS
type wrkGen struct {
	bin     string
	scripts string // directory of the Lua scripts
	version string
	ps      *procSet
}

func (g *wrkGen) Name() string {
	if g.version != "" {
		return "wrk (" + g.version + ")"
	}
	return "wrk"
}

func (g *wrkGen) MinDuration() time.Duration { return time.Second }

// wrkVersion reads the first line wrk prints for -v.
func wrkVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) >= 2 && f[0] == "wrk" {
		return f[1]
	}
	return ""
}

// wrkArgs is wrk's command line for l: whole seconds, at least one.
func (g *wrkGen) args(l load) []string {
	secs := int(math.Ceil(l.Duration.Seconds()))
	secs = max(secs, 1)
	threads := min(max(l.Threads, 1), max(l.Conns, 1))
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(max(l.Conns, 1)), "-d" + strconv.Itoa(secs) + "s",
		"--latency", "-s", filepath.Join(g.scripts, l.Sc.Script), l.BaseURL + l.Sc.Path}
	if len(l.Sc.ScriptArgs) > 0 {
		args = append(append(args, "--"), l.Sc.ScriptArgs...)
	}
	return args
}

func (g *wrkGen) Run(ctx context.Context, l load) (loadResult, error) {
	args := g.args(l)
	out := &capBuffer{max: 256 << 10}
	cmd := exec.Command(g.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	c, err := g.ps.start("wrk", cmd)
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk: %v", err)
	}
	// wrk ends by itself after -d; past that plus a margin (its own 2s
	// request timeout, startup) it is killed.
	limit := time.NewTimer(time.Duration(max(int(math.Ceil(l.Duration.Seconds())), 1))*time.Second + 20*time.Second)
	defer limit.Stop()
	select {
	case <-c.done:
	case <-limit.C:
		g.ps.stop(c, syscall.SIGKILL, 0)
		return loadResult{}, fmt.Errorf("wrk %s did not finish in time:\n%s", strings.Join(args, " "), out.String())
	case <-ctx.Done():
		g.ps.stop(c, syscall.SIGKILL, 0)
		return loadResult{}, ctx.Err()
	}
	if c.err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), c.err, out.String())
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return r, nil
}

var (
	wrkTotalRe  = regexp.MustCompile(`^\s*(\d+) requests in ([0-9.]+\w+), `)
	wrkRPSRe    = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)`)
	wrkPctRe    = regexp.MustCompile(`^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkSocketRe = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRe = regexp.MustCompile(`^\s*Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report (with --latency): requests/s, p50 and p99
// of the latency distribution, non-2xx/3xx answers and socket errors.
func parseWrk(text string) (loadResult, error) {
	var r loadResult
	var haveRPS, haveP50, haveP99, haveTotal, inDist bool
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "Latency Distribution" {
			inDist = true
			continue
		}
		if m := wrkPctRe.FindStringSubmatch(line); m != nil && inDist {
			d, err := wrkDuration(m[2], m[3])
			if err != nil {
				return r, err
			}
			if m[1] == "50" {
				r.P50, haveP50 = d, true
			} else {
				r.P99, haveP99 = d, true
			}
			continue
		}
		if m := wrkTotalRe.FindStringSubmatch(line); m != nil {
			inDist = false
			r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
			if d, err := time.ParseDuration(m[2]); err == nil {
				r.Elapsed = d
			} else if v, err := strconv.ParseFloat(strings.TrimRight(m[2], "smhu"), 64); err == nil {
				r.Elapsed = time.Duration(v * float64(time.Second))
			}
			haveTotal = true
			continue
		}
		if m := wrkSocketRe.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.ParseInt(s, 10, 64)
				r.SocketErrors += n
			}
			continue
		}
		if m := wrkNon2xxRe.FindStringSubmatch(line); m != nil {
			r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
			continue
		}
		if m := wrkRPSRe.FindStringSubmatch(line); m != nil {
			r.RPS, _ = strconv.ParseFloat(m[1], 64)
			haveRPS = true
		}
	}
	switch {
	case !haveRPS:
		return r, fmt.Errorf("no Requests/sec line in wrk's output")
	case !haveTotal:
		return r, fmt.Errorf("no \"N requests in T\" line in wrk's output")
	case !haveP50 || !haveP99:
		return r, fmt.Errorf("no 50%%/99%% lines in wrk's latency distribution (was --latency given?)")
	}
	return r, nil
}

// wrkDuration reads one of wrk's formatted times: 1.23ms, 456.00us, 2.00s,
// 1.50m, 1.00h.
func wrkDuration(num, unit string) (time.Duration, error) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("wrk latency %q: %v", num+unit, err)
	}
	mult := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[unit]
	return time.Duration(math.Round(v * mult)), nil
}
