package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// campaign is one run: the binary under test, the sizes, and the report.
type campaign struct {
	bin     string
	seed    uint64
	n       int // at-most-once POSTs
	conc    int // at-most-once clients at once
	staleN  int // stale GETs, and as many POSTs
	soakDur time.Duration
	rep     *report
}

// scenario is one part of the campaign.
type scenario struct {
	name string
	run  func(*campaign, context.Context) error
}

var scenarios = []scenario{
	{"at-most-once", (*campaign).atMostOnce},
	{"stale", (*campaign).stale},
	{"reload", (*campaign).reload},
	{"sigterm", (*campaign).drain},
	{"slow", (*campaign).slow},
	{"soak", (*campaign).soak},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("callfix-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &campaign{rep: &report{}}
	fs.StringVar(&c.bin, "callfix", "bin/callfix", "the callfix binary to test (make build)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of every random choice (faults, pauses, idle times)")
	fs.IntVar(&c.n, "n", 10000, "at-most-once: call POSTs to send")
	fs.IntVar(&c.conc, "concurrency", 64, "at-most-once: clients at once")
	fs.IntVar(&c.staleN, "stale-n", 5000, "stale keep-alive: GETs to send, and as many POSTs")
	fs.DurationVar(&c.soakDur, "soak", time.Minute, "how long the soak runs")
	only := fs.String("only", "", "comma-separated scenarios to run (at-most-once, stale, reload, sigterm, slow, soak); default all")
	timeout := fs.Duration("timeout", 0, "bound on the whole run (default 4m plus the soak)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: callfix-chaos [flags]\n\nRuns callfix (-callfix) on loopback against a fault-injecting upstream, prints a\ntable of figures, and exits 1 on any breach of a promise, 2 on bad usage.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "callfix-chaos: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	selected := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			known := false
			for _, sc := range scenarios {
				known = known || sc.name == s
			}
			if !known {
				fmt.Fprintf(stderr, "callfix-chaos: -only: %q is not a scenario\n", s)
				return 2
			}
			selected[s] = true
		}
	}
	if c.n <= 0 || c.conc <= 0 || c.staleN <= 0 || c.soakDur < 10*time.Second {
		fmt.Fprintln(stderr, "callfix-chaos: -n, -concurrency and -stale-n must be positive, -soak at least 10s")
		return 2
	}
	if *timeout <= 0 {
		*timeout = 4*time.Minute + c.soakDur
	}
	if _, err := os.Stat(c.bin); err != nil {
		fmt.Fprintf(stderr, "callfix-chaos: %v (run make build first)\n", err)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(stdout, machine(c.bin))
	start := time.Now()
	for _, sc := range scenarios {
		if len(selected) > 0 && !selected[sc.name] {
			continue
		}
		fmt.Fprintf(stderr, "callfix-chaos: %s ...\n", sc.name)
		t := time.Now()
		if err := sc.run(c, ctx); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("stopped: %v (bound -timeout %s)", ctx.Err(), *timeout)
			}
			c.rep.fail(sc.name, err)
		}
		c.rep.took(sc.name, time.Since(t))
		if ctx.Err() != nil {
			break
		}
	}
	c.rep.check("campaign", "total time", time.Since(start), "≤ "+timeout.String(), time.Since(start) <= *timeout)
	c.rep.write(stdout)
	if len(c.rep.breaches()) > 0 {
		return 1
	}
	return 0
}

// machine describes where the campaign ran: what docs/RELIABILITY.md
// quotes next to the figures.
func machine(bin string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = ", load average " + strings.Join(f[:3], " ")
		}
	}
	version := "unknown"
	if out, err := exec.Command(bin, "version").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("callfix-chaos: %s (%s); %d CPUs (nproc), %s, %s %s/%s%s; %s UTC\n",
		bin, version, runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH, load, time.Now().UTC().Format("2006-01-02 15:04"))
}
