package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/version"
)

// Exit codes of every subcommand.
const (
	ExitOK     = 0 // done; for check: the request would be forwarded
	ExitReject = 1 // check: enforce mode would answer 400
	ExitUsage  = 2 // bad usage or configuration
)

// Env is what a command may touch: its arguments and standard streams.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Environ is the process environment (os.Environ); CALLFIX_* variables
	// configure callfix. OTEL_* variables are read from the process
	// environment itself, by internal/telemetry and the OpenTelemetry
	// libraries.
	Environ []string
}

const usage = `callfix repairs the addresses in Genesys Cloud call requests.

Usage:
  callfix [serve] [flags]          run the proxy (see 'callfix help serve')
  callfix check [flags] [FILE|-]   show what callfix would forward for a request body
  callfix config [flags]           print the effective configuration, with where each value came from
  callfix report [flags] [FILE...] turn audit logs into a report: per client, field and reason, over time
  callfix regions                  list the Genesys Cloud regions callfix knows
  callfix version                  print the version
  callfix help [COMMAND]           show help for a command

Run 'callfix help check' for the flags of a command.
`

// Run executes the command line args (without the program name) and
// returns the process exit code.
func Run(args []string, env Env) int {
	if len(args) == 0 || (len(args[0]) > 1 && args[0][0] == '-' && args[0] != "-h" && args[0] != "-help" && args[0] != "--help" && args[0] != "--version" && args[0] != "-version") {
		// callfix [flags] is callfix serve [flags].
		return runServe(args, env)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(rest, env)
	case "check":
		return runCheck(rest, env)
	case "config":
		return runConfig(rest, env)
	case "report":
		return runReport(rest, env)
	case "regions":
		return runRegions(rest, env)
	case "version", "--version", "-version":
		fmt.Fprintf(env.Stdout, "callfix %s\n", version.Version)
		return ExitOK
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && rest[0] != "help" {
			return Run([]string{rest[0], "--help"}, env)
		}
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "callfix: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

// parseInterspersed parses flags that may come before or after positional
// arguments, as people type them: callfix check body.json --country GB.
// -h, -help and --help print the command's help to stdout and return
// flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string, env Env) ([]string, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, help string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		printFlags(fs)
	}
	return fs
}

// printFlags lists flags as users type them (--name VALUE), with defaults.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			line += " " + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		}
		fmt.Fprintln(fs.Output(), line)
		if f.DefValue != "" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(fs.Output(), "      %s\n", usage)
	})
}

// flagExit returns the exit code for a flag parsing error: 0 for help.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage
}

// parseNoArgs parses the flags of a command that takes no positional
// argument; when it returns false, the command exits with code.
func parseNoArgs(fs *flag.FlagSet, args []string, env Env, hint string) (code int, ok bool) {
	pos, err := parseInterspersed(fs, args, env)
	if err != nil {
		return flagExit(err), false
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "callfix %s: unexpected argument %q%s\n", fs.Name(), pos[0], hint)
		return ExitUsage, false
	}
	return ExitOK, true
}

func runRegions(args []string, env Env) int {
	fs := newFlagSet("regions", "Usage: callfix regions\n\nLists the Genesys Cloud regions: --region takes the name or the host suffix.\n", env)
	if code, ok := parseNoArgs(fs, args, env, ""); !ok {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tHOST SUFFIX\tAPI\tLOGIN\tCOUNTRY\tLOCATION")
	for _, r := range config.Regions() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Suffix, r.APIURL(), r.LoginURL(), r.Country, r.Location)
	}
	if err := tw.Flush(); err != nil {
		return ExitUsage
	}
	return ExitOK
}

const configHelp = `Usage: callfix config [flags]

Prints the effective configuration as YAML: built-in defaults, then the
config file (--config or $CALLFIX_CONFIG), then CALLFIX_* environment
variables, then flags, with region-derived values (upstream URLs, country)
resolved. Each value is followed by where it came from (default, region,
file, env, flag). Secrets are redacted. Every problem is listed at once and
the exit status is 2.
`

func runConfig(args []string, env Env) int {
	fs := newFlagSet("config", configHelp, env)
	cf := addConfigFlags(fs)
	if code, ok := parseNoArgs(fs, args, env, " (the file goes in --config)"); !ok {
		return code
	}
	s, ok := cf.load("config", env)
	if !ok {
		return ExitUsage
	}
	env.Stdout.Write(config.Render(s))
	return ExitOK
}
