package proxy_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/otlptest"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// The names of the telemetry contract (docs/ARCHITECTURE.md).
const (
	otelCallsPath  = "/api/v2/conversations/calls"
	otelCallsRoute = "POST /api/v2/conversations/calls"
	otelUserRoute  = "POST /api/v2/conversations/calls/user/{userId}"
	otelUserID     = "2ca3b6e8-0000-4000-8000-00000000beef"
	// What must never reach a span.
	otelAuth   = "Bearer tok-SECRET-0123456789"
	otelCookie = "session=COOKIE-SECRET-abcdef"
)

// otelRig is a rig whose proxy has telemetry exporting over OTLP/HTTP to
// an in-process receiver, with the audit log in a buffer.
type otelRig struct {
	*rig
	tel     *telemetry.Telemetry
	recv    *otlptest.Receiver
	audit   *testsupport.Buffer
	flushed bool
}

// startOtelRig starts the receiver and a rig with telemetry. flags are
// config overrides; yaml, when not empty, is a config file (for reloads)
// to which the upstreams are added.
func startOtelRig(t testing.TB, flags map[string]string, yaml string) *otelRig {
	t.Helper()
	r := &otelRig{audit: &testsupport.Buffer{}}
	r.recv = otlptest.Start(t)
	o := rigOptions{flags: flags, telemetry: func(c *config.Config) *telemetry.Telemetry {
		tel, err := telemetry.New(context.Background(), telemetry.Options{
			Endpoint:    r.recv.URL,
			Protocol:    "http/protobuf",
			SampleRatio: c.Tracing.SampleRatio,
			AuditWriter: r.audit,
			MaxClients:  c.Metrics.MaxClients,
		})
		if err != nil {
			t.Fatalf("telemetry.New: %v", err)
		}
		if !tel.Tracing() {
			t.Fatalf("telemetry with an endpoint does not trace")
		}
		r.tel = tel
		return tel
	}}
	if yaml != "" {
		o.file = func(api, login string) string {
			return "upstream:\n  api: " + api + "\n  login: " + login + "\n" + yaml
		}
	}
	r.rig = startRig(t, o)
	return r
}

// writeFile replaces the config file, keeping the upstreams.
func (r *otelRig) writeFile(yaml string) {
	r.t.Helper()
	r.rig.writeFile("upstream:\n  api: " + r.api.URL + "\n  login: " + r.login.URL + "\n" + yaml)
}

// flush shuts telemetry down, which exports every span, and returns what
// the receiver got. The proxy keeps serving (untraced) afterwards.
func (r *otelRig) flush(want int) []otlptest.Span {
	r.t.Helper()
	if !r.flushed {
		r.flushed = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.tel.Shutdown(ctx); err != nil {
			r.t.Errorf("telemetry Shutdown (the flush): %v", err)
		}
	}
	spans, ok := r.recv.WaitSpans(want, 5*time.Second)
	if !ok {
		r.t.Errorf("the collector received %d spans, want %d: %s", len(spans), want, otelDescribe(spans))
	}
	if ref := r.recv.Refusals(); len(ref) != 0 {
		r.t.Errorf("the receiver refused exports: %+v", ref)
	}
	return spans
}

// otelTrace is a client's W3C trace context.
type otelTrace struct{ traceID, spanID string }

func newOtelTrace() otelTrace {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return otelTrace{traceID: hex.EncodeToString(b[:16]), spanID: hex.EncodeToString(b[16:])}
}

func (c otelTrace) header(flags string) string {
	return "00-" + c.traceID + "-" + c.spanID + "-" + flags
}

// otelPost is an intercepted request with credentials, a cookie and the
// client's trace context.
func otelPost(path, body string, tc otelTrace, extra ...string) string {
	h := []string{"Content-Type: application/json", "Authorization: " + otelAuth, "Cookie: " + otelCookie, "X-Request-Id: req-" + tc.spanID}
	if tc.traceID != "" {
		h = append(h, "traceparent: "+tc.header("01"), "tracestate: vendor=abc")
	}
	return request("POST", path, []byte(body), append(h, extra...)...)
}

func otelDescribe(spans []otlptest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s %q trace %s span %s parent %s attrs %v", s.Kind, s.Name, s.TraceID, s.SpanID, s.ParentSpanID, s.Attrs)
	}
	return b.String()
}

