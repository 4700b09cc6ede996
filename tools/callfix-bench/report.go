package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// report is everything a run measured; it is written as JSON as it is.
type report struct {
	Command   string    `json:"command"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Machine   machine   `json:"machine"`
	Generator string    `json:"generator"`
	Versions  struct {
		Callfix string `json:"callfix"`
		// Peers: the version of each peer's binary, by target.
		Peers map[string]string `json:"peers,omitempty"`
		Go    string            `json:"go"`
	} `json:"versions"`
	Settings struct {
		Duration          string   `json:"duration"`
		EffectiveDuration string   `json:"effective_duration"`
		Warmup            string   `json:"warmup"`
		EffectiveWarmup   string   `json:"effective_warmup"`
		Rounds            int      `json:"rounds"`
		Conns             int      `json:"conns"`
		Conns10M          int      `json:"conns_10m"`
		Threads           int      `json:"wrk_threads"`
		CallfixSets       []string `json:"callfix_sets"`
		Variants          []string `json:"callfix_variants,omitempty"`
		Quick             bool     `json:"quick"`
	} `json:"settings"`
	// Error is why the run stopped early ("interrupted" for Ctrl-C);
	// the results are then partial.
	Error     string            `json:"error,omitempty"`
	Targets   []string          `json:"targets"`
	Scenarios []*scenarioResult `json:"scenarios"`
	// Footprint is each proxy's time to ready and idle RSS.
	Footprint []footprint `json:"footprint"`
	// Fidelity is what each rewriting target forwarded for the probe of
	// fidelity.go.
	Fidelity []fidelity `json:"fidelity"`
	// PIDs lists every process the harness started or watched (nginx
	// workers); all of them are gone when it returns.
	PIDs []recordedPID `json:"pids"`
}

type machine struct {
	NProc      int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPU        string `json:"cpu"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	MemTotal   string `json:"mem_total,omitempty"`
}

type scenarioResult struct {
	Name    string         `json:"name"`
	About   string         `json:"about"`
	Method  string         `json:"method"`
	Path    string         `json:"path"`
	Conns   int            `json:"conns"`
	TLS     bool           `json:"tls_upstream"`
	Results []targetResult `json:"results"`
	Checks  []check        `json:"checks"`
	// Ratios of callfix to every other target: "callfix/T rps", "… p50",
	// "… p99", "… cpu_per_req", "… peak_rss".
	Ratios map[string]float64 `json:"ratios"`
	// TempFiles counts, by target, the responses nginx buffered to a
	// temporary file during the scenario.
	TempFiles map[string]int `json:"temp_files,omitempty"`
}

func newReport(o *options) *report {
	r := &report{Command: o.Command, Started: time.Now().UTC(), Machine: machineInfo()}
	r.Versions.Go = runtime.Version()
	r.Settings.Duration = o.Duration.String()
	r.Settings.Warmup = o.Warmup.String()
	r.Settings.Rounds = o.Rounds
	r.Settings.Conns = o.Conns
	r.Settings.Conns10M = o.Conns10M
	r.Settings.Threads = o.Threads
	r.Settings.CallfixSets = append([]string{"upstream.max_conns=1024"}, o.Sets...)
	for _, v := range o.Variants {
		r.Settings.Variants = append(r.Settings.Variants, "callfix-"+v.Name+": "+strings.Join(append(append([]string(nil), v.Sets...), v.Env...), " "))
	}
	r.Settings.Quick = o.Quick
	return r
}

func machineInfo() machine {
	m := machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		m.Kernel = string(b) // what uname -r prints
	}
	return m
}

func (s *scenarioResult) result(target string) *targetResult {
	for i := range s.Results {
		if s.Results[i].Target == target {
			return &s.Results[i]
		}
	}
	return nil
}

