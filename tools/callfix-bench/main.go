package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const usage = `Usage: go run ./tools/callfix-bench [flags]

Measures callfix side by side with the proxies a user would pick instead
(nginx, nginx with Lua and cjson rewriting call bodies, HAProxy, Caddy) and
with no proxy at all, on loopback: a Genesys-like upstream in this process,
plain and over TLS, the real callfix binary (--mode enforce) and each peer
in front of it, the same load from wrk (or a built-in Go generator) against
each. Prints a table, writes JSON and markdown. Every process it starts is
stopped when it ends, on an error or on Ctrl-C (a second Ctrl-C kills them
at once).

Flags:
`

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseFlags reads the command line into options, after -quick's
// defaults for the flags not given.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("callfix-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	o := &options{}
	var scen, nginx, nginxLua, haproxy, caddy, wrk, generator, assets string
	var sets, variants stringList
	var requirePeers bool
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measured run (wrk: whole seconds)")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "length of the warm-up run of each target before each scenario (checks what the upstream receives)")
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds per scenario; the target order rotates each round and the table shows medians")
	fs.IntVar(&o.Conns, "conns", 64, "connections (wrk -c)")
	fs.IntVar(&o.Conns10M, "conns-10m", 8, "connections for get-10m (at most -conns)")
	fs.IntVar(&o.Threads, "threads", 2, "wrk threads (wrk -t)")
	fs.StringVar(&o.OutJSON, "out-json", "bench-results.json", "write the results as JSON to this file (\"\" for none)")
	fs.StringVar(&o.OutMD, "out-md", "", "write the markdown report to this file")
	fs.StringVar(&scen, "scenarios", "all", "comma-separated scenarios: "+scenarioNames())
	fs.StringVar(&o.Callfix, "callfix", "", "callfix binary (default: go build -o TMPDIR ./cmd/callfix)")
	fs.StringVar(&nginx, "nginx", "auto", "nginx binary, \"auto\" (on PATH or in /usr/sbin, if there) or \"off\"")
	fs.StringVar(&nginxLua, "nginx-lua", "auto", "nginx-lua target (the -nginx binary with Debian's Lua module and lua-cjson): \"auto\" (when found) or \"off\"")
	fs.StringVar(&haproxy, "haproxy", "auto", "haproxy binary, \"auto\" (on PATH or in /usr/sbin, if there) or \"off\"")
	fs.StringVar(&caddy, "caddy", "auto", "caddy binary, \"auto\" (on PATH, if there) or \"off\"")
	fs.BoolVar(&requirePeers, "require-peers", false, "fail unless nginx, nginx-lua, haproxy, caddy and wrk are all found (make bench; make bench-deps installs them)")
	fs.Var(&variants, "variant", "another callfix target `NAME:SETTING[;SETTING…]` (repeatable), SETTING a callfix KEY=VALUE or env:NAME=VALUE; e.g. -variant 'noaudit:audit.enabled=false' -variant 'gogc200:env:GOGC=200'")
	fs.StringVar(&wrk, "wrk", "auto", "wrk binary, \"auto\" (on PATH if there) or \"off\"")
	fs.StringVar(&generator, "generator", "auto", "load generator: auto (wrk if found, except with -quick), wrk or go")
	fs.Var(&sets, "set", "extra callfix `KEY=VALUE` (repeatable), e.g. -set audit.enabled=false")
	fs.BoolVar(&o.Quick, "quick", false, "a short smoke run: 1 round of 150ms, 50ms warm-up, 8 connections (2 for get-10m), the Go generator")
	fs.BoolVar(&o.KeepTmp, "keep", false, "keep the temporary directories (callfix binary, the peers' configs and logs) and print their paths")
	fs.StringVar(&assets, "assets", "", "directory of the peers' config templates, rewrite.lua and the wrk scripts (default: tools/callfix-bench/assets of the module)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.Quick {
		defaults := map[string]func(){
			"duration":  func() { o.Duration = 150 * time.Millisecond },
			"warmup":    func() { o.Warmup = 50 * time.Millisecond },
			"rounds":    func() { o.Rounds = 1 },
			"conns":     func() { o.Conns = 8 },
			"conns-10m": func() { o.Conns10M = 2 },
			// wrk counts whole seconds: 15 runs of at least 2s each are not
			// a smoke test.
			"generator": func() { generator = "go" },
		}
		for name, set := range defaults {
			if !given[name] {
				set()
			}
		}
	}
	switch {
	case o.Duration <= 0 || o.Duration > time.Hour:
		return nil, errors.New("-duration: between 1ns and 1h")
	case o.Warmup <= 0 || o.Warmup > time.Minute:
		return nil, errors.New("-warmup: between 1ns and 1m")
	case o.Rounds < 1 || o.Rounds > 100:
		return nil, errors.New("-rounds: between 1 and 100")
	case o.Conns < 1 || o.Conns > 10000:
		return nil, errors.New("-conns: between 1 and 10000")
	case o.Conns10M < 1:
		return nil, errors.New("-conns-10m: at least 1")
	case o.Threads < 1 || o.Threads > 256:
		return nil, errors.New("-threads: between 1 and 256")
	}
	o.Conns10M = min(o.Conns10M, o.Conns)
	var err error
	if o.Scenarios, err = parseScenarios(scen); err != nil {
		return nil, err
	}
	o.Sets = sets
	for _, s := range o.Sets {
		if !strings.Contains(s, "=") {
			return nil, fmt.Errorf("-set %q: KEY=VALUE", s)
		}
	}
	for _, v := range variants {
		vr, err := parseVariant(v)
		if err != nil {
			return nil, err
		}
		for _, have := range o.Variants {
			if have.Name == vr.Name {
				return nil, fmt.Errorf("-variant %q: the name %s is given twice", v, vr.Name)
			}
		}
		o.Variants = append(o.Variants, vr)
	}
	if o.Nginx, err = lookPath(nginx, "nginx"); err != nil {
		return nil, err
	}
	if o.HAProxy, err = lookPath(haproxy, "haproxy"); err != nil {
		return nil, err
	}
	if o.Caddy, err = lookPath(caddy, "caddy"); err != nil {
		return nil, err
	}
	var luaErr error
	switch nginxLua {
	case "off":
	case "auto":
		if o.Nginx != "" {
			o.Lua, luaErr = findLua()
			o.NginxLua = luaErr == nil
		}
	default:
		return nil, fmt.Errorf("-nginx-lua %q: auto or off", nginxLua)
	}
	if requirePeers {
		var missing []string
		if o.Nginx == "" {
			missing = append(missing, "nginx")
		}
		if !o.NginxLua {
			why := "nginx-lua"
			if luaErr != nil {
				why += " (" + luaErr.Error() + ")"
			}
			missing = append(missing, why)
		}
		if o.HAProxy == "" {
			missing = append(missing, "haproxy")
		}
		if o.Caddy == "" {
			missing = append(missing, "caddy")
		}
		if p, _ := lookPath(wrk, "wrk"); p == "" && generator != "go" {
			missing = append(missing, "wrk")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("-require-peers: not found: %s (make bench-deps installs them; or leave out -require-peers)", strings.Join(missing, ", "))
		}
	}
	switch generator {
	case "go":
		o.Wrk = ""
	case "wrk":
		if wrk == "auto" || wrk == "off" {
			wrk = "wrk"
		}
		if o.Wrk, err = lookPath(wrk, "wrk"); err != nil {
			return nil, err
		}
	case "auto":
		if o.Wrk, err = lookPath(wrk, "wrk"); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("-generator %q: auto, wrk or go", generator)
	}
	if o.Callfix != "" {
		if o.Callfix, err = filepath.Abs(o.Callfix); err != nil {
			return nil, err
		}
	}
	cwd, _ := os.Getwd()
	root, rootErr := findRoot(cwd)
	o.Root = root
	if o.Callfix == "" && rootErr != nil {
		return nil, fmt.Errorf("%v: run it in the callfix module or give -callfix", rootErr)
	}
	o.Assets = assets
	if o.Assets == "" {
		if rootErr != nil {
			return nil, fmt.Errorf("%v: give -assets", rootErr)
		}
		o.Assets = filepath.Join(root, "tools", "callfix-bench", "assets")
	}
	if o.Assets, err = filepath.Abs(o.Assets); err != nil {
		return nil, err
	}
	prog := "go run ./tools/callfix-bench"
	if !strings.Contains(os.Args[0], "go-build") { // a built binary, not go run's
		prog = filepath.Base(os.Args[0])
	}
	quoted := []string{prog}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	o.Command = strings.Join(quoted, " ")
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "callfix-bench: %v\n", err)
		os.Exit(2)
	}
	os.Exit(mainRun(o))
}