// otelNoSecrets fails the test when a span carries a credential, a cookie
// or one of the full numbers.
func otelNoSecrets(t testing.TB, spans []otlptest.Span, numbers ...string) {
	t.Helper()
	secrets := append([]string{"tok-SECRET", "COOKIE-SECRET", "Bearer", "session=", otelAuth, otelCookie}, numbers...)
	for _, s := range spans {
		for _, txt := range s.Texts() {
			for _, sec := range secrets {
				if sec != "" && strings.Contains(txt, sec) {
					t.Errorf("span %q carries %q in %q", s.Name, sec, txt)
				}
			}
			if !utf8.ValidString(txt) {
				t.Errorf("span %q carries a string that is not UTF-8: %q", s.Name, txt)
			}
		}
	}
}

// otelSet is the spans of one intercepted request.
type otelSet struct {
	server, rewrite otlptest.Span
	client          *otlptest.Span
}

// wantOtelSet finds the spans of the trace tc and checks their shape: a
// server span named route whose parent is the client's span, a
// callfix.rewrite child, and a client span child when forwarded.
func wantOtelSet(t testing.TB, spans []otlptest.Span, tc otelTrace, route string, forwarded bool) otelSet {
	t.Helper()
	var set otelSet
	tr := otlptest.ByTrace(spans, tc.traceID)
	servers := otlptest.ByName(tr, route)
	if len(servers) != 1 {
		t.Fatalf("trace %s has %d spans named %q, want 1:%s", tc.traceID, len(servers), route, otelDescribe(spans))
	}
	set.server = servers[0]
	if set.server.Kind != otlptest.KindServer {
		t.Errorf("%q is a %s span, want server", route, set.server.Kind)
	}
	if set.server.ParentSpanID != tc.spanID {
		t.Errorf("the server span's parent is %q, want the client's span %s", set.server.ParentSpanID, tc.spanID)
	}
	rw := otlptest.ByName(tr, telemetry.SpanRewrite)
	if len(rw) != 1 {
		t.Fatalf("trace %s has %d %s spans, want 1:%s", tc.traceID, len(rw), telemetry.SpanRewrite, otelDescribe(tr))
	}
	set.rewrite = rw[0]
	if set.rewrite.ParentSpanID != set.server.SpanID || set.rewrite.Kind != otlptest.KindInternal {
		t.Errorf("%s: parent %s kind %s, want the server span %s, internal", telemetry.SpanRewrite, set.rewrite.ParentSpanID, set.rewrite.Kind, set.server.SpanID)
	}
	var clients []otlptest.Span
	for _, s := range tr {
		if s.Kind == otlptest.KindClient {
			clients = append(clients, s)
		}
	}
	switch {
	case forwarded && len(clients) != 1:
		t.Errorf("trace %s has %d client spans, want 1:%s", tc.traceID, len(clients), otelDescribe(tr))
	case !forwarded && len(clients) != 0:
		t.Errorf("trace %s has %d client spans for a request that was not forwarded, want none:%s", tc.traceID, len(clients), otelDescribe(tr))
	}
	if len(clients) == 1 {
		c := clients[0]
		set.client = &c
		if c.ParentSpanID != set.server.SpanID {
			t.Errorf("the client span's parent is %s, want the server span %s", c.ParentSpanID, set.server.SpanID)
		}
		if c.Name != "POST" {
			t.Errorf("the client span is named %q, want POST", c.Name)
		}
	}
	if set.rewrite.Start.Before(set.server.Start) || set.rewrite.End.After(set.server.End) {
		t.Errorf("the rewrite span (%v..%v) is not within the server span (%v..%v)", set.rewrite.Start, set.rewrite.End, set.server.Start, set.server.End)
	}
	if len(tr) != 2+len(clients) {
		t.Errorf("trace %s has %d spans, want %d:%s", tc.traceID, len(tr), 2+len(clients), otelDescribe(tr))
	}
	return set
}

// wantRewriteAttrs checks the callfix.rewrite span's attributes.
func wantRewriteAttrs(t testing.TB, s otlptest.Span, mode, route, outcome string, changes, problems int64) {
	t.Helper()
	if got := s.Attrs.Str(telemetry.AttrMode); got != mode {
		t.Errorf("callfix.mode = %q, want %q", got, mode)
	}
	if got := s.Attrs.Str(telemetry.AttrRoute); got != route {
		t.Errorf("callfix.route = %q, want %q", got, route)
	}
	if got := s.Attrs.Str(telemetry.AttrOutcome); got != outcome {
		t.Errorf("callfix.outcome = %q, want %q", got, outcome)
	}
	if n, ok := s.Attrs.Int(telemetry.AttrChanges); !ok || n != changes {
		t.Errorf("callfix.changes = %v (%T), want int %d", s.Attrs[telemetry.AttrChanges], s.Attrs[telemetry.AttrChanges], changes)
	}
	if n, ok := s.Attrs.Int(telemetry.AttrProblems); !ok || n != problems {
		t.Errorf("callfix.problems = %v (%T), want int %d", s.Attrs[telemetry.AttrProblems], s.Attrs[telemetry.AttrProblems], problems)
	}
	if got := len(s.EventsNamed(telemetry.EventChange)); int64(got) != changes {
		t.Errorf("%d callfix.change events, want %d", got, changes)
	}
}