func (s *scenarioResult) computeRatios() {
	s.Ratios = map[string]float64{}
	cf := s.result("callfix")
	if cf == nil {
		return
	}
	for _, o := range s.Results {
		if o.Target == "callfix" {
			continue
		}
		pre := "callfix/" + o.Target
		if o.RPS > 0 {
			s.Ratios[pre+" rps"] = cf.RPS / o.RPS
		}
		if o.P50 > 0 {
			s.Ratios[pre+" p50"] = float64(cf.P50) / float64(o.P50)
		}
		if o.P99 > 0 {
			s.Ratios[pre+" p99"] = float64(cf.P99) / float64(o.P99)
		}
		if o.CPUUsPerReq > 0 && cf.CPUUsPerReq > 0 {
			s.Ratios[pre+" cpu_per_req"] = cf.CPUUsPerReq / o.CPUUsPerReq
		}
		if o.PeakRSS > 0 && cf.PeakRSS > 0 {
			s.Ratios[pre+" peak_rss"] = float64(cf.PeakRSS) / float64(o.PeakRSS)
		}
	}
}

// tableRows is the table shared by the terminal and the markdown: one row
// per scenario and target, with callfix's ratios to that target.
func (r *report) tableRows() (header []string, rows [][]string) {
	header = []string{"scenario", "target", "req/s", "p50", "p99", "errors", "peak RSS", "RSS rise", "CPU/req", "sys",
		"callfix/this req/s", "callfix/this CPU/req", "TLS handshakes/1k req"}
	withTLS := false
	for _, s := range r.Scenarios {
		withTLS = withTLS || s.TLS
	}
	for _, s := range r.Scenarios {
		for _, t := range s.Results {
			row := []string{s.Name, t.Target, fmt.Sprintf("%.0f", t.RPS), fmtDur(t.P50), fmtDur(t.P99), fmt.Sprint(t.Errors), "—", "—", "—", "—", "", "", ""}
			if t.measuredProc || t.PeakRSS > 0 {
				row[6] = fmtBytes(t.PeakRSS)
				row[7] = "+" + fmtBytes(t.RSSRise)
				row[8] = fmtCPU(t.CPUUsPerReq)
				row[9] = fmtCPU(t.SysUsPerReq)
			} else if t.UpstreamCPU > 0 {
				row[8] = "(" + fmtCPU(t.UpstreamCPU) + ")"
			}
			if v, ok := s.Ratios["callfix/"+t.Target+" rps"]; ok {
				row[10] = fmt.Sprintf("%.2f×", v)
			}
			if v, ok := s.Ratios["callfix/"+t.Target+" cpu_per_req"]; ok {
				row[11] = fmt.Sprintf("%.2f×", v)
			}
			if s.TLS {
				row[12] = fmt.Sprintf("%.2f (%d on %d conns)", t.HandshakesPer1k, t.TLSHandshakes, t.TLSConns)
				if t.TLSResumed > 0 {
					row[12] = fmt.Sprintf("%.2f (%d on %d conns, %d resumed)", t.HandshakesPer1k, t.TLSHandshakes, t.TLSConns, t.TLSResumed)
				}
			}
			rows = append(rows, row)
		}
	}
	if !withTLS {
		header = header[:len(header)-1]
		for i := range rows {
			rows[i] = rows[i][:len(rows[i])-1]
		}
	}
	return header, rows
}

