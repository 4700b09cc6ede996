package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/rewrite"
)

const checkHelp = `Usage: callfix check [flags] [FILE|-]

Reads a request body from FILE (or standard input when FILE is - or absent)
and shows what callfix would do with it, without any network:

  stdout  exactly the body callfix would forward; when enforce mode would
          reject the request, the 400 error body callfix would answer with
  stderr  one line per change or problem; values are shown in full here
          (it is your own input), while the 400 body masks them as the
          proxy would (--mask)

Exit status: 0 the request would be forwarded, 1 enforce mode would reject
it, 2 bad usage or configuration.

Examples:
  echo '{"phoneNumber":"(555) 123-4567"}' | callfix check
  callfix check --region eu-west-2 --path /api/v2/conversations/calls captured.json
`

type checkOpts struct {
	region, country, mode, method, path, level, mask string
}

func runCheck(args []string, env Env) int {
	fs := newFlagSet("check", checkHelp, env)
	var o checkOpts
	fs.StringVar(&o.region, "region", config.DefaultRegion, "Genesys Cloud region, by name (eu-west-1) or host suffix (mypurecloud.ie); sets the default country (see 'callfix regions')")
	fs.StringVar(&o.country, "country", "", "ISO 3166 alpha-2 country national numbers are read in (default: the region's)")
	fs.StringVar(&o.mode, "mode", "enforce", "enforce (reject what cannot be fixed), rewrite (forward it as sent) or audit (never change a byte)")
	fs.StringVar(&o.method, "method", "POST", "HTTP method of the request")
	fs.StringVar(&o.path, "path", "/api/v2/conversations/calls", "request path (query allowed) that selects the rule")
	fs.StringVar(&o.level, "validation", "possible", "possible (the length fits the country's plan) or valid (the number is assigned)")
	fs.StringVar(&o.mask, "mask", "partial", "how the 400 body shows values: partial, full or none")
	pos, err := parseInterspersed(fs, args, env)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 1 {
		fmt.Fprintf(env.Stderr, "callfix check: one FILE at most, got %d: %s\n", len(pos), strings.Join(pos, " "))
		return ExitUsage
	}

	var problems []string
	region, ok := config.LookupRegion(o.region)
	if !ok {
		problems = append(problems, fmt.Sprintf("--region %q is not a Genesys Cloud region: use one of %s", o.region, regionList()))
	}
	country := strings.ToUpper(strings.TrimSpace(o.country))
	if country == "" {
		country = region.Country
	} else if !rewrite.KnownCountry(country) {
		problems = append(problems, fmt.Sprintf("--country %q is not an ISO 3166 alpha-2 country with a numbering plan: use a code such as US, GB or DE", o.country))
	}
	mode, err := rewrite.ParseMode(o.mode)
	if err != nil {
		problems = append(problems, "--mode: "+err.Error())
	}
	level, err := rewrite.ParseLevel(o.level)
	if err != nil {
		problems = append(problems, "--validation: "+err.Error())
	}
	mask, err := telemetry.ParseMaskMode(o.mask)
	if err != nil || mask == telemetry.MaskHash {
		problems = append(problems, fmt.Sprintf("--mask %q: use partial, full or none", o.mask))
	}
	if o.method == "" || o.path == "" || o.path[0] != '/' {
		problems = append(problems, fmt.Sprintf("--method %q --path %q: give a method such as POST and a path starting with /", o.method, o.path))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(env.Stderr, "callfix check: %s\n", p)
		}
		return ExitUsage
	}

	body, err := readInput(pos, env.Stdin)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix check: %v\n", err)
		return ExitUsage
	}

	eng, err := rewrite.New(rewrite.DefaultRules(), rewrite.Options{Level: level})
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix check: %v\n", err)
		return ExitUsage
	}
	route := eng.Match(o.method, o.path)
	if route == nil {
		fmt.Fprintf(env.Stderr, "pass %s %s: no rule matches; forwarded as sent\n", o.method, o.path)
		env.Stdout.Write(body)
		return ExitOK
	}
	res := eng.Rewrite(route, body, country)
	if res.Skipped != rewrite.SkipNone {
		fmt.Fprintf(env.Stderr, "skip %s: forwarded as sent\n", res.Skipped)
	}
	for _, c := range res.Changes {
		where := ""
		if c.Country != "" {
			where = " (" + c.Country + ")"
		}
		fmt.Fprintf(env.Stderr, "change %s %s %s -> %s%s\n", c.Path, c.Kind, strconv.Quote(c.From), strconv.Quote(c.To), where)
	}
	for _, p := range res.Problems {
		fmt.Fprintf(env.Stderr, "problem %s %s %s: %s\n", p.Path, p.Reason.Code(), strconv.Quote(p.Value), p.Message())
	}
	d := rewrite.Decide(mode, body, &res)
	if d.Reject {
		m := telemetry.Masker{Mode: mask}
		env.Stdout.Write(apierror.InvalidAddress(res.Problems, m.Mask, "callfix-check").JSON())
		return ExitReject
	}
	env.Stdout.Write(d.Body)
	return ExitOK
}

// maxCheckInput bounds what check reads, as the proxy bounds bodies.
const maxCheckInput = 64 << 20

func readInput(pos []string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	name := "standard input"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return nil, fmt.Errorf("cannot read the body: %w", err)
		}
		defer f.Close()
		r, name = f, strconv.Quote(pos[0])
	}
	if r == nil {
		return nil, fmt.Errorf("no body: give a FILE or pipe one to standard input")
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCheckInput+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the body from %s: %w", name, err)
	}
	if len(b) > maxCheckInput {
		return nil, fmt.Errorf("the body in %s is larger than %d MiB", name, maxCheckInput>>20)
	}
	return b, nil
}