// wantChangeEvent checks the i-th callfix.change event.
func wantChangeEvent(t testing.TB, s otlptest.Span, i int, field, kind, from, to, country string) {
	t.Helper()
	ev := s.EventsNamed(telemetry.EventChange)
	if i >= len(ev) {
		t.Errorf("no callfix.change event %d", i)
		return
	}
	a := ev[i].Attrs
	if got := strings.Join(a.Keys(), ","); got != "callfix.country,callfix.field,callfix.from,callfix.kind,callfix.to" {
		t.Errorf("change event %d has attributes %s", i, got)
	}
	for k, want := range map[string]string{telemetry.AttrField: field, telemetry.AttrKind: kind, telemetry.AttrFrom: from, telemetry.AttrTo: to, telemetry.AttrCountry: country} {
		if got := a.Str(k); got != want {
			t.Errorf("change event %d %s = %q, want %q", i, k, got, want)
		}
	}
}

// wantUpstreamTrace checks that the upstream request carries exactly one
// traceparent, of the client span, and not the client's own.
func wantUpstreamTrace(t testing.TB, req upstreamtest.Request, tc otelTrace, client *otlptest.Span) {
	t.Helper()
	tps := req.Get("traceparent")
	if len(tps) != 1 {
		t.Fatalf("the upstream got %d traceparent headers (%q), want 1", len(tps), tps)
	}
	if tc.spanID != "" && (tps[0] == tc.header("01") || strings.Contains(tps[0], tc.spanID)) {
		t.Errorf("the upstream got the client's own traceparent %q, want callfix's client span", tps[0])
	}
	if client != nil {
		if want := "00-" + client.TraceID + "-" + client.SpanID + "-01"; tps[0] != want {
			t.Errorf("upstream traceparent = %q, want %q (the client span)", tps[0], want)
		}
	}
	if tc.traceID != "" && !strings.HasPrefix(tps[0], "00-"+tc.traceID+"-") {
		t.Errorf("upstream traceparent = %q, want the client's trace %s", tps[0], tc.traceID)
	}
	if ts := req.Get("tracestate"); tc.traceID != "" && (len(ts) != 1 || ts[0] != "vendor=abc") {
		t.Errorf("upstream tracestate = %q, want the client's [vendor=abc] once", ts)
	}
}

// otelAuditLines decodes the audit log.
func otelAuditLines(t testing.TB, r *otelRig) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(r.audit.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("audit line is not JSON: %v: %s", err, l)
			continue
		}
		out = append(out, m)
	}
	return out
}

// otelScrape returns the Prometheus text of the rig's telemetry.
func otelScrape(t testing.TB, tel *telemetry.Telemetry) string {
	t.Helper()
	status, _, body := testsupport.ServeMetrics(tel.MetricsHandler())
	if status != 200 {
		t.Fatalf("metrics: %d %s", status, body)
	}
	return body
}