// mainRun runs the harness with signal handling: the first SIGINT or
// SIGTERM stops the run and everything it started; a second one kills the
// children at once and exits.
func mainRun(o *options) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := newProcSet()
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		if _, ok := <-sigc; !ok {
			return
		}
		fmt.Fprintln(os.Stderr, "\ncallfix-bench: interrupted, stopping every process it started (again to kill them now)")
		cancel()
		if _, ok := <-sigc; ok {
			ps.killNow()
			os.Exit(130)
		}
	}()
	_, err := execute(ctx, o, ps, os.Stdout, os.Stderr)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "callfix-bench: interrupted")
		return 130
	case err != nil:
		fmt.Fprintf(os.Stderr, "callfix-bench: %v\n", err)
		return 1
	}
	return 0
}

// execute runs the harness, then prints the table and writes the files
// with whatever it measured (also after an error or an interrupt, marked
// as such in the JSON).
func execute(ctx context.Context, o *options, ps *procSet, stdout, stderr io.Writer) (*report, error) {
	rep, err := run(ctx, o, ps, stderr)
	if rep == nil {
		return nil, err
	}
	if err != nil {
		rep.Error = err.Error()
		if ctx.Err() != nil {
			rep.Error = "interrupted"
		}
	}
	if len(rep.Scenarios) == 0 {
		return rep, err
	}
	fmt.Fprintln(stdout)
	rep.writeTable(stdout)
	if werr := rep.writeFiles(o.OutJSON, o.OutMD); werr != nil {
		return rep, errors.Join(err, werr)
	}
	for _, p := range []string{o.OutJSON, o.OutMD} {
		if p != "" {
			fmt.Fprintf(stderr, "wrote %s\n", p)
		}
	}
	return rep, err
}

// parseVariant reads NAME:SETTING[;SETTING…].
func parseVariant(v string) (variant, error) {
	name, rest, ok := strings.Cut(v, ":")
	if !ok || name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return variant{}, fmt.Errorf("-variant %q: NAME:SETTING[;SETTING…] with a NAME of lower-case letters, digits and -", v)
	}
	vr := variant{Name: name}
	for _, s := range strings.Split(rest, ";") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			continue
		case strings.HasPrefix(s, "env:"):
			kv := strings.TrimPrefix(s, "env:")
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return variant{}, fmt.Errorf("-variant %q: %q: env:NAME=VALUE", v, s)
			}
			vr.Env = append(vr.Env, kv)
		case strings.Contains(s, "="):
			vr.Sets = append(vr.Sets, s)
		default:
			return variant{}, fmt.Errorf("-variant %q: %q: KEY=VALUE or env:NAME=VALUE", v, s)
		}
	}
	if len(vr.Sets)+len(vr.Env) == 0 {
		return variant{}, fmt.Errorf("-variant %q: no setting after the name %s", v, name)
	}
	return vr, nil
}

// shellQuote quotes an argument for the command line shown in reports.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}
