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
	NginxLua  bool     // also nginx-lua (nginx with Lua and cjson found)
	Lua       luaFiles // the module and cjson files for nginx-lua
	HAProxy   string   // binary; "" = no haproxy target
	Caddy     string   // binary; "" = no caddy target
	Wrk       string   // binary; "" = the Go generator
	Sets      []string // extra callfix --set KEY=VALUE
	Variants  []variant
	Quick     bool
	KeepTmp   bool   // keep the temporary directories (configs and logs)
	Root      string // module root (for go build)
	Assets    string // tools/callfix-bench/assets
	Command   string // as typed, for the report
}

// variant is another callfix target with its own settings (-variant), to
// compare configurations in one run: target "callfix-NAME".
type variant struct {
	Name string
	Sets []string // --set KEY=VALUE
	Env  []string // NAME=VALUE
}

// target is one thing the generator drives: the upstream itself
// ("direct"), callfix (and its variants), or a peer.
type target struct {
	Name string
	URL  string
	w    *watched // nil for direct: it lives in the harness process
	peer *peerProc
	// Ready is the time from start to the first answer forwarded.
	Ready   time.Duration
	Version string
	// CallsOnly targets are driven in the call scenarios only; Rewrites
	// targets turn national numbers into E.164 (callfix, nginx-lua).
	CallsOnly, Rewrites bool
	stop                func()
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
	if os.Geteuid() == 0 {
		// The CA file in it is read by nginx's workers (nobody).
		_ = os.Chmod(tmp, 0o755)
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

	// The scenarios in two phases: the plain upstream, then the same
	// upstream behind TLS, each with its own set of proxies.
	var plain, overTLS []*scenario
	for _, sc := range o.Scenarios {
		if sc.TLS {
			overTLS = append(overTLS, sc)
		} else {
			plain = append(plain, sc)
		}
	}
	seen := map[string]bool{}
	for _, phase := range [][]*scenario{plain, overTLS} {
		if len(phase) == 0 {
			continue
		}
		tlsPhase := phase[0].TLS
		upstreamURL, caFile := "http://"+up.Addr(), ""
		if tlsPhase {
			ca, err := newBenchCA(tmp)
			if err != nil {
				return rep, fmt.Errorf("making the TLS CA: %v", err)
			}
			addr, err := up.startTLS(ca)
			if err != nil {
				return rep, fmt.Errorf("upstream over TLS: %v", err)
			}
			upstreamURL, caFile = "https://"+addr, ca.CAFile
			logf("\nupstream over TLS on %s (certificate for %s and 127.0.0.1 from a CA made for this run)", addr, tlsServerName)
		}
		targets, err := startTargets(ctx, o, ps, bin, up, upstreamURL, caFile, logf)
		defer stopTargets(targets)
		if err != nil {
			return rep, err
		}
		for _, t := range targets {
			if !seen[t.Name] {
				seen[t.Name] = true
				rep.Targets = append(rep.Targets, t.Name)
			}
			switch {
			case t.Name == "callfix":
				rep.Versions.Callfix = t.Version
			case t.peer != nil:
				if rep.Versions.Peers == nil {
					rep.Versions.Peers = map[string]string{}
				}
				rep.Versions.Peers[t.Name] = t.Version
			}
		}
		if !tlsPhase {
			rep.Footprint = footprints(targets)
			for _, t := range targets {
				if t.Rewrites {
					f := checkFidelity(ctx, up, t)
					rep.Fidelity = append(rep.Fidelity, f)
					verdict := "byte-exact"
					if !f.Exact {
						verdict = strings.Join(f.Losses, "; ")
					}
					logf("fidelity %-12s %s", t.Name, verdict)
				}
			}
			for _, f := range rep.Fidelity {
				if strings.HasPrefix(f.Target, "callfix") && !f.Exact {
					return rep, fmt.Errorf("fidelity probe: %s did not rewrite every body as it should: %s", f.Target, strings.Join(f.Losses, "; "))
				}
			}
		}
		for _, sc := range phase {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			sr, err := runScenario(ctx, o, gen, up, sc, targets, dur, warm, logf)
			if sr != nil {
				rep.Scenarios = append(rep.Scenarios, sr)
			}
			if err != nil {
				return rep, err
			}
		}
		stopTargets(targets)
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

// startTargets starts callfix, its variants and every peer in front of
// upstreamURL ("direct" too when it is plain HTTP). On an error it returns
// what it started, for stopTargets.
func startTargets(ctx context.Context, o *options, ps *procSet, bin string, up *upstream, upstreamURL, caFile string, logf func(string, ...any)) ([]*target, error) {
	var targets []*target
	if caFile == "" {
		targets = append(targets, &target{Name: "direct", URL: upstreamURL, stop: func() {}})
	}
	cfs := append([]variant{{Name: "callfix", Sets: o.Sets}}, o.Variants...)
	for i, v := range cfs {
		name := v.Name
		sets := v.Sets
		if i > 0 {
			name = "callfix-" + v.Name
			sets = append(append([]string(nil), o.Sets...), v.Sets...)
		}
		cf, err := startCallfix(ctx, ps, callfixStart{Bin: bin, Upstream: upstreamURL, CAFile: caFile, Sets: sets, Env: v.Env})
		if err != nil {
			return targets, fmt.Errorf("%s: %v", name, err)
		}
		targets = append(targets, &target{Name: name, URL: "http://" + cf.addr, w: &watched{name: name, pid: cf.proc.pid, ps: ps},
			Ready: cf.Ready, Version: cf.version, Rewrites: true, stop: func() { cf.stop(ps) }})
		logf("%-16s %s on %s (pid %d, ready in %s)%s", name, cf.version, cf.addr, cf.proc.pid, fmtDur(cf.Ready), variantNote(v, i))
	}
	for _, k := range peerKinds(o) {
		scheme := "http"
		if caFile != "" {
			scheme = "https"
		}
		p, err := startPeer(ctx, ps, k, peerStart{Assets: o.Assets, Upstream: strings.TrimPrefix(strings.TrimPrefix(upstreamURL, "http://"), "https://"),
			Scheme: scheme, CAFile: caFile, Workers: runtime.GOMAXPROCS(0), Lua: o.Lua}, o.KeepTmp, logf)
		if err != nil {
			return targets, err
		}
		w := &watched{name: k.Name, pid: p.proc.pid, workers: k.Workers, ps: ps}
		targets = append(targets, &target{Name: k.Name, URL: "http://" + p.addr, w: w, peer: p, Ready: p.Ready, Version: p.version,
			CallsOnly: k.CallsOnly, Rewrites: k.Rewrites, stop: func() { p.stop(ps, o.KeepTmp) }})
		procs := fmt.Sprintf("pid %d", p.proc.pid)
		if k.Workers {
			procs = fmt.Sprintf("master pid %d, workers %v", p.proc.pid, w.pids()[1:])
		}
		logf("%-16s %s on %s (%s, %d workers/threads, ready in %s)", k.Name, p.version, p.addr, procs, runtime.GOMAXPROCS(0), fmtDur(p.Ready))
	}
	return targets, nil
}

func variantNote(v variant, i int) string {
	if i == 0 {
		return ""
	}
	return " with " + strings.Join(append(append([]string(nil), v.Sets...), v.Env...), " ")
}

// stopTargets stops every target (once; safe to call again).
func stopTargets(targets []*target) {
	for _, t := range targets {
		if t.stop != nil {
			t.stop()
			t.stop = nil
		}
	}
}

// footprint is a proxy's cost before any load: what a sidecar costs.
type footprint struct {
	Target string `json:"target"`
	// Ready: from starting the process to its first forwarded answer.
	Ready time.Duration `json:"start_to_ready_ns"`
	// IdleRSS: resident memory (all processes) once every target is up,
	// before the first request of the load.
	IdleRSS int64 `json:"idle_rss_bytes"`
	// Processes counted (nginx: master and workers).
	Processes int `json:"processes"`
}

// footprints measures every proxy's idle RSS after a short settle.
func footprints(targets []*target) []footprint {
	time.Sleep(300 * time.Millisecond)
	var out []footprint
	for _, t := range targets {
		if t.w == nil {
			continue
		}
		pids := t.w.pids()
		out = append(out, footprint{Target: t.Name, Ready: t.Ready, IdleRSS: t.w.rss(pids), Processes: len(pids)})
	}
	return out
}

// runScenario drives one scenario against every target that takes part
// in it: a checked warm-up, then the rounds.
func runScenario(ctx context.Context, o *options, gen generator, up *upstream, sc *scenario, all []*target, dur, warm time.Duration,
	logf func(string, ...any)) (*scenarioResult, error) {
	var targets []*target
	for _, t := range all {
		if t.CallsOnly && !sc.Call {
			continue
		}
		targets = append(targets, t)
	}
	conns := o.Conns
	if sc.Conns > 0 {
		conns = min(conns, o.Conns10M)
	}
	sr := &scenarioResult{Name: sc.Name, About: sc.About, Method: sc.Method, Path: sc.Path, Conns: conns, TLS: sc.TLS}
	logf("\n== %s: %s %s, %d connections, rounds: %d × %s", sc.Name, sc.Method, sc.Path, conns, o.Rounds, dur)

	base := map[string]int64{}
	marks := map[string]logMark{}
	temps := map[string]int{}
	for _, t := range targets {
		if t.w != nil {
			base[t.Name] = t.w.rss(t.w.pids())
		}
		if t.peer != nil {
			marks[t.Name], temps[t.Name] = t.peer.mark(), t.peer.tempFileWarnings()
		}
	}
	// What each target cost the upstream over the whole scenario (TLS
	// handshakes), warm-up included.
	total := map[string]upstreamCounts{}
	totalReq := map[string]int64{}
	// Warm-up: every target once, short; then what the upstream received
	// proves that each target really does the job (and that the rewriting
	// ones really rewrite).
	up.quiesce(3 * time.Second)
	for _, t := range targets {
		before := up.counts()
		r, err := gen.Run(ctx, load{BaseURL: t.URL, Sc: sc, Conns: conns, Threads: o.Threads, Duration: warm})
		if err != nil {
			return sr, fmt.Errorf("%s warm-up on %s: %v", sc.Name, t.Name, err)
		}
		up.quiesce(3 * time.Second)
		got := up.counts().sub(before)
		total[t.Name], totalReq[t.Name] = got, r.Requests
		c := warmupCheck(sc, t, r, got)
		if t.peer != nil {
			if lines, n := t.peer.problemsSince(marks[t.Name]); n > 0 {
				c.OK = false
				c.Detail += fmt.Sprintf("; %s logged %d errors:\n      %s", t.Name, n, strings.Join(lines, "\n      "))
			}
		}
		sr.Checks = append(sr.Checks, c)
		logf("   warm-up %-14s %s", t.Name, c.Detail)
		if !c.OK {
			return sr, fmt.Errorf("%s: check failed on %s: %s", sc.Name, t.Name, c.Detail)
		}
	}

	runs := map[string][]runResult{}
	for round := 0; round < o.Rounds; round++ {
		for i := range targets {
			t := targets[(i+round)%len(targets)]
			if err := ctx.Err(); err != nil {
				return sr, err
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
			total[t.Name] = total[t.Name].add(got)
			totalReq[t.Name] += r.Requests
			rr := runResult{Round: round + 1, loadResult: r, Upstream: got}
			if smp != nil {
				rr.PeakRSS, rr.StartRSS = s.PeakRSS, s.StartRSS
				if r.Requests > 0 {
					rr.CPUUsPerReq = s.CPUSec * 1e6 / float64(r.Requests)
					rr.SysUsPerReq = s.SysSec * 1e6 / float64(r.Requests)
				}
				if s.Wall > 0 {
					rr.CPUCores = s.CPUSec / s.Wall.Seconds()
				}
			}
			if r.Requests > 0 {
				rr.HarnessCPUUsPerReq = float64(self1.utime+self1.stime-self0.utime-self0.stime) / userHZ * 1e6 / float64(r.Requests)
			}
			if err != nil {
				return sr, fmt.Errorf("%s round %d on %s: %v", sc.Name, round+1, t.Name, err)
			}
			if sc.Call && !sc.Canonical && t.Rewrites && got.TelPlus1 != got.Calls {
				sr.Checks = append(sr.Checks, check{Target: t.Name, OK: false,
					Detail: fmt.Sprintf("round %d: %d of %d call bodies reached the upstream rewritten", round+1, got.TelPlus1, got.Calls)})
			}
			runs[t.Name] = append(runs[t.Name], rr)
			logf("   round %d %-14s %10.0f req/s  p50 %-9s p99 %-9s errors %d%s", round+1, t.Name, r.RPS,
				fmtDur(r.P50), fmtDur(r.P99), r.Errors(), rssNote(rr))
		}
	}
	for _, t := range targets {
		tr := aggregate(t, runs[t.Name], base[t.Name], t.w != nil, o.Wrk != "")
		if sc.TLS {
			c := total[t.Name]
			tr.TLSConns, tr.TLSHandshakes, tr.TLSResumed = c.TLSConns, c.TLSHandshakes, c.TLSResumed
			if n := totalReq[t.Name]; n > 0 {
				tr.HandshakesPer1k = float64(c.TLSHandshakes) * 1000 / float64(n)
			}
			if c.TLSHandshakes > c.TLSConns {
				sr.Checks = append(sr.Checks, check{Target: t.Name, OK: false,
					Detail: fmt.Sprintf("%d TLS handshakes on %d connections: more than one per connection", c.TLSHandshakes, c.TLSConns)})
			}
		}
		sr.Results = append(sr.Results, tr)
		if t.peer != nil {
			if n := t.peer.tempFileWarnings() - temps[t.Name]; n > 0 {
				if sr.TempFiles == nil {
					sr.TempFiles = map[string]int{}
				}
				sr.TempFiles[t.Name] = n
			}
			if lines, n := t.peer.problemsSince(marks[t.Name]); n > 0 {
				sr.Checks = append(sr.Checks, check{Target: t.Name, OK: false,
					Detail: fmt.Sprintf("%s logged %d errors:\n      %s", t.Name, n, strings.Join(lines, "\n      "))})
			}
		}
	}
	sr.computeRatios()
	return sr, nil
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
// call-rewrite every body a rewriting target (callfix, nginx-lua)
// forwarded has phoneNumber as tel:+1… and callerId as +1…, while the ones
// sent directly or through a pass-through proxy have neither (so the load
// really carries national numbers). callfix's bodies must also be the
// canonical body byte for byte (only the two numbers changed); how many of
// the others' are is shown.
func warmupCheck(sc *scenario, t *target, r loadResult, got upstreamCounts) check {
	c := check{Target: t.Name, OK: true}
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
		detail += fmt.Sprintf(", %d call bodies: %d with tel:+1, %d with \"callerId\":\"+1, %d byte-exact", got.Calls, got.TelPlus1, got.CallerE164, got.Exact)
		want := "all"
		if !sc.Canonical && !t.Rewrites {
			want = "none"
		}
		isCallfix := strings.HasPrefix(t.Name, "callfix")
		switch {
		case got.Calls == 0:
			problems = append(problems, "no call body reached the upstream")
		case want == "all" && (got.TelPlus1 != got.Calls || got.CallerE164 != got.Calls):
			if sc.Canonical {
				problems = append(problems, "canonical bodies reached the upstream changed")
			} else {
				problems = append(problems, t.Name+" did not rewrite every body: check its mode and rules")
			}
		case want == "none" && (got.TelPlus1 != 0 || got.CallerE164 != 0):
			problems = append(problems, "bodies sent as national numbers reached the upstream canonical: the load is not what it claims")
		case want == "all" && isCallfix && got.Exact != got.Calls:
			problems = append(problems, fmt.Sprintf("%d of %d bodies differ from the canonical body beyond the two numbers", got.Calls-got.Exact, got.Calls))
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
	SysUsPerReq        float64        `json:"sys_cpu_us_per_req,omitempty"` // the kernel's share of CPUUsPerReq
	CPUCores           float64        `json:"cpu_cores,omitempty"`
	HarnessCPUUsPerReq float64        `json:"harness_cpu_us_per_req"`
	Upstream           upstreamCounts `json:"upstream"`
}

// targetResult is the summary over the rounds: medians of req/s, p50,
// p99 and CPU per request; errors summed; peak RSS the largest.
type targetResult struct {
	Target      string        `json:"target"`
	RPS         float64       `json:"rps"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	Errors      int64         `json:"errors"`
	Requests    int64         `json:"requests"`
	PeakRSS     int64         `json:"peak_rss_bytes,omitempty"`
	BaselineRSS int64         `json:"baseline_rss_bytes,omitempty"`
	RSSRise     int64         `json:"rss_rise_bytes,omitempty"`
	CPUUsPerReq float64       `json:"cpu_us_per_req,omitempty"`
	SysUsPerReq float64       `json:"sys_cpu_us_per_req,omitempty"`
	CPUCores    float64       `json:"cpu_cores,omitempty"`
	UpstreamCPU float64       `json:"upstream_cpu_us_per_req,omitempty"` // direct with wrk: the harness process is the upstream
	// TLS scenarios: what the upstream's TLS listener saw from this
	// target over the scenario (warm-up and rounds): connections,
	// handshakes (resumed among them) and handshakes per 1,000 requests.
	TLSConns        int64       `json:"tls_conns,omitempty"`
	TLSHandshakes   int64       `json:"tls_handshakes,omitempty"`
	TLSResumed      int64       `json:"tls_resumed,omitempty"`
	HandshakesPer1k float64     `json:"tls_handshakes_per_1k_requests,omitempty"`
	Runs            []runResult `json:"runs"`
	measuredProc    bool
}

func aggregate(t *target, runs []runResult, baseline int64, proc, wrk bool) targetResult {
	tr := targetResult{Target: t.Name, Runs: runs, measuredProc: proc}
	var rps, p50, p99, cpu, sys, cores, hcpu []float64
	for _, r := range runs {
		rps = append(rps, r.RPS)
		p50 = append(p50, float64(r.P50))
		p99 = append(p99, float64(r.P99))
		tr.Errors += r.Errors()
		tr.Requests += r.Requests
		if proc {
			cpu = append(cpu, r.CPUUsPerReq)
			sys = append(sys, r.SysUsPerReq)
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
		tr.SysUsPerReq = median(sys)
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
