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
		Nginx   string `json:"nginx,omitempty"`
		Go      string `json:"go"`
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
		Quick             bool     `json:"quick"`
	} `json:"settings"`
	// Error is why the run stopped early ("interrupted" for Ctrl-C);
	// the results are then partial.
	Error     string            `json:"error,omitempty"`
	Targets   []string          `json:"targets"`
	Scenarios []*scenarioResult `json:"scenarios"`
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
	Results []targetResult `json:"results"`
	Checks  []check        `json:"checks"`
	// Ratios of callfix to the others: req/s, p50, p99 and (nginx) CPU
	// per request.
	Ratios map[string]float64 `json:"ratios"`
	// NginxTempFiles counts the responses nginx buffered to a temporary
	// file during the scenario.
	NginxTempFiles int `json:"nginx_temp_files"`
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
	for _, other := range []string{"direct", "nginx"} {
		o := s.result(other)
		if o == nil {
			continue
		}
		if o.RPS > 0 {
			s.Ratios["callfix/"+other+" rps"] = cf.RPS / o.RPS
		}
		if o.P50 > 0 {
			s.Ratios["callfix/"+other+" p50"] = float64(cf.P50) / float64(o.P50)
		}
		if o.P99 > 0 {
			s.Ratios["callfix/"+other+" p99"] = float64(cf.P99) / float64(o.P99)
		}
		if o.CPUUsPerReq > 0 {
			s.Ratios["callfix/"+other+" cpu_per_req"] = cf.CPUUsPerReq / o.CPUUsPerReq
		}
	}
}

// tableRows is the table shared by the terminal and the markdown: one row
// per scenario and target; ratios of req/s on the callfix row.
func (r *report) tableRows() (header []string, rows [][]string) {
	header = []string{"scenario", "target", "req/s", "p50", "p99", "errors", "peak RSS", "RSS rise", "CPU/req", "callfix/direct", "callfix/nginx"}
	withNginx := false
	for _, t := range r.Targets {
		withNginx = withNginx || t == "nginx"
	}
	defer func() {
		if !withNginx { // no nginx target: no callfix/nginx column
			header = header[:len(header)-1]
			for i := range rows {
				rows[i] = rows[i][:len(rows[i])-1]
			}
		}
	}()
	for _, s := range r.Scenarios {
		for _, t := range s.Results {
			row := []string{s.Name, t.Target, fmt.Sprintf("%.0f", t.RPS), fmtDur(t.P50), fmtDur(t.P99), fmt.Sprint(t.Errors), "—", "—", "—", "", ""}
			if t.measuredProc {
				row[6] = fmtBytes(t.PeakRSS)
				row[7] = "+" + fmtBytes(t.RSSRise)
				row[8] = fmtCPU(t.CPUUsPerReq)
			} else if t.UpstreamCPU > 0 {
				row[8] = "(" + fmtCPU(t.UpstreamCPU) + ")"
			}
			if t.Target == "callfix" {
				if v, ok := s.Ratios["callfix/direct rps"]; ok {
					row[9] = fmt.Sprintf("%.2f×", v)
				}
				if v, ok := s.Ratios["callfix/nginx rps"]; ok {
					row[10] = fmt.Sprintf("%.2f×", v)
				}
			}
			rows = append(rows, row)
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
	if r.Versions.Nginx != "" {
		fmt.Fprintf(&b, "; %s", r.Versions.Nginx)
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
	b.WriteString("RSS rise: peak over the RSS before the scenario; CPU/req: the proxy's user+system CPU time per request (nginx: all its processes; ")
	b.WriteString("in parentheses on direct: the harness process, that is the upstream, when wrk generates the load); ratios: callfix's req/s over the other's.\n")
	for _, s := range r.Scenarios {
		if s.NginxTempFiles > 0 {
			fmt.Fprintf(&b, "\nnginx buffered %d responses of %s to temporary files.\n", s.NginxTempFiles, s.Name)
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
