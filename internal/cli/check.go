package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/proxy"
	"github.com/callfix/callfix/rewrite"
)

const checkHelp = `Usage: callfix check [flags] [FILE|-]

Reads a request body from FILE (or standard input when FILE is - or absent)
and shows what callfix would do with it, without any network:

  stdout  exactly the body callfix would forward; when enforce mode would
          reject the request, the 400 error body callfix would answer with
  stderr  one line per change, problem or value kept on purpose, or one
          saying why nothing was inspected (no rule matches, the body is not
          a JSON object); values are shown in full here (it is your own
          input), while the 400 body masks them as the proxy would (--mask):
            change phoneNumber phone "(317) 222-2222" -> "tel:+13172222222" (US)
            problem to not_valid_in_country "020 7946 0958": to is not ...
            kept participants[0].address emergency "911"
          Kept values (emergency, short_code, extension, network_address,
          operator_pattern) are forwarded byte for byte in every mode.

A body that is not exactly one JSON object (not JSON, truncated, an array,
data after the object, UTF-16, nested too deeply) is forwarded as sent in
rewrite and audit modes; enforce mode rejects it with 400
callfix.bad.request, since Genesys may read what callfix cannot inspect.
An empty body is forwarded in every mode; a UTF-8 byte-order mark before
the object is read past and kept. Content-Encoding is not applied here:
give the body decoded.

A --path that is not in normal form (a percent-encoded letter or digit, a
dot segment, //, a ;parameter, an encoded slash, ...) is refused with 400
callfix.bad.request in every mode, as the proxy refuses it.

Exit status: 0 the request would be forwarded, 1 callfix would reject it
(enforce mode, or a path not in normal form), 2 bad usage or configuration.

Examples:
  echo '{"phoneNumber":"(317) 222-2222"}' | callfix check
  echo '{"phoneNumber":"555-123-4567"}' | callfix check --validation possible
  callfix check --region eu-west-2 --path /api/v2/conversations/calls captured.json
`

func runCheck(args []string, env Env) int {
	fs := newFlagSet("check", checkHelp, env)
	cf := addConfigFlags(fs)
	method := fs.String("method", "POST", "HTTP method of the request")
	path := fs.String("path", "/api/v2/conversations/calls", "request path (query allowed) that selects the rule")
	fs.String("validation", "", "valid (a national number must be assigned in the country it is read in; one with its country code, possible), possible (only possible: 555 test numbers) or strict (always assigned) (default valid)")
	fs.String("mask", "", "how the 400 body shows values: partial, hash, full or none (default partial)")
	cf.extra["validation"] = "validation"
	cf.extra["mask"] = "mask"
	pos, err := parseInterspersed(fs, args, env)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 1 {
		fmt.Fprintf(env.Stderr, "callfix check: one FILE at most, got %d: %s\n", len(pos), strings.Join(pos, " "))
		return ExitUsage
	}
	if *method == "" || *path == "" || (*path)[0] != '/' {
		fmt.Fprintf(env.Stderr, "callfix check: --method %q --path %q: give a method such as POST and a path starting with /\n", *method, *path)
		return ExitUsage
	}
	snap, ok := cf.load("check", env)
	if !ok {
		return ExitUsage
	}
	body, err := readInput(pos, env.Stdin)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix check: %v\n", err)
		return ExitUsage
	}

	if msg := proxy.PathRefusal(*path); msg != "" {
		fmt.Fprintf(env.Stderr, "reject path %s: callfix answers 400 callfix.bad.request in every mode\n", strconv.Quote(*path))
		env.Stdout.Write(apierror.New(400, apierror.CodeBadRequest, msg, "callfix-check").JSON())
		return ExitReject
	}
	route := snap.Engine.Match(*method, *path)
	if route == nil {
		fmt.Fprintf(env.Stderr, "pass %s %s: no rule matches; forwarded as sent\n", *method, *path)
		env.Stdout.Write(body)
		return ExitOK
	}
	res := snap.Engine.Rewrite(route, body, snap.Country)
	d := rewrite.Decide(snap.Mode, body, &res)
	if d.Reject && d.Unreadable != rewrite.SkipNone {
		fmt.Fprintf(env.Stderr, "reject %s: enforce mode answers 400 callfix.bad.request\n", res.Skipped)
		env.Stdout.Write(apierror.Unreadable(d.Unreadable, "callfix-check").JSON())
		return ExitReject
	}
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
		fmt.Fprintf(env.Stderr, "problem %s %s %s: %s\n", p.Path, p.Reason.Code(), strconv.Quote(p.Value), p.MessageFrom(snap.CountryOrigin))
	}
	for _, k := range res.Kept {
		fmt.Fprintf(env.Stderr, "kept %s %s %s\n", k.Path, k.Reason.Code(), strconv.Quote(k.Value))
	}
	if d.Reject {
		mode, _ := telemetry.ParseMaskMode(snap.Config.Mask)
		m := telemetry.Masker{Mode: mode, Key: []byte(snap.Config.MaskKey.Value())}
		env.Stdout.Write(apierror.InvalidAddressFrom(res.Problems, snap.CountryOrigin, snap.Config.Limits.MaxDetails, m.Mask, "callfix-check").JSON())
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
