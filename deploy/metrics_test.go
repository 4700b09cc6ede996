package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

const (
	dashboardFile = "grafana/callfix.json"
	alertsFile    = "prometheus/alerts.yaml"
	promFile      = "prometheus/prometheus.yml"
)

// pendingMetrics are metric names the dashboard and the rules use that
// another branch adds to the binary (the kept-address issue adds
// callfix_kept_total{reason}). The test fails when one of them is exported:
// then it is no longer pending, and its line here goes.
var pendingMetrics = map[string]string{}

// pendingLabels are labels of the same kind: the dashboard groups by them,
// and the binary does not export them yet.
var pendingLabels = map[string]string{}

// dashboardExprs returns every PromQL expression of the dashboard, by
// panel title.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, _ := q["query"].(string); s != "" {
				out["variable "+v.Name] = append(out["variable "+v.Name], s)
			}
		}
	}
	return out
}

// ruleExprs returns every expression of alerts.yaml, by alert name.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range asList(yamlDocs(t, alertsFile)[0]["groups"]) {
		for _, r := range asList(asMap(g)["rules"]) {
			name := str(asMap(r)["alert"]) + str(asMap(r)["record"])
			out[name] = str(asMap(r)["expr"])
		}
	}
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promBraces   = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promGroupBy  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "le"}
)

// metricNames returns the metric names an expression selects: what is left
// after strings, label matchers, ranges and grouping clauses are removed,
// once function names and keywords are skipped. Grafana's label_values(m,
// label) names a metric too.
func metricNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promBraces.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdent.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || slices.Contains(promKeywords, strings.ToLower(m)) {
			continue
		}
		if i := strings.Index(expr, m); i > 0 && expr[i-1] == '$' {
			continue // a Grafana variable such as $__range
		}
		out = append(out, m)
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
		// label_values(metric, label): the second is a label.
		out = out[:min(len(out), 1)]
	}
	return out
}

