package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// options are the harness's settings, from the flags.
type options struct {
	Duration  time.Duration
	Warmup    time.Duration
	Rounds    int
	Conns     int
	Conns10M  int
	Threads   int
	OutJSON   string
	OutMD     string
	Scenarios []*scenario
	Callfix   string   // binary; "" = build ./cmd/callfix
	Nginx     string   // binary; "" = no nginx target
	Wrk       string   // binary; "" = the Go generator
	Sets      []string // extra callfix --set KEY=VALUE
	Quick     bool
	KeepTmp   bool   // keep the temporary directory (nginx's config and logs)
	Root      string // module root (for go build)
	Assets    string // tools/callfix-bench/assets
	Command   string // as typed, for the report
}

// target is one thing the generator drives: the upstream itself
// ("direct"), callfix, or nginx.
type target struct {
	Name string
	URL  string
	w    *watched // nil for direct: it lives in the harness process
}

// run is the whole harness: it starts the upstream and the proxies,
// drives every scenario, and stops everything it started before it
// returns, whatever happens.
func run(ctx context.Context, o *options, ps *procSet, progress io.Writer) (rep *report, err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	tmp, err := os.MkdirTemp("", "callfix-bench-")
	if err != nil {
		return nil, err
	}
	if o.KeepTmp {
		logf("keeping %s (-keep)", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	rep = newReport(o)
	defer func() {
		// Whatever happened: stop, then list the PIDs for the leak check.
		ps.stopAll()
		if rep != nil {
			rep.PIDs = ps.pids()
		}
	}()

	var gen generator
	if o.Wrk != "" {
		gen = &wrkGen{bin: o.Wrk, scripts: o.Assets, version: wrkVersion(ctx, o.Wrk), ps: ps}
	} else {
		gen = newGoGen()
	}
	rep.Generator = gen.Name()
	dur := max(o.Duration, gen.MinDuration())
	warm := max(o.Warmup, gen.MinDuration())
	if dur != o.Duration {
		logf("note: %s runs whole seconds: -duration %s becomes %s", gen.Name(), o.Duration, dur)
	}
	rep.Settings.EffectiveDuration = dur.String()
	rep.Settings.EffectiveWarmup = warm.String()

	up, err := startUpstream()
	if err != nil {
		return rep, fmt.Errorf("upstream: %v", err)
	}
	defer up.Close()
	logf("upstream (Genesys stand-in) on %s", up.Addr())

	bin := o.Callfix
	if bin == "" {
		logf("building ./cmd/callfix …")
		if bin, err = buildCallfix(ctx, ps, o.Root, tmp); err != nil {
			return rep, err
		}
	}
	cf, err := startCallfix(ctx, ps, bin, up.Addr(), o.Sets)
	if err != nil {
		return rep, err
	}
	defer cf.stop(ps)
	rep.Versions.Callfix = cf.version
	logf("callfix %s on %s (pid %d, %s)", cf.version, cf.addr, cf.proc.pid, bin)
	targets := []*target{
		{Name: "direct", URL: "http://" + up.Addr()},
		{Name: "callfix", URL: "http://" + cf.addr, w: &watched{name: "callfix", pid: cf.proc.pid, ps: ps}},
	}
	var ng *nginxTarget
	if o.Nginx != "" {
		// Its own directory right under the system's temporary one: when
		// nginx runs as root its workers are nobody, and must reach their
		// temporary files there.
		ndir, err := os.MkdirTemp("", "callfix-bench-nginx-")
		if err != nil {
			return rep, err
		}
		if o.KeepTmp {
			logf("keeping %s (-keep)", ndir)
		} else {
			defer os.RemoveAll(ndir)
		}
		ng, err = startNginx(ctx, ps, o.Nginx, filepath.Join(o.Assets, "nginx.conf.tmpl"), ndir, up.Addr(), runtime.GOMAXPROCS(0))
		if err != nil {
			return rep, err
		}
		defer ng.stop(ps)
		rep.Versions.Nginx = ng.version
		w := &watched{name: "nginx", pid: ng.proc.pid, workers: true, ps: ps}
		targets = append(targets, &target{Name: "nginx", URL: "http://" + ng.addr, w: w})
		logf("nginx %s on %s (master pid %d, workers %v, %d worker_processes)", ng.version, ng.addr, ng.proc.pid, w.pids()[1:], runtime.GOMAXPROCS(0))
	} else {
		logf("nginx: not on PATH (or -nginx off): no nginx target")
	}
	for _, t := range targets {
		rep.Targets = append(rep.Targets, t.Name)
	}

	for _, sc := range o.Scenarios {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		conns := o.Conns
		if sc.Conns > 0 {
			conns = min(conns, o.Conns10M)
		}
		sr := &scenarioResult{Name: sc.Name, About: sc.About, Method: sc.Method, Path: sc.Path, Conns: conns}
		rep.Scenarios = append(rep.Scenarios, sr)
		logf("\n== %s: %s %s, %d connections, rounds: %d × %s", sc.Name, sc.Method, sc.Path, conns, o.Rounds, dur)

		base := map[string]int64{}
		for _, t := range targets {
			if t.w != nil {
				base[t.Name] = t.w.rss(t.w.pids())
			}
		}
		tempBefore, logAt := 0, int64(0)
		if ng != nil {
			tempBefore, logAt = ng.tempFileWarnings(), ng.logSize()
		}
		// Warm-up: every target once, short; then what the upstream received
		// proves that each target really does the job (and that callfix
		// really rewrites).
		up.quiesce(3 * time.Second)
		for _, t := range targets {
			before := up.counts()
			r, err := gen.Run(ctx, load{BaseURL: t.URL, Sc: sc, Conns: conns, Threads: o.Threads, Duration: warm})
			if err != nil {
				return rep, fmt.Errorf("%s warm-up on %s: %v", sc.Name, t.Name, err)
			}
			up.quiesce(3 * time.Second)
			got := up.counts().sub(before)
			c := warmupCheck(sc, t.Name, r, got)
			if t.Name == "nginx" {
				if lines, n := ng.problemsSince(logAt); n > 0 {
					c.OK = false
					c.Detail += fmt.Sprintf("; nginx logged %d errors:\n      %s", n, strings.Join(lines, "\n      "))
				}
			}
			sr.Checks = append(sr.Checks, c)
			logf("   warm-up %-8s %s", t.Name, c.Detail)
			if !c.OK {
				return rep, fmt.Errorf("%s: check failed on %s: %s", sc.Name, t.Name, c.Detail)
			}
		}

		runs := map[string][]runResult{}
		for round := 0; round < o.Rounds; round++ {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				// Every run ends with the upstream quiet (quiesce below):
				// nothing left over from the previous one reaches it while
				// this one is measured.
				var smp *sampler
				if t.w != nil {
					smp = startSampler(t.w)
				}
				self0, _ := readStat(os.Getpid())
				before := up.counts()
				r, err := gen.Run(ctx, load{BaseURL: t.URL, Sc: sc, Conns: conns, Threads: o.Threads, Duration: dur})
				self1, _ := readStat(os.Getpid())
				var s sample
				if smp != nil {
					s = smp.stop()
				}
				up.quiesce(3 * time.Second)
				got := up.counts().sub(before)
				rr := runResult{Round: round + 1, loadResult: r, Upstream: got}
				if smp != nil {
					rr.PeakRSS, rr.StartRSS = s.PeakRSS, s.StartRSS
					if r.Requests > 0 {
						rr.CPUUsPerReq = s.CPUSec * 1e6 / float64(r.Requests)
					}
					if s.Wall > 0 {
						rr.CPUCores = s.CPUSec / s.Wall.Seconds()
					}
				}
				if r.Requests > 0 {
					rr.HarnessCPUUsPerReq = float64(self1.utime+self1.stime-self0.utime-self0.stime) / userHZ * 1e6 / float64(r.Requests)
				}
				if err != nil {
					return rep, fmt.Errorf("%s round %d on %s: %v", sc.Name, round+1, t.Name, err)
				}
				if sc.Call && !sc.Canonical && t.Name == "callfix" && got.TelPlus1 != got.Calls {
					sr.Checks = append(sr.Checks, check{Target: t.Name, OK: false,
						Detail: fmt.Sprintf("round %d: %d of %d call bodies reached the upstream rewritten", round+1, got.TelPlus1, got.Calls)})
				}
				runs[t.Name] = append(runs[t.Name], rr)
				logf("   round %d %-8s %10.0f req/s  p50 %-9s p99 %-9s errors %d%s", round+1, t.Name, r.RPS,
					fmtDur(r.P50), fmtDur(r.P99), r.Errors(), rssNote(rr))
			}
		}
		for _, t := range targets {
			sr.Results = append(sr.Results, aggregate(t, runs[t.Name], base[t.Name], t.w != nil, o.Wrk != ""))
		}
		if ng != nil {
			sr.NginxTempFiles = ng.tempFileWarnings() - tempBefore
			if lines, n := ng.problemsSince(logAt); n > 0 {
				sr.Checks = append(sr.Checks, check{Target: "nginx", OK: false,
					Detail: fmt.Sprintf("nginx logged %d errors:\n      %s", n, strings.Join(lines, "\n      "))})
			}
		}
		sr.computeRatios()
	}
	rep.Finished = time.Now().UTC()
	for _, s := range rep.Scenarios {
		for _, c := range s.Checks {
			if !c.OK {
				return rep, fmt.Errorf("%s: check failed on %s: %s", s.Name, c.Target, c.Detail)
			}
		}
	}
	return rep, nil
}

func rssNote(r runResult) string {
	if r.PeakRSS == 0 {
		return ""
	}
	return fmt.Sprintf("  peak RSS %s  CPU %s/req (%.2f cores)", fmtBytes(r.PeakRSS), fmtCPU(r.CPUUsPerReq), r.CPUCores)
}

// check is one verification of what reached the upstream.
type check struct {
	Target string `json:"target"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// warmupCheck verifies a warm-up run: requests got answered without
// errors, and the upstream received what the scenario means. In
// call-rewrite every body callfix forwarded has phoneNumber as tel:+1… and
// callerId as +1…, while the ones sent directly or through nginx have
// neither (so the load really carries national numbers).
func warmupCheck(sc *scenario, target string, r loadResult, got upstreamCounts) check {
	c := check{Target: target, OK: true}
	var problems []string
	if r.Requests == 0 {
		problems = append(problems, "no request completed")
	}
	if r.Errors() > 0 {
		problems = append(problems, fmt.Sprintf("%d errors (%d not 2xx/3xx, %d socket)", r.Errors(), r.Non2xx, r.SocketErrors))
	}
	if got.NotFound > 0 {
		problems = append(problems, fmt.Sprintf("the upstream answered 404 to %d requests", got.NotFound))
	}
	detail := fmt.Sprintf("%d requests, upstream received %d", r.Requests, got.Requests)
	switch {
	case sc.Put:
		detail += fmt.Sprintf(", %d whole 100 KiB bodies", got.Puts)
		if got.PutBad > 0 || got.Puts == 0 {
			problems = append(problems, fmt.Sprintf("%d uploads arrived truncated or padded, %d whole", got.PutBad, got.Puts))
		}
	case sc.WantBody > 0:
		detail += fmt.Sprintf(", %d × 10 MiB sent", got.Bigs)
		if got.Bigs == 0 {
			problems = append(problems, "the upstream sent no 10 MiB body")
		}
	case sc.Call:
		detail += fmt.Sprintf(", %d call bodies: %d with tel:+1, %d with \"callerId\":\"+1", got.Calls, got.TelPlus1, got.CallerE164)
		want := "all"
		if !sc.Canonical && target != "callfix" {
			want = "none"
		}
		switch {
		case got.Calls == 0:
			problems = append(problems, "no call body reached the upstream")
		case want == "all" && (got.TelPlus1 != got.Calls || got.CallerE164 != got.Calls):
			if sc.Canonical {
				problems = append(problems, "canonical bodies reached the upstream changed")
			} else {
				problems = append(problems, "callfix did not rewrite every body: check its mode and rules")
			}
		case want == "none" && (got.TelPlus1 != 0 || got.CallerE164 != 0):
			problems = append(problems, "bodies sent as national numbers reached the upstream canonical: the load is not what it claims")
		}
		detail += " (want " + want + ")"
	}
	if len(problems) > 0 {
		c.OK = false
		detail += ": " + strings.Join(problems, "; ")
	} else {
		detail += ": ok"
	}
	c.Detail = detail
	return c
}

// runResult is one measured run of one target.
type runResult struct {
	Round int `json:"round"`
	loadResult
	PeakRSS            int64          `json:"peak_rss_bytes,omitempty"`
	StartRSS           int64          `json:"start_rss_bytes,omitempty"`
	CPUUsPerReq        float64        `json:"cpu_us_per_req,omitempty"`
	CPUCores           float64        `json:"cpu_cores,omitempty"`
	HarnessCPUUsPerReq float64        `json:"harness_cpu_us_per_req"`
	Upstream           upstreamCounts `json:"upstream"`
}

// targetResult is the summary over the rounds: medians of req/s, p50,
// p99 and CPU per request; errors summed; peak RSS the largest.
type targetResult struct {
	Target       string        `json:"target"`
	RPS          float64       `json:"rps"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	Errors       int64         `json:"errors"`
	Requests     int64         `json:"requests"`
	PeakRSS      int64         `json:"peak_rss_bytes,omitempty"`
	BaselineRSS  int64         `json:"baseline_rss_bytes,omitempty"`
	RSSRise      int64         `json:"rss_rise_bytes,omitempty"`
	CPUUsPerReq  float64       `json:"cpu_us_per_req,omitempty"`
	CPUCores     float64       `json:"cpu_cores,omitempty"`
	UpstreamCPU  float64       `json:"upstream_cpu_us_per_req,omitempty"` // direct with wrk: the harness process is the upstream
	Runs         []runResult   `json:"runs"`
	measuredProc bool
}

func aggregate(t *target, runs []runResult, baseline int64, proc, wrk bool) targetResult {
	tr := targetResult{Target: t.Name, Runs: runs, measuredProc: proc}
	var rps, p50, p99, cpu, cores, hcpu []float64
	for _, r := range runs {
		rps = append(rps, r.RPS)
		p50 = append(p50, float64(r.P50))
		p99 = append(p99, float64(r.P99))
		tr.Errors += r.Errors()
		tr.Requests += r.Requests
		if proc {
			cpu = append(cpu, r.CPUUsPerReq)
			cores = append(cores, r.CPUCores)
			tr.PeakRSS = max(tr.PeakRSS, r.PeakRSS)
		}
		hcpu = append(hcpu, r.HarnessCPUUsPerReq)
	}
	tr.RPS = median(rps)
	tr.P50 = time.Duration(median(p50))
	tr.P99 = time.Duration(median(p99))
	if proc {
		tr.CPUUsPerReq = median(cpu)
		tr.CPUCores = median(cores)
		tr.BaselineRSS = baseline
		tr.RSSRise = max(tr.PeakRSS-baseline, 0)
	} else if wrk {
		// With wrk as the generator the harness process is only the
		// upstream (and the samplers): its CPU is the upstream's.
		tr.UpstreamCPU = median(hcpu)
	}
	return tr
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// findRoot walks up from dir to the go.mod of github.com/callfix/callfix.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.TrimSpace(line) == "module github.com/callfix/callfix" {
					return d, nil
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", errors.New("not inside the github.com/callfix/callfix module (no go.mod found above " + dir + ")")
		}
	}
}

// lookPath is exec.LookPath for a flag that may be "auto" (find name on
// PATH, "" when absent), "off" or a path.
func lookPath(flagValue, name string) (string, error) {
	switch flagValue {
	case "off", "none", "":
		return "", nil
	case "auto":
		p, err := exec.LookPath(name)
		if err != nil {
			// Debian puts nginx in /usr/sbin, often not on a user's PATH.
			for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
				if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
					return p, nil
				}
			}
			return "", nil
		}
		return p, nil
	}
	p, err := exec.LookPath(flagValue)
	if err != nil {
		return "", fmt.Errorf("-%s %s: %v", name, flagValue, err)
	}
	return p, nil
}