func TestOTel_Rewritten_SpansAuditMetricsAndPropagation(t *testing.T) {
	r := startOtelRig(t, nil, "")
	tc := newOtelTrace()
	resp := r.do(otelPost(otelCallsPath+"?secretQuery=5550100042", `{"phoneNumber":"(555) 010-0042"}`, tc))
	if resp.Status != 200 {
		t.Fatalf("status = %d, body %s", resp.Status, resp.Body)
	}
	up := only(t, "api", r.api)
	if string(up.Body) != `{"phoneNumber":"tel:+15550100042"}` {
		t.Errorf("upstream body = %s", up.Body)
	}
	metrics := otelScrape(t, r.tel)
	spans := r.flush(3)
	set := wantOtelSet(t, spans, tc, otelCallsRoute, true)

	s := set.server
	if got := s.Attrs.Str("http.route"); got != otelCallsPath {
		t.Errorf("server http.route = %q, want %q", got, otelCallsPath)
	}
	if got := s.Attrs.Str("url.path"); got != otelCallsPath {
		t.Errorf("server url.path = %q, want %q (no query)", got, otelCallsPath)
	}
	if n, _ := s.Attrs.Int("http.response.status_code"); n != 200 {
		t.Errorf("server http.response.status_code = %v, want 200", s.Attrs["http.response.status_code"])
	}
	if got := s.Attrs.Str("http.request.method"); got != "POST" {
		t.Errorf("server http.request.method = %q", got)
	}
	if got := s.Attrs.Str(telemetry.AttrRequestID); got != "req-"+tc.spanID {
		t.Errorf("server callfix.request_id = %q, want the client's X-Request-Id", got)
	}
	wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rewritten", 1, 0)
	wantChangeEvent(t, set.rewrite, 0, "phoneNumber", "phone", "(***) ***-**42", "tel:+1********42", "US")
	if set.rewrite.StatusCode == "error" {
		t.Errorf("a rewrite is marked as an error")
	}
	if c := set.client; c != nil {
		if n, _ := c.Attrs.Int("http.response.status_code"); n != 200 {
			t.Errorf("client http.response.status_code = %v, want 200", c.Attrs["http.response.status_code"])
		}
		if c.Attrs.Str("callfix.upstream") != "api" || c.Attrs.Str("server.address") != r.api.Addr {
			t.Errorf("client span attributes = %v, want callfix.upstream=api, server.address=%s", c.Attrs, r.api.Addr)
		}
		if c.Start.Before(s.Start) || c.End.After(s.End) {
			t.Errorf("the client span (%v..%v) is not within the server span (%v..%v)", c.Start, c.End, s.Start, s.End)
		}
	}
	wantUpstreamTrace(t, up, tc, set.client)
	if got := up.Get("Authorization"); len(got) != 1 || got[0] != otelAuth {
		t.Errorf("upstream Authorization = %q, want it forwarded as sent", got)
	}
	otelNoSecrets(t, spans, "5550100042", "(555) 010-0042", "010-0042", "secretQuery")
	if svc := s.Resource.Str("service.name"); svc != "callfix" {
		t.Errorf("service.name = %q, want callfix", svc)
	}

	// The audit record belongs to the same trace.
	lines := otelAuditLines(t, r)
	if len(lines) != 1 {
		t.Fatalf("%d audit lines, want 1", len(lines))
	}
	a := lines[0]
	if a["trace_id"] != tc.traceID || a["route"] != otelCallsRoute || a["outcome"] != "rewritten" || a["request_id"] != "req-"+tc.spanID ||
		a["status"] != 200.0 || a["upstream_status"] != 200.0 || a["mode"] != "enforce" || a["country"] != "US" {
		t.Errorf("audit record = %v", a)
	}
	if strings.Contains(r.audit.String(), "5550100042") || strings.Contains(r.audit.String(), "SECRET") {
		t.Errorf("the audit log holds a full number or a secret: %s", r.audit.String())
	}

	// Metrics: the route template, bounded labels.
	for _, want := range []string{
		`callfix_requests_total{outcome="rewritten",route="POST /api/v2/conversations/calls",status_class="2xx"} 1`,
		`callfix_upstream_request_duration_seconds_count{status_class="2xx",upstream="api"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, otelGrep(metrics, "callfix_"))
		}
	}
	// The request carried a bearer token: its token ID is the client label.
	if want := `(?m)^callfix_rewrites_total\{client="tok-[0-9a-f]{16}",field="phoneNumber",kind="phone",route="POST /api/v2/conversations/calls"\} 1$`; !regexp.MustCompile(want).MatchString(metrics) {
		t.Errorf("metrics lack %s:\n%s", want, otelGrep(metrics, "callfix_"))
	}
	if strings.Contains(metrics, "5550100042") || strings.Contains(metrics, "secretQuery") {
		t.Errorf("metrics hold request data")
	}
}

func TestOTel_Unchanged_Rejected_Audited(t *testing.T) {
	t.Run("unchanged", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		body := `{"phoneNumber":"tel:+15550100042"}`
		if resp := r.do(otelPost(otelCallsPath, body, tc)); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		spans := r.flush(3)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "unchanged", 0, 0)
		wantUpstreamTrace(t, up, tc, set.client)
		otelNoSecrets(t, spans, "5550100042")
	})

	t.Run("rejected", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(555) 010-0042","participants":[{"address":"5550199"}]}`, tc))
		if resp.Status != 400 {
			t.Fatalf("status = %d, want 400; body %s", resp.Status, resp.Body)
		}
		none(t, "api", r.api)
		spans := r.flush(2)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, false)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rejected", 1, 1)
		wantChangeEvent(t, set.rewrite, 0, "phoneNumber", "phone", "(***) ***-**42", "tel:+1********42", "US")
		probs := set.rewrite.EventsNamed(telemetry.EventProblem)
		if len(probs) != 1 || probs[0].Attrs.Str(telemetry.AttrField) != "participants[0].address" || probs[0].Attrs.Str(telemetry.AttrReason) == "" ||
			probs[0].Attrs.Str(telemetry.AttrFrom) != "*****99" {
			t.Errorf("problem events = %+v, want one for participants[0].address with value *****99", probs)
		}
		if set.rewrite.StatusCode != "error" {
			t.Errorf("the rejected rewrite span's status is %s, want error", set.rewrite.StatusCode)
		}
		if n, _ := set.server.Attrs.Int("http.response.status_code"); n != 400 {
			t.Errorf("server http.response.status_code = %v, want 400", set.server.Attrs["http.response.status_code"])
		}
		otelNoSecrets(t, spans, "5550100042", "5550199", "010-0042")
		lines := otelAuditLines(t, r)
		if len(lines) != 1 || lines[0]["outcome"] != "rejected" || lines[0]["upstream_status"] != 0.0 || lines[0]["trace_id"] != tc.traceID {
			t.Errorf("audit = %v", lines)
		}
	})

	t.Run("audited", func(t *testing.T) {
		r := startOtelRig(t, map[string]string{"mode": "audit"}, "")
		tc := newOtelTrace()
		body := `{"phoneNumber":"(555) 010-0042"}`
		if resp := r.do(otelPost(otelCallsPath, body, tc)); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		if string(up.Body) != body {
			t.Errorf("audit mode changed the body: %s", up.Body)
		}
		spans := r.flush(3)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
		wantRewriteAttrs(t, set.rewrite, "audit", otelCallsRoute, "audited", 1, 0)
		wantChangeEvent(t, set.rewrite, 0, "phoneNumber", "phone", "(***) ***-**42", "tel:+1********42", "US")
		wantUpstreamTrace(t, up, tc, set.client)
		otelNoSecrets(t, spans, "5550100042", "010-0042")
	})

	t.Run("array indexes and the user route", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		body := `{"participants":[{"address":"+15550100041"},{"address":"(555) 010-0043"}]}`
		if resp := r.do(otelPost("/api/v2/conversations/calls/user/"+otelUserID, body, tc)); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		metrics := otelScrape(t, r.tel)
		spans := r.flush(3)
		set := wantOtelSet(t, spans, tc, otelUserRoute, true)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelUserRoute, "rewritten", 2, 0)
		wantChangeEvent(t, set.rewrite, 0, "participants[0].address", "phone", "+1********41", "tel:+1********41", "US")
		wantChangeEvent(t, set.rewrite, 1, "participants[1].address", "phone", "(***) ***-**43", "tel:+1********43", "US")
		if got := set.server.Attrs.Str("http.route"); got != "/api/v2/conversations/calls/user/{userId}" {
			t.Errorf("http.route = %q", got)
		}
		wantUpstreamTrace(t, up, tc, set.client)
		otelNoSecrets(t, spans, "5550100041", "5550100043")
		for _, s := range spans {
			if strings.Contains(s.Name, otelUserID) {
				t.Errorf("span name %q holds the raw path", s.Name)
			}
		}
		if !regexp.MustCompile(`callfix_rewrites_total\{client="tok-[0-9a-f]{16}",field="participants\[\]\.address",kind="phone",route="POST /api/v2/conversations/calls/user/\{userId\}"\} 2`).MatchString(metrics) {
			t.Errorf("metrics lack the templated field label:\n%s", otelGrep(metrics, "callfix_rewrites"))
		}
		if strings.Contains(metrics, otelUserID) || regexp.MustCompile(`\[\d+\]`).MatchString(otelGrep(metrics, "callfix_")) {
			t.Errorf("metric labels hold a raw path or an index:\n%s", otelGrep(metrics, "callfix_"))
		}
	})

	t.Run("no client trace context", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(555) 010-0042"}`, otelTrace{spanID: "nocontext"}))
		if resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		spans := r.flush(3)
		servers := otlptest.ByName(spans, otelCallsRoute)
		if len(servers) != 1 || servers[0].ParentSpanID != "" {
			t.Fatalf("want one root server span:%s", otelDescribe(spans))
		}
		set := wantOtelSet(t, spans, otelTrace{traceID: servers[0].TraceID}, otelCallsRoute, true)
		wantUpstreamTrace(t, up, otelTrace{}, set.client)
	})

	t.Run("unsampled client trace", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		raw := request("POST", otelCallsPath, []byte(`{"phoneNumber":"(555) 010-0042"}`), "Content-Type: application/json", "traceparent: "+tc.header("00"))
		if resp := r.do(raw); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		r.flush(0)
		if n := r.recv.Len(); n != 0 {
			t.Errorf("%d spans exported for a trace the client did not sample", n)
		}
		tps := up.Get("traceparent")
		if len(tps) != 1 || !strings.HasPrefix(tps[0], "00-"+tc.traceID+"-") || !strings.HasSuffix(tps[0], "-00") || strings.Contains(tps[0], tc.spanID) {
			t.Errorf("upstream traceparent = %q, want the client's trace, unsampled, with callfix's span ID", tps)
		}
	})
}

