package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/callfix/callfix/internal/report"
)

const reportHelp = `Usage: callfix report [flags] [FILE...|-]

Reads callfix audit records (docs/AUDIT.md) from each FILE in turn, or from
standard input when FILE is - or absent, and reports what the integrations
behind callfix send:

  clients   per client (OAuth client ID, or token ID when no replica saw the
            token exchange; with the user agents seen): requests, rewritten,
            unchanged, rejected, audited, kept, skipped, would reject
  fields    per field and reason: how often, with up to three masked examples
  timeline  the same counts per hour or per day (UTC)
  enforce   per client, what enforce mode would reject, and the clients:
            snippet of the configuration that turns enforce on for it

A FILE may be gzip-compressed (rotated logs), detected by its content.
Lines that are not audit records are skipped, and text before a line's
first { is ignored, so 'docker compose logs' and journalctl output can be
read as they are. A line that claims to be an audit record but cannot be
read is counted as malformed and located (input and line number), never
fatal. Values are masked (partial, as mask: partial would show them),
whatever mask the proxy wrote them with; hmac: values and user IDs are
shown as they are. Memory grows with distinct clients and reasons (bounded
by the --max-* flags), not with the size of the log.

Times for --since and --until: RFC 3339 (2026-11-27T09:00:00Z), a date
(2026-11-27, midnight UTC), or a duration back from now (90m, 24h, 7d).

Exit status: 0 the report was written, 2 bad usage or an input that
cannot be read.

Examples:
  callfix report /var/log/callfix/audit.log
  callfix report --since 7d --format html --out report.html audit.log audit.log.1.gz
  docker compose -f deploy/compose.yaml logs --no-log-prefix callfix | callfix report --format json
`

func runReport(args []string, env Env) int {
	fs := newFlagSet("report", reportHelp, env)
	since := fs.String("since", "", "keep records at or after this time (RFC 3339, a date, or a duration back from now such as 24h or 7d) (default: from the first record)")
	until := fs.String("until", "", "keep records before this time (same forms as --since) (default: to the last record)")
	format := fs.String("format", "text", "text (a terminal table), json (stable, docs/REPORT.md) or html (one self-contained page with charts)")
	out := fs.String("out", "", "write the report to this file instead of standard output (replaced whole, only once complete)")
	bucket := fs.String("bucket", "auto", "timeline step: hour, day, or auto (hours when the records span at most three days, else days)")
	maxClients := fs.Int("max-clients", report.DefaultMaxClients, "most distinct clients reported one by one; records of later ones count as (other clients)")
	maxReasons := fs.Int("max-reasons", report.DefaultMaxReasons, "most distinct field and reason pairs, overall and per client; later ones count as (other)")
	maxBuckets := fs.Int("max-buckets", report.DefaultMaxBuckets, "most distinct hours on the timeline; records in later hours are counted everywhere else")
	pos, err := parseInterspersed(fs, args, env)
	if err != nil {
		return flagExit(err)
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "callfix report: "+format+"\n", a...)
		return ExitUsage
	}
	opts := report.Options{MaxClients: *maxClients, MaxReasons: *maxReasons, MaxBuckets: *maxBuckets}
	now := time.Now()
	if opts.Since, err = parseReportTime(*since, now); err != nil {
		return usageErr("--since %q: %v", *since, err)
	}
	if opts.Until, err = parseReportTime(*until, now); err != nil {
		return usageErr("--until %q: %v", *until, err)
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return usageErr("--since %s is not before --until %s: give a time range that holds something", *since, *until)
	}
	switch *format {
	case "text", "json", "html":
	default:
		return usageErr("--format %q: use text, json or html", *format)
	}
	switch *bucket {
	case "auto":
		opts.Bucket = ""
	case "hour", "day":
		opts.Bucket = *bucket
	default:
		return usageErr("--bucket %q: use hour, day or auto", *bucket)
	}
	for name, v := range map[string]int{"max-clients": *maxClients, "max-reasons": *maxReasons, "max-buckets": *maxBuckets} {
		if v < 1 {
			return usageErr("--%s %d: give at least 1", name, v)
		}
	}

	if len(pos) == 0 {
		pos = []string{"-"}
	}
	var inputs []report.Input
	for _, name := range pos {
		if name == "-" {
			if env.Stdin == nil {
				return usageErr("no standard input: give a FILE")
			}
			inputs = append(inputs, report.Input{Name: "-", R: env.Stdin})
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return usageErr("cannot open %s: %v", strconv.Quote(name), pathError(err))
		}
		defer f.Close()
		inputs = append(inputs, report.Input{Name: name, R: f})
	}
	rep, err := report.Build(inputs, opts)
	if err != nil {
		return usageErr("%v", err)
	}
	if *out == "" {
		if err := report.Write(env.Stdout, rep, *format); err != nil {
			return usageErr("cannot write the report: %v", err)
		}
		return ExitOK
	}
	if err := writeFileAtomic(*out, func(f *os.File) error { return report.Write(f, rep, *format) }); err != nil {
		return usageErr("cannot write %s: %v", strconv.Quote(*out), err)
	}
	fmt.Fprintf(env.Stderr, "callfix report: wrote %s (%d audit records)\n", *out, rep.Lines.Records)
	return ExitOK
}

// parseReportTime reads --since and --until.
func parseReportTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04", s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if n, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		if days, perr := strconv.Atoi(n); perr == nil && days >= 0 && days < 100000 {
			d, err = time.Duration(days)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("not a time: write RFC 3339 (2026-11-27T09:00:00Z), a date (2026-11-27) or a duration back from now (24h, 7d)")
	}
	return now.Add(-d), nil
}

// writeFileAtomic writes a file next to path and renames it into place, so
// that a failed run never leaves half a report.
func writeFileAtomic(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return pathError(err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// pathError drops the operation and path an *os.PathError repeats.
func pathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