// labelNames returns the labels an expression groups by or matches on.
func labelNames(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	var out []string
	for _, m := range promGroupBy.FindAllStringSubmatch(e, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	for _, b := range promBraces.FindAllString(e, -1) {
		for _, m := range promMatcher.FindAllStringSubmatch(b, -1) {
			out = append(out, m[1])
		}
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "label_values(") {
		if _, l, ok := strings.Cut(strings.TrimSuffix(strings.TrimSpace(expr), ")"), ","); ok {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func TestMetricNames_ParsesPromQL(t *testing.T) {
	f := func(expr string, want ...string) {
		t.Helper()
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	f(`sum by (route, outcome) (rate(callfix_requests_total{route=~"$route"}[$__rate_interval]))`, "callfix_requests_total")
	f(`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 5`, "a_bucket")
	f(`(sum(rate(a{x="y{z}"}[5m])) or vector(0)) - b / on(x) group_left(y) c`, "a", "b", "c")
	f(`increase(x[$__range]) and up == 0`, "x", "up")
	f(`label_values(callfix_rewrites_total, client)`, "callfix_rewrites_total")
	f(`absent(m_total) or sum(rate(n[15m])) == 0`, "m_total", "n")
	g := func(expr string, want ...string) {
		t.Helper()
		if got := labelNames(expr); !slices.Equal(got, want) {
			t.Errorf("labelNames(%q) = %q, want %q", expr, got, want)
		}
	}
	g(`sum by (client, reason) (rate(a{route=~"$r",outcome!="x"}[1m]))`, "client", "reason", "route", "outcome")
	g(`label_values(callfix_requests_total, client)`, "client")
}

// TestMetrics_DashboardAndRulesUseExportedNames runs the real binary in
// front of a recording upstream, sends every kind of request (rewritten,
// rejected, pass-through, login, an upstream 5xx, a config reload), scrapes
// /metrics, and requires every metric name and label of the dashboard and
// the alert rules to be there.
func TestMetrics_DashboardAndRulesUseExportedNames(t *testing.T) {
	used := map[string][]string{} // metric → where
	labels := map[string][]string{}
	for title, exprs := range dashboardExprs(t) {
		for _, e := range exprs {
			for _, m := range metricNames(e) {
				used[m] = appendNew(used[m], "dashboard panel "+title)
			}
			for _, l := range labelNames(e) {
				labels[l] = appendNew(labels[l], "dashboard panel "+title)
			}
		}
	}
	for name, e := range ruleExprs(t) {
		for _, m := range metricNames(e) {
			used[m] = appendNew(used[m], "alert "+name)
		}
		for _, l := range labelNames(e) {
			labels[l] = appendNew(labels[l], "alert "+name)
		}
	}
	if len(used) < 6 {
		t.Fatalf("the dashboard and rules use %d metrics, want the six of README.md at least: %v", len(used), used)
	}

	families := scrapeAfterTraffic(t)
	exported := map[string]bool{}
	exportedLabels := map[string]bool{"le": true}
	for name, mf := range families {
		exported[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				exportedLabels[lp.GetName()] = true
			}
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for m := range used {
			if !yield(m) {
				return
			}
		}
	})
	for _, m := range names {
		_, pending := pendingMetrics[m]
		switch {
		case exported[m] && pending:
			t.Errorf("%s is exported now: remove it from pendingMetrics", m)
		case !exported[m] && pending:
			t.Logf("%s (used by %s) is not exported yet: %s", m, strings.Join(used[m], ", "), pendingMetrics[m])
		case !exported[m]:
			t.Errorf("%s, used by %s, is not a metric callfix exports", m, strings.Join(used[m], ", "))
		}
	}
	for _, l := range slices.Sorted(func(yield func(string) bool) {
		for l := range labels {
			if !yield(l) {
				return
			}
		}
	}) {
		_, pending := pendingLabels[l]
		switch {
		case exportedLabels[l] && pending:
			t.Errorf("label %s is exported now: remove it from pendingLabels", l)
		case !exportedLabels[l] && pending:
			t.Logf("label %s (used by %s) is not exported yet: %s", l, strings.Join(labels[l], ", "), pendingLabels[l])
		case !exportedLabels[l]:
			t.Errorf("label %s, used by %s, is on no metric callfix exports", l, strings.Join(labels[l], ", "))
		}
	}
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

var serveLine = regexp.MustCompile(`"admin_listen":"(127\.0\.0\.1:\d+)"`)
var listenLine = regexp.MustCompile(`"listen":"(127\.0\.0\.1:\d+)"`)

// scrapeAfterTraffic builds and runs callfix serve, sends traffic and
// returns the parsed /metrics.
func scrapeAfterTraffic(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "callfix")
	build := exec.Command("go", "build", "-o", bin, "../cmd/callfix")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := upstreamtest.Start(t, func(r *upstreamtest.Request) upstreamtest.Response {
		if strings.HasPrefix(r.Target, "/api/v2/fail") {
			return upstreamtest.Response{Status: 503, Body: []byte(`{"message":"unavailable"}`)}
		}
		if strings.HasPrefix(r.Target, "/oauth/token") {
			return upstreamtest.Response{Status: 200, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/json"}},
				Body: []byte(`{"access_token":"tok","token_type":"bearer","expires_in":86400}`)}
		}
		return upstreamtest.OK(r)
	})
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("mode: enforce\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream-api", up.URL, "--upstream-login", up.URL)
	cmd.Env = testsupport.CleanEnv(os.Environ())
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var listen, admin string
	for admin == "" && sc.Scan() {
		if m := serveLine.FindStringSubmatch(sc.Text()); m != nil {
			admin = m[1]
			listen = listenLine.FindStringSubmatch(sc.Text())[1]
		}
	}
	go io.Copy(io.Discard, stderr)
	if admin == "" {
		t.Fatal("callfix serve did not start")
	}
	send := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+listen+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tok")
		if path == "/oauth/token" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("metrics-test-client", "s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("POST", "/oauth/token", "grant_type=client_credentials")
	send("POST", "/api/v2/conversations/calls", `{"phoneNumber":"(317) 222-4567"}`)
	send("POST", "/api/v2/conversations/calls", `{"phoneNumber":"12"}`)
	send("POST", "/api/v2/conversations/calls", `{"phoneNumber":"911"}`)
	send("GET", "/api/v2/users/me", "")
	send("GET", "/api/v2/fail", "")
	// A reload: the reload counter must count it.
	os.WriteFile(cfg, []byte("mode: enforce\nmask: partial\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)

	deadline := time.Now().Add(10 * time.Second)
	for {
		families, err := testsupport.ScrapeMetrics("http://" + admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if reloads(families, "success") > 0 || time.Now().After(deadline) {
			return families
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func reloads(families map[string]*dto.MetricFamily, result string) float64 {
	for _, m := range families["callfix_config_reloads_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "result" && l.GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// The dashboard covers what deploy/README.md promises, and Grafana can load
// it: unique panel IDs, panels that do not overlap, every query on the
// datasource variable.
func TestDashboard_CoversTheMetricsAndLoads(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Schema     int    `json:"schemaVersion"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type, UID string
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr       string `json:"expr"`
				Datasource *struct{ Type, UID string }
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != "callfix" || d.Title == "" || d.Schema < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.Schema)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		hasDS = hasDS || (v.Name == "datasource" && v.Type == "datasource")
	}
	if !hasDS {
		t.Error("no datasource variable: the dashboard cannot be imported into another Grafana")
	}
	ids := map[int]bool{}
	cells := map[[2]int]string{}
	var all []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets; want the datasource variable and a query", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			all = append(all, tg.Expr)
		}
	}
	joined := strings.Join(all, "\n")
	for what, re := range map[string]string{
		"requests by route and outcome": `sum by \(route, outcome\) \(rate\(callfix_requests_total`,
		"rewrites by field and kind":    `sum by \(field, kind\) \(rate\(callfix_rewrites_total`,
		"kept values by reason":         `sum by \(reason\) \(rate\(callfix_kept_total`,
		"rejects by reason":             `sum by \(field, reason\) \(rate\(callfix_rejects_total`,
		"per client":                    `sum by \(client\)`,
		"upstream latency quantiles":    `histogram_quantile\(0\.99, sum by \(le, upstream\) \(rate\(callfix_upstream_request_duration_seconds_bucket`,
		"upstream errors":               `callfix_upstream_request_duration_seconds_count\{status_class="5xx"\}`,
		"config reloads":                `callfix_config_reloads_total`,
	} {
		if !regexp.MustCompile(re).MatchString(joined) {
			t.Errorf("the dashboard has no panel of %s (no query matches %s)", what, re)
		}
	}
}

// The alert rules cover what the README promises.
func TestAlerts_CoverTheFailures(t *testing.T) {
	rules := ruleExprs(t)
	var names []string
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, want := range []string{"CallfixRejectRatioHigh", "CallfixUpstream5xx", "CallfixUpstreamUnavailable", "CallfixConfigReloadFailed", "CallfixNoTraffic"} {
		if _, ok := rules[want]; !ok {
			t.Errorf("alerts.yaml has no %s (it has %v)", want, names)
		}
	}
	if _, err := os.Stat("prometheus/alerts_test.yaml"); err != nil {
		t.Errorf("the rules have no promtool unit tests: %v", err)
	}
}

// TestCompose_PrometheusAndGrafanaAreProvisioned holds the metrics half of
// compose.yaml: Prometheus reads prometheus.yml and its rules from the
// mounted directory and scrapes callfix's admin port; Grafana gets the
// datasource and the dashboard from files that exist here.
func TestCompose_PrometheusAndGrafanaAreProvisioned(t *testing.T) {
	services := asMap(yamlDocs(t, "compose.yaml")[0]["services"])
	prom := serviceWithImage(services, strings.HasPrefix, "prom/prometheus:")
	graf := serviceWithImage(services, strings.HasPrefix, "grafana/grafana:")
	if prom == "" || graf == "" {
		t.Fatalf("compose.yaml needs a Prometheus and a Grafana service; found %q, %q", prom, graf)
	}
	for _, name := range []string{prom, graf} {
		if img := str(asMap(services[name])["image"]); strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
			t.Errorf("%s: image %q is not pinned to a version", name, img)
		}
	}

	// mounts returns the service's bind mounts, container path → host path.
	mounts := func(svc string) map[string]string {
		out := map[string]string{}
		for _, v := range asList(asMap(services[svc])["volumes"]) {
			parts := strings.Split(str(v), ":")
			if len(parts) >= 2 {
				out[parts[1]] = filepath.Clean(parts[0])
			}
		}
		return out
	}
	// hostPath maps a container path to the file here through the mounts.
	hostPath := func(svc, p string) (string, bool) {
		for dst, src := range mounts(svc) {
			if p == dst {
				return src, true
			}
			if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(dst, "/")+"/"); ok {
				return filepath.Join(src, rel), true
			}
		}
		return "", false
	}

	// Prometheus: the config file it is told to read is promFile, mounted.
	cfgPath := ""
	for _, a := range stringList(t, asMap(services[prom])["command"]) {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = v
		}
	}
	if p, ok := hostPath(prom, cfgPath); !ok || p != filepath.Clean(promFile) {
		t.Fatalf("Prometheus reads %q, which is %q here; want %s", cfgPath, p, promFile)
	}
	pc := yamlDocs(t, promFile)[0]
	rulesOK := false
	for _, rf := range asList(pc["rule_files"]) {
		if filepath.Join(filepath.Dir(promFile), str(rf)) == filepath.Clean(alertsFile) {
			rulesOK = true
		}
	}
	if !rulesOK {
		t.Errorf("%s does not load %s", promFile, alertsFile)
	}
	// It scrapes callfix's admin port, which the image opens on every interface.
	adminPort := 0
	for _, kv := range dockerfileEnv(t) {
		if v, ok := strings.CutPrefix(kv, "CALLFIX_ADMIN_LISTEN="); ok {
			adminPort = portOf(t, v)
		}
	}
	scraped := false
	for _, sc := range asList(pc["scrape_configs"]) {
		if mp := str(asMap(sc)["metrics_path"]); mp != "" && mp != "/metrics" {
			continue
		}
		for _, stc := range asList(asMap(sc)["static_configs"]) {
			for _, tg := range asList(asMap(stc)["targets"]) {
				if str(tg) == fmt.Sprintf("callfix:%d", adminPort) {
					scraped = true
				}
			}
		}
	}
	if adminPort == 0 || !scraped {
		t.Errorf("%s does not scrape callfix:%d/metrics (the image's admin listener)", promFile, adminPort)
	}

	// Grafana: provisioning from this directory, the datasource pointing at
	// the Prometheus service, the dashboard provider's path holding callfix.json.
	prov, ok := hostPath(graf, "/etc/grafana/provisioning")
	if !ok || prov != filepath.Clean("grafana/provisioning") {
		t.Fatalf("Grafana's /etc/grafana/provisioning is %q, want ./grafana/provisioning", prov)
	}
	ds := yamlDocs(t, "grafana/provisioning/datasources/prometheus.yaml")[0]
	dsOK := false
	for _, d := range asList(ds["datasources"]) {
		if str(asMap(d)["type"]) == "prometheus" && str(asMap(d)["url"]) == "http://"+prom+":9090" {
			dsOK = true
		}
	}
	if !dsOK {
		t.Errorf("no Prometheus datasource at http://%s:9090", prom)
	}
	dp := yamlDocs(t, "grafana/provisioning/dashboards/callfix.yaml")[0]
	dashOK := false
	for _, p := range asList(dp["providers"]) {
		dir := str(dig(p, "options", "path"))
		if hp, ok := hostPath(graf, dir+"/callfix.json"); ok && hp == filepath.Clean(dashboardFile) {
			dashOK = true
		}
	}
	if !dashOK {
		t.Errorf("no Grafana dashboard provider reads a directory where %s is mounted", dashboardFile)
	}
	// UIs on loopback only, like the rest of the stack.
	for _, name := range []string{prom, graf} {
		for _, p := range asList(asMap(services[name])["ports"]) {
			if !strings.HasPrefix(str(p), "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond loopback", name, str(p))
			}
		}
	}
	if !publishes(t, asMap(services[graf]), 3000) {
		t.Error("Grafana does not publish its UI on 3000")
	}
}
