package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goldenLog = "../report/testdata/golden.log"

func runIn(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(args, Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func TestReport_HelpExplainsEveryFlag(t *testing.T) {
	out, _, code := run("report", "--help")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, f := range []string{"--since", "--until", "--format", "--out", "--bucket", "--max-clients", "--max-reasons", "--max-buckets", "Exit status", "gzip", "malformed", "docs/REPORT.md"} {
		if !strings.Contains(out, f) {
			t.Errorf("report --help does not mention %s", f)
		}
	}
	if out, _, _ := run("help"); !strings.Contains(out, "callfix report") {
		t.Errorf("help does not list callfix report:\n%s", out)
	}
}

func TestReport_ExitCodes(t *testing.T) {
	f := func(want int, args ...string) {
		t.Helper()
		if _, errOut, code := runIn("", append([]string{"report"}, args...)...); code != want {
			t.Errorf("callfix report %v: exit %d, want %d; stderr %q", args, code, want, errOut)
		}
	}
	f(ExitOK, goldenLog)
	f(ExitOK) // empty standard input: an empty report
	f(ExitOK, "-")
	f(ExitOK, "--format", "json", goldenLog, goldenLog)
	f(ExitUsage, "no-such-file.log")
	f(ExitUsage, "--format", "xml", goldenLog)
	f(ExitUsage, "--since", "yesterday", goldenLog)
	f(ExitUsage, "--since", "2026-11-27", "--until", "2026-11-27", goldenLog)
	f(ExitUsage, "--bucket", "week", goldenLog)
	f(ExitUsage, "--max-clients", "0", goldenLog)
	f(ExitOK, "--max-clients", "1", goldenLog)
	f(ExitUsage, "--out", "/no/such/dir/report.html", goldenLog)
}

func TestReport_StdinAndFileAgree(t *testing.T) {
	raw, err := os.ReadFile(goldenLog)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, _ := runIn("", "report", "--format", "json", goldenLog)
	fromStdin, _, _ := runIn(string(raw), "report", "--format", "json", "-")
	if strings.Replace(fromFile, goldenLog, "-", -1) != fromStdin {
		t.Errorf("stdin report differs from the file's:\n%s\n%s", fromStdin, fromFile)
	}
}

func TestReport_OutWritesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	out, errOut, code := runIn("", "report", "--format", "json", "--out", path, goldenLog)
	if code != ExitOK || out != "" || !strings.Contains(errOut, "wrote "+path) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var r struct {
		Lines struct{ Records int } `json:"lines"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &r); err != nil || r.Lines.Records != 28 {
		t.Errorf("--out file: %v, %d records", err, r.Lines.Records)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the directory holds %d files, want only the report (no temporary left)", len(ents))
	}
}

func TestReport_SinceUntil(t *testing.T) {
	out, _, code := runIn("", "report", "--format", "json", "--since", "2026-11-27", "--until", "2026-11-27T12:00:00Z", goldenLog)
	var r struct {
		Lines struct {
			Records      int `json:"records"`
			OutsideRange int `json:"outside_range"`
		} `json:"lines"`
		Since, Until string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != ExitOK {
		t.Fatalf("exit %d: %v", code, err)
	}
	// 2026-11-27 from 00:00 to 12:00 holds 7 of the 28 records.
	if r.Lines.Records != 7 || r.Lines.OutsideRange != 21 || r.Since != "2026-11-27T00:00:00Z" || r.Until != "2026-11-27T12:00:00Z" {
		t.Errorf("outside range %d, since %q, until %q", r.Lines.OutsideRange, r.Since, r.Until)
	}
}

func TestParseReportTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f := func(in string, want time.Time) {
		t.Helper()
		got, err := parseReportTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseReportTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	f("", time.Time{})
	f("2026-11-27T09:00:00Z", time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f("2026-11-27T09:00:00+01:00", time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	f("2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	f("2026-11-20T07:30", time.Date(2026, 11, 20, 7, 30, 0, 0, time.UTC))
	f("24h", now.Add(-24*time.Hour))
	f("90m", now.Add(-90*time.Minute))
	f("7d", now.Add(-7*24*time.Hour))
	f("0d", now)
}

func TestParseReportTime_Bad(t *testing.T) {
	for _, in := range []string{"yesterday", "-1h", "7w", "d", "2026-13-01", "-3d"} {
		if _, err := parseReportTime(in, time.Now()); err == nil {
			t.Errorf("parseReportTime(%q): no error", in)
		}
	}
}