// Requests refused before the engine ran, bodies that cannot be inspected,
// and an upstream that fails: each still has its spans, with the right
// outcome and statuses.
func TestOTel_EdgeOutcomes(t *testing.T) {
	t.Run("body too large", func(t *testing.T) {
		r := startOtelRig(t, map[string]string{"limits.max_body_bytes": "64"}, "")
		tc := newOtelTrace()
		body := `{"phoneNumber":"(555) 010-0042","pad":"` + strings.Repeat("x", 100) + `"}`
		if resp := r.do(otelPost(otelCallsPath, body, tc)); resp.Status != 413 {
			t.Fatalf("status = %d, want 413", resp.Status)
		}
		none(t, "api", r.api)
		spans := r.flush(2)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, false)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rejected", 0, 0)
		if n, _ := set.server.Attrs.Int("http.response.status_code"); n != 413 {
			t.Errorf("server http.response.status_code = %v, want 413", set.server.Attrs["http.response.status_code"])
		}
		otelNoSecrets(t, spans, "5550100042")
	})
	t.Run("unsupported Content-Encoding", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		if resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(555) 010-0042"}`, tc, "Content-Encoding: compress")); resp.Status != 415 {
			t.Fatalf("status = %d, want 415 (a body callfix cannot inspect)", resp.Status)
		}
		none(t, "api", r.api)
		spans := r.flush(2)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, false)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rejected", 0, 0)
		if n, _ := set.server.Attrs.Int("http.response.status_code"); n != 415 {
			t.Errorf("server http.response.status_code = %v, want 415", set.server.Attrs["http.response.status_code"])
		}
	})
	t.Run("body not JSON", func(t *testing.T) {
		r := startOtelRig(t, map[string]string{"mode": "rewrite"}, "")
		tc := newOtelTrace()
		if resp := r.do(otelPost(otelCallsPath, `phoneNumber=5550100042`, tc)); resp.Status != 200 {
			t.Fatalf("status = %d, want 200 (forwarded as sent in rewrite mode)", resp.Status)
		}
		up := only(t, "api", r.api)
		spans := r.flush(3)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
		wantRewriteAttrs(t, set.rewrite, "rewrite", otelCallsRoute, "unchanged", 0, 0)
		if got := set.rewrite.Attrs.Str(telemetry.AttrSkipped); got != "not JSON" {
			t.Errorf("callfix.skipped = %q, want %q", got, "not JSON")
		}
		wantUpstreamTrace(t, up, tc, set.client)
	})
	t.Run("upstream fails", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		r.api.SetHandler(func(*upstreamtest.Request) upstreamtest.Response { return upstreamtest.Response{Reset: true} })
		tc := newOtelTrace()
		resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(555) 010-0042"}`, tc))
		if resp.Status != 502 {
			t.Fatalf("status = %d, want 502", resp.Status)
		}
		spans := r.flush(3)
		set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rewritten", 1, 0)
		if c := set.client; c != nil {
			if c.StatusCode != "error" || c.Attrs.Has("http.response.status_code") {
				t.Errorf("client span of a failed upstream call: status %s, attrs %v; want error and no status code", c.StatusCode, c.Attrs)
			}
		}
		if n, _ := set.server.Attrs.Int("http.response.status_code"); n != 502 || set.server.StatusCode != "error" {
			t.Errorf("server span: status code %v, status %s; want 502, error", set.server.Attrs["http.response.status_code"], set.server.StatusCode)
		}
		for _, s := range spans {
			for _, txt := range s.Texts() {
				if strings.Contains(txt, "connection reset") || strings.Contains(txt, "127.0.0.1:") && s.Kind != otlptest.KindClient {
					t.Errorf("span %q carries Go error text or an address: %q", s.Name, txt)
				}
			}
		}
		lines := otelAuditLines(t, r)
		if len(lines) != 1 || lines[0]["upstream_status"] != 0.0 || lines[0]["status"] != 502.0 {
			t.Errorf("audit = %v, want status 502, upstream_status 0", lines)
		}
	})
}