// writeTable prints the table for a terminal.
func (r *report) writeTable(w io.Writer) {
	header, rows := r.tableRows()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// markdown is the report for docs: context, the table, how to read it.
func (r *report) markdown() []byte {
	var b bytes.Buffer
	m := r.Machine
	fmt.Fprintf(&b, "## callfix-bench, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	if r.Error != "" {
		fmt.Fprintf(&b, "**Partial results: the run stopped early (%s).**\n\n", r.Error)
	}
	fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- machine: %d CPUs (GOMAXPROCS %d), %s, kernel %s, %s RAM\n", m.NProc, m.GOMAXPROCS, orDash(m.CPU), orDash(m.Kernel), orDash(m.MemTotal))
	fmt.Fprintf(&b, "- Go %s; callfix %s", m.Go, orDash(r.Versions.Callfix))
	for _, t := range r.Targets {
		if v := r.Versions.Peers[t]; v != "" {
			fmt.Fprintf(&b, "; %s %s", t, v)
		}
	}
	fmt.Fprintf(&b, "\n- generator: %s; %d round(s) of %s per target and scenario (after a %s warm-up), target order rotating; %d connections (get-10m: %d)",
		r.Generator, r.Settings.Rounds, r.Settings.EffectiveDuration, r.Settings.EffectiveWarmup, r.Settings.Conns, r.Settings.Conns10M)
	if strings.HasPrefix(r.Generator, "wrk") {
		fmt.Fprintf(&b, ", %d wrk threads", r.Settings.Threads)
	}
	fmt.Fprintf(&b, "\n- callfix: `serve --mode enforce`")
	for _, s := range r.Settings.CallfixSets {
		fmt.Fprintf(&b, " `--set %s`", s)
	}
	for _, v := range r.Settings.Variants {
		fmt.Fprintf(&b, "\n- variant %s", v)
	}
	fmt.Fprintf(&b, "\n\n")
	header, rows := r.tableRows()
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i < 2 {
			b.WriteString("---|")
		} else {
			b.WriteString("--:|")
		}
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\nreq/s, p50, p99 and CPU/req: median of the rounds; errors: sum (answers not 2xx/3xx and socket errors); ")
	b.WriteString("peak RSS: the largest over the rounds (callfix: VmHWM, reset before each run; nginx: master and workers' VmRSS summed, sampled every 100 ms); ")
	b.WriteString("RSS rise: peak over the RSS before the scenario; CPU/req: the proxy's user+system CPU time per request (nginx: all its processes; sys: the kernel's part of it; ")
	b.WriteString("in parentheses on direct: the harness process, that is the upstream, when wrk generates the load); ")
	b.WriteString("callfix/this: callfix's req/s over this target's (above 1: callfix is faster), callfix's CPU per request over this target's (below 1: callfix is cheaper); ")
	b.WriteString("TLS handshakes: completed at the upstream's TLS listener over the scenario (warm-up included), per 1,000 requests, with the connections they were on.\n")
	for _, s := range r.Scenarios {
		for t, n := range s.TempFiles {
			fmt.Fprintf(&b, "\n%s buffered %d responses of %s to temporary files.\n", t, n, s.Name)
		}
	}
	if len(r.Footprint) > 0 {
		b.WriteString("\n| target | start to ready | idle RSS | processes |\n|---|--:|--:|--:|\n")
		for _, f := range r.Footprint {
			fmt.Fprintf(&b, "| %s | %s | %s | %d |\n", f.Target, fmtDur(f.Ready), fmtBytes(f.IdleRSS), f.Processes)
		}
		b.WriteString("\nstart to ready: from starting the process to its first answer forwarded from the upstream (polled every 2 ms); idle RSS: all its processes, once every proxy is up, before any load.\n")
	}
	if len(r.Fidelity) > 0 {
		b.WriteString("\nWhat each rewriting target forwarded for the probe `" + maskProbe.Replace(probeBody) + "` (numbers masked here):\n\n")
		b.WriteString("| target | byte-exact | what changed besides the two numbers |\n|---|---|---|\n")
		for _, f := range r.Fidelity {
			what := "nothing"
			if !f.Exact {
				what = strings.ReplaceAll(strings.Join(f.Losses, "; "), "|", `\|`)
			}
			fmt.Fprintf(&b, "| %s | %v | %s |\n", f.Target, f.Exact, what)
		}
	}
	b.WriteString("\n| scenario | what it measures |\n|---|---|\n")
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "| %s | `%s %s`, %d connections: %s |\n", s.Name, s.Method, s.Path, s.Conns, s.About)
	}
	return b.Bytes()
}

func (r *report) writeFiles(jsonPath, mdPath string) error {
	if jsonPath != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if mdPath != "" {
		if err := os.WriteFile(mdPath, r.markdown(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtBytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// fmtCPU prints CPU time per request, given in microseconds.
func fmtCPU(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2f ms", us/1000)
	}
	return fmt.Sprintf("%.1f µs", us)
}
