package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "TestBrowser_ReportRenders saves a PNG of the golden report here (make report-screenshot writes docs/report.png)")

// chromiumPath finds Debian's chromium, which make browser-deps installs.
// Without it the test fails in CI (CI=true) and skips, saying so, on a
// developer's machine.
func chromiumPath(t skipper) string {
	t.Helper()
	for _, p := range chromiumCandidates {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI must run the browser test: make browser-deps installs it (Debian's chromium package)")
		return ""
	}
	t.Skip("chromium is not installed: run make browser-deps (Debian's chromium package) to run the browser test; CI fails here instead of skipping")
	return ""
}

var chromiumCandidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser"}

// skipper is the part of testing.T chromiumPath uses.
type skipper interface {
	Helper()
	Fatal(args ...any)
	Skip(args ...any)
}

type recordT struct{ fatal, skip string }

func (r *recordT) Helper()           {}
func (r *recordT) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recordT) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

// Without chromium, CI fails and a developer's machine skips, both saying
// how to install it.
func TestBrowser_MissingChromiumFailsInCI(t *testing.T) {
	saved := chromiumCandidates
	defer func() { chromiumCandidates = saved }()
	chromiumCandidates = []string{"/nonexistent/chromium"}
	t.Setenv("CI", "true")
	var ci recordT
	chromiumPath(&ci)
	if ci.fatal == "" || ci.skip != "" || !strings.Contains(ci.fatal, "make browser-deps") {
		t.Errorf("CI=true: fatal %q, skip %q; want a failure naming make browser-deps", ci.fatal, ci.skip)
	}
	t.Setenv("CI", "")
	var dev recordT
	chromiumPath(&dev)
	if dev.skip == "" || dev.fatal != "" || !strings.Contains(dev.skip, "make browser-deps") {
		t.Errorf("no CI: fatal %q, skip %q; want a skip naming make browser-deps", dev.fatal, dev.skip)
	}
}

// pageFacts is what the test reads out of the rendered page.
type pageFacts struct {
	Charts    map[string]int               `json:"charts"` // SVG id → bars drawn
	Sizes     map[string][2]float64        `json:"sizes"`  // SVG id → rendered width, height
	Totals    map[string]string            `json:"totals"`
	Lines     map[string]string            `json:"lines"`
	Clients   map[string]map[string]string `json:"clients"` // kind:id → key → text
	Fields    map[string]string            `json:"fields"`  // category/field/reason → count
	Resources int                          `json:"resources"`
	Title     string                       `json:"title"`
}

const readPage = `(() => {
  const out = {charts: {}, sizes: {}, totals: {}, lines: {}, clients: {}, fields: {}};
  for (const svg of document.querySelectorAll('svg.chart')) {
    out.charts[svg.id] = svg.querySelectorAll('rect').length;
    const r = svg.getBoundingClientRect();
    out.sizes[svg.id] = [r.width, r.height];
  }
  for (const e of document.querySelectorAll('[data-total]')) out.totals[e.dataset.total] = e.textContent;
  for (const e of document.querySelectorAll('[data-line]')) out.lines[e.dataset.line] = e.textContent;
  for (const tr of document.querySelectorAll('#clients tbody tr')) {
    const row = {};
    for (const td of tr.querySelectorAll('[data-k]')) row[td.dataset.k] = td.textContent;
    out.clients[tr.dataset.kind + ':' + tr.dataset.client] = row;
  }
  for (const tr of document.querySelectorAll('#fields tbody tr'))
    out.fields[tr.dataset.category + '/' + tr.dataset.field + '/' + tr.dataset.reason] = tr.querySelector('[data-k=count]').textContent;
  out.resources = performance.getEntriesByType('resource').length;
  out.title = document.title;
  console.log('callfix-report-read');
  return out;
})()`