// A pass-through request is traced only with tracing.passthrough.
func TestOTel_PassthroughGET(t *testing.T) {
	get := func(tc otelTrace) string {
		return request("GET", "/api/v2/users/me?expand=presence", nil, "Authorization: "+otelAuth, "Cookie: "+otelCookie, "traceparent: "+tc.header("01"), "tracestate: vendor=abc")
	}
	t.Run("off", func(t *testing.T) {
		r := startOtelRig(t, nil, "")
		tc := newOtelTrace()
		if resp := r.do(get(tc)); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		r.flush(0)
		if n := r.recv.Len(); n != 0 {
			t.Errorf("a pass-through GET made %d spans without tracing.passthrough:%s", n, otelDescribe(r.recv.Spans()))
		}
		// Untraced, the request goes through as sent.
		if tps := up.Get("traceparent"); len(tps) != 1 || tps[0] != tc.header("01") {
			t.Errorf("upstream traceparent = %q, want the client's, unchanged", tps)
		}
	})
	t.Run("on", func(t *testing.T) {
		r := startOtelRig(t, map[string]string{"tracing.passthrough": "true"}, "")
		tc := newOtelTrace()
		if resp := r.do(get(tc)); resp.Status != 200 {
			t.Fatalf("status = %d", resp.Status)
		}
		up := only(t, "api", r.api)
		spans := r.flush(2)
		if len(spans) != 2 {
			t.Fatalf("%d spans, want server and client:%s", len(spans), otelDescribe(spans))
		}
		var server, client *otlptest.Span
		for i := range spans {
			switch spans[i].Kind {
			case otlptest.KindServer:
				server = &spans[i]
			case otlptest.KindClient:
				client = &spans[i]
			}
		}
		if server == nil || client == nil {
			t.Fatalf("want a server and a client span:%s", otelDescribe(spans))
		}
		if server.Name != "GET" || client.Name != "GET" {
			t.Errorf("span names %q, %q, want GET, GET", server.Name, client.Name)
		}
		if server.TraceID != tc.traceID || server.ParentSpanID != tc.spanID || client.ParentSpanID != server.SpanID {
			t.Errorf("parentage wrong:%s", otelDescribe(spans))
		}
		if server.Attrs.Has("http.route") {
			t.Errorf("a pass-through server span has http.route %q", server.Attrs.Str("http.route"))
		}
		wantUpstreamTrace(t, up, tc, client)
		otelNoSecrets(t, spans)
		if r.audit.String() != "" {
			t.Errorf("a pass-through request was audited: %s", r.audit.String())
		}
	})
}

// tracing.passthrough is a reloadable key (config.Keys says so); a reload
// that turns it on must trace the next pass-through request.
func TestOTel_PassthroughReload_TakesEffect(t *testing.T) {
	for _, k := range config.Keys() {
		if k.Name == "tracing.passthrough" && !k.Reloadable {
			t.Skip("tracing.passthrough is documented as not reloadable")
		}
	}
	r := startOtelRig(t, nil, "tracing:\n  passthrough: false\n")
	r.writeFile("tracing:\n  passthrough: true\n")
	if err := r.mgr.Reload("test"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !r.mgr.Current().Config.Tracing.Passthrough {
		t.Fatalf("the reloaded configuration does not have tracing.passthrough on")
	}
	tc := newOtelTrace()
	if resp := r.do(request("GET", "/api/v2/users/me", nil, "traceparent: "+tc.header("01"))); resp.Status != 200 {
		t.Fatalf("status = %d", resp.Status)
	}
	only(t, "api", r.api)
	r.flush(0)
	if _, ok := r.recv.WaitSpans(2, 500*time.Millisecond); !ok {
		t.Errorf("after a reload turned tracing.passthrough on, a pass-through GET made %d spans, want 2 (server and client): the proxy reads the flag from telemetry.Options once, at start", r.recv.Len())
	}
}

// A phone number in a user: URI is not a user ID: the value of the
// problem it causes must be masked in spans, the audit log and the 400
// body like any number.
func TestOTel_UserURIHoldingANumber_IsMaskedEverywhere(t *testing.T) {
	r := startOtelRig(t, nil, "")
	tc := newOtelTrace()
	resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(555) 010-0042","callerId":"user:5551230077"}`, tc))
	if resp.Status != 400 {
		t.Fatalf("status = %d, want 400 (callerId takes a number); body %s", resp.Status, resp.Body)
	}
	none(t, "api", r.api)
	spans := r.flush(2)
	otelNoSecrets(t, spans, "5551230077")
	if strings.Contains(r.audit.String(), "5551230077") {
		t.Errorf("the audit log holds the full number: %s", r.audit.String())
	}
	if strings.Contains(string(resp.Body), "5551230077") {
		t.Errorf("the 400 body holds the full number: %s", resp.Body)
	}
}

// 200 requests at once: every trace has its own spans with its own
// request's values, never another's.
func TestOTel_ConcurrentRequests_SpansDoNotMix(t *testing.T) {
	const n = 200
	r := startOtelRig(t, nil, "")
	traces := make([]otelTrace, n)
	for i := range traces {
		traces[i] = newOtelTrace()
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"phoneNumber":"(555) 010-%04d"}`, i)
			c, err := net.DialTimeout("tcp", r.addr, ioTimeout)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			rc := &rawConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
			if _, err := c.Write([]byte(otelPost(otelCallsPath, body, traces[i]))); err != nil {
				errs <- err.Error()
				return
			}
			resp, err := rc.readErr()
			if err != nil {
				errs <- err.Error()
				return
			}
			if resp.Status != 200 {
				errs <- fmt.Sprintf("request %d: status %d %s", i, resp.Status, resp.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if !r.api.Wait(n, ioTimeout) {
		t.Fatalf("the upstream got %d requests, want %d", r.api.Count(), n)
	}
	spans := r.flush(3 * n)
	byTrace := otlptest.GroupByTrace(spans)
	if len(byTrace) != n {
		t.Errorf("%d traces, want %d", len(byTrace), n)
	}
	for i, tc := range traces {
		set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
		if t.Failed() && i > 5 {
			break
		}
		wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rewritten", 1, 0)
		wantChangeEvent(t, set.rewrite, 0, "phoneNumber", "phone", fmt.Sprintf("(***) ***-**%02d", i%100), fmt.Sprintf("tel:+1********%02d", i%100), "US")
		if got := set.server.Attrs.Str(telemetry.AttrRequestID); got != "req-"+tc.spanID {
			t.Errorf("trace %d: callfix.request_id = %q, want req-%s", i, got, tc.spanID)
		}
		if got := set.server.Attrs.Str("url.path"); got != otelCallsPath {
			t.Errorf("trace %d: url.path = %q", i, got)
		}
	}
	// Each upstream request carries its own body and its own trace.
	traceOf := map[string]int{}
	for i, tc := range traces {
		traceOf[tc.traceID] = i
	}
	clientOf := map[string]string{}
	for _, s := range spans {
		if s.Kind == otlptest.KindClient {
			clientOf[s.TraceID] = s.SpanID
		}
	}
	for _, req := range r.api.Requests() {
		tps := req.Get("traceparent")
		if len(tps) != 1 || len(tps[0]) != 55 {
			t.Errorf("upstream traceparent %q", tps)
			continue
		}
		trace, span := tps[0][3:35], tps[0][36:52]
		i, ok := traceOf[trace]
		if !ok {
			t.Errorf("upstream traceparent %q is of no client's trace", tps[0])
			continue
		}
		if want := fmt.Sprintf(`{"phoneNumber":"tel:+1555010%04d"}`, i); string(req.Body) != want {
			t.Errorf("trace %d: upstream body %s, want %s", i, req.Body, want)
		}
		if clientOf[trace] != span {
			t.Errorf("trace %d: upstream span %s, want the client span %s", i, span, clientOf[trace])
		}
	}
	otelNoSecrets(t, spans)
	for _, s := range spans {
		for _, txt := range s.Texts() {
			if regexp.MustCompile(`555010\d{4}|010-\d{4}`).MatchString(txt) {
				t.Errorf("span %q holds a full number: %q", s.Name, txt)
			}
		}
	}
	// The audit records match their traces too.
	lines := otelAuditLines(t, r)
	if len(lines) != n {
		t.Errorf("%d audit lines, want %d", len(lines), n)
	}
	for _, a := range lines {
		id, _ := a["trace_id"].(string)
		i, ok := traceOf[id]
		if !ok {
			t.Errorf("audit record of unknown trace %q", id)
			continue
		}
		ch, _ := a["changes"].([]any)
		c, _ := func() (map[string]any, bool) {
			if len(ch) != 1 {
				return nil, false
			}
			m, ok := ch[0].(map[string]any)
			return m, ok
		}()
		if c["from"] != fmt.Sprintf("(***) ***-**%02d", i%100) || c["to"] != fmt.Sprintf("tel:+1********%02d", i%100) {
			t.Errorf("audit of trace %d: changes %v", i, a["changes"])
		}
	}
}

func otelGrep(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