// TestBrowser_ReportRenders opens the HTML report of the golden log in
// headless chromium: no console message of any kind (errors, CSP
// violations, failed loads), no resource loaded, the three charts drawn
// with bars, and every number in the page equal to the JSON report of the
// same log.
func TestBrowser_ReportRenders(t *testing.T) {
	chromium := chromiumPath(t)
	rep := build(t, Options{}, fileInput(t, goldenLog))
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t, rep, "html"), 0o644); err != nil {
		t.Fatal(err)
	}
	var want Report // the JSON report, as a consumer reads it
	if err := json.Unmarshal(render(t, rep, "json"), &want); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Chromium as root needs --no-sandbox; the rest keeps it off the network
	// and out of any profile but a fresh one.
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(1200, 900))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // start the browser and the tab
		t.Fatalf("starting chromium: %v", err)
	}
	cctx, stopConsole := context.WithCancel(bctx)
	defer stopConsole()
	messages := chromedp.Console(cctx)
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatalf("loading the report: %v", err)
	}
	got, err := chromedp.Run(bctx, chromedp.Evaluate[pageFacts](readPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	var console []string
	for m, err := range messages { // every message up to the test's own marker
		if err != nil {
			t.Fatalf("console: %v", err)
		}
		if m.Text == "callfix-report-read" {
			break
		}
		console = append(console, m.String())
	}
	stopConsole()
	if len(console) > 0 {
		t.Errorf("the page wrote to the console:\n%s", strings.Join(console, "\n"))
	}
	if got.Resources != 0 {
		t.Errorf("the page loaded %d resources, want none: it must be self-contained", got.Resources)
	}
	if got.Title != "callfix report" {
		t.Errorf("title = %q", got.Title)
	}

	for _, id := range []string{"chart-timeline", "chart-clients", "chart-reasons"} {
		if got.Charts[id] == 0 {
			t.Errorf("chart %s has no bars (charts: %v)", id, got.Charts)
		}
		if s := got.Sizes[id]; s[0] < 300 || s[1] < 50 {
			t.Errorf("chart %s renders at %.0f×%.0f px", id, s[0], s[1])
		}
	}
	// Bars: one per outcome in each timeline point, two per client enforce
	// would reject something of, one per problem or kept pair.
	var bars, clientBars, reasonBars int
	for _, p := range want.Timeline.Points {
		for _, n := range []int64{p.Rewritten, p.Unchanged, p.Audited, p.Rejected} {
			if n > 0 {
				bars++
			}
		}
	}
	for _, c := range want.Clients {
		if c.WouldReject > 0 {
			clientBars += 2
		}
	}
	for _, f := range want.Fields {
		if f.Category != "change" {
			reasonBars++
		}
	}
	if got.Charts["chart-timeline"] != bars || got.Charts["chart-clients"] != clientBars || got.Charts["chart-reasons"] != min(reasonBars, maxBars) {
		t.Errorf("bars = %v, want timeline %d, clients %d, reasons %d", got.Charts, bars, clientBars, min(reasonBars, maxBars))
	}

	eq := func(what, text string, want int64) {
		t.Helper()
		if text != num(want) {
			t.Errorf("%s: the page shows %q, the JSON report %d", what, text, want)
		}
	}
	tot := want.Totals
	for k, v := range map[string]int64{"requests": tot.Requests, "rewritten": tot.Rewritten, "unchanged": tot.Unchanged,
		"rejected": tot.Rejected, "audited": tot.Audited, "kept": tot.Kept, "skipped": tot.Skipped, "would_reject": tot.WouldReject} {
		eq("total "+k, got.Totals[k], v)
	}
	for k, v := range map[string]int64{"read": want.Lines.Read, "records": want.Lines.Records, "other": want.Lines.Other,
		"malformed": want.Lines.Malformed, "outside_range": want.Lines.OutsideRange} {
		eq("lines "+k, got.Lines[k], v)
	}
	if len(got.Clients) != len(want.Clients) {
		t.Errorf("the page lists %d clients, the JSON report %d", len(got.Clients), len(want.Clients))
	}
	for _, c := range want.Clients {
		row, ok := got.Clients[c.IDKind+":"+c.ID]
		if !ok {
			t.Errorf("client %s:%s is not in the page", c.IDKind, c.ID)
			continue
		}
		for k, v := range map[string]int64{"requests": c.Requests, "rewritten": c.Rewritten, "unchanged": c.Unchanged,
			"rejected": c.Rejected, "audited": c.Audited, "kept": c.Kept, "skipped": c.Skipped, "would_reject": c.WouldReject} {
			eq("client "+c.ID+" "+k, row[k], v)
		}
	}
	if len(got.Fields) != len(want.Fields) {
		t.Errorf("the page lists %d fields, the JSON report %d", len(got.Fields), len(want.Fields))
	}
	for _, f := range want.Fields {
		eq("field "+f.Category+"/"+f.Field+"/"+f.Reason, got.Fields[f.Category+"/"+f.Field+"/"+f.Reason], f.Count)
	}

	if *screenshot != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatal("the screenshot is not a PNG")
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", *screenshot, len(png))
	}
}
