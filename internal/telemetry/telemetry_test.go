package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"go/build"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/otlptest"
	"github.com/callfix/callfix/rewrite"
)

// setOTEL replaces the OTEL_* environment by vars until the test ends
// (TestMain has removed the test runner's: it never leaks into a test).
// An empty variable is one not set, to the exporter and the SDK too.
func setOTEL(t testing.TB, vars map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// newTel builds telemetry and shuts it down when the test ends.
func newTel(t testing.TB, opts telemetry.Options) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("telemetry.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel
}

// shutdown flushes tel within d and fails the test when it takes longer.
func shutdown(t testing.TB, tel *telemetry.Telemetry, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := tel.Shutdown(ctx)
	if took := time.Since(start); took > d+500*time.Millisecond {
		t.Errorf("Shutdown with a %s context took %s", d, took)
	}
	return err
}

// closedAddr returns a loopback host:port nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// sampleRecord is a rewritten request with a phone change at an array
// index, a user change, and no problems.
func sampleRecord() *telemetry.Record {
	now := time.Now()
	return &telemetry.Record{
		RequestID: "req-1",
		Route:     "POST /api/v2/conversations/calls",
		Mode:      rewrite.ModeEnforce,
		Outcome:   rewrite.OutcomeRewritten,
		Country:   "US",
		Changes: []rewrite.Change{
			{Path: "participants[1].address", Kind: rewrite.KindPhone, From: "(555) 010-0042", To: "tel:+15550100042", Country: "US"},
			{Path: "from.from", Kind: rewrite.KindUser, From: "2ca3b6e8-0000-4000-8000-000000000001", To: "user:2ca3b6e8-0000-4000-8000-000000000001"},
		},
		Status: 200, Upstream: 200,
		Start: now.Add(-15 * time.Millisecond), RewriteStart: now.Add(-14 * time.Millisecond), RewriteEnd: now.Add(-13 * time.Millisecond),
		UpstreamDur: 30 * time.Millisecond, Duration: 12400 * time.Microsecond,
	}
}

func TestTelemetry_NoEndpoint_NoTracingAndNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	tel, err := telemetry.New(context.Background(), telemetry.Options{SampleRatio: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if tel.Tracing() {
		t.Errorf("Tracing = true without an endpoint, want false")
	}
	ctx, span := tel.Tracer().Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("the tracer without an endpoint records spans (recording %v, valid context %v)", span.IsRecording(), span.SpanContext().IsValid())
	}
	span.End()
	// Recording and counting work without a tracer, and start nothing.
	tel.RecordRewriteSpan(ctx, sampleRecord())
	tel.Intercepted(ctx, sampleRecord())
	tel.Passthrough(tel.Upstream("api"), 200, time.Millisecond)
	tel.ConfigReloaded(true)
	if err := goleak.Find(before); err != nil {
		t.Errorf("telemetry without an endpoint started goroutines: %v", err)
	}
	if err := shutdown(t, tel, 2*time.Second); err != nil {
		t.Errorf("Shutdown: %v", err)
	}

	// Disabled is the same, whatever the environment, and its Shutdown
	// is harmless too.
	r := otlptest.Start(t)
	setOTEL(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL})
	before = goleak.IgnoreCurrent()
	d := telemetry.Disabled()
	if d.Tracing() {
		t.Errorf("Disabled().Tracing() = true")
	}
	if err := goleak.Find(before); err != nil {
		t.Errorf("Disabled started goroutines: %v", err)
	}
	if err := shutdown(t, d, 2*time.Second); err != nil {
		t.Errorf("Disabled().Shutdown: %v", err)
	}
}

// New reads the process environment.
func TestTelemetry_ReadsTheProcessEnvironment(t *testing.T) {
	r := otlptest.Start(t)
	setOTEL(t, nil)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.URL)
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	tel, err := telemetry.New(context.Background(), telemetry.Options{SampleRatio: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer shutdown(t, tel, 2*time.Second)
	if !tel.Tracing() {
		t.Errorf("Tracing() = false with OTEL_EXPORTER_OTLP_ENDPOINT in the environment")
	}
}

func TestTelemetry_SDKDisabled_WinsOverAnEndpoint(t *testing.T) {
	r := otlptest.Start(t)
	for _, v := range []string{"true", "TRUE", " True "} {
		before := goleak.IgnoreCurrent()
		setOTEL(t, map[string]string{"OTEL_SDK_DISABLED": v, "OTEL_EXPORTER_OTLP_ENDPOINT": r.URL})
		tel := newTel(t, telemetry.Options{Endpoint: r.URL, SampleRatio: 1})
		if tel.Tracing() {
			t.Errorf("OTEL_SDK_DISABLED=%q: Tracing = true, want false", v)
		}
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
		if err := goleak.Find(before); err != nil {
			t.Errorf("OTEL_SDK_DISABLED=%q: goroutines started: %v", v, err)
		}
		shutdown(t, tel, 2*time.Second)
	}
	if r.Len() != 0 || len(r.Exports()) != 0 {
		t.Errorf("the collector received %d spans with the SDK disabled", r.Len())
	}
	// Any other value leaves tracing on.
	setOTEL(t, map[string]string{"OTEL_SDK_DISABLED": "false"})
	tel := newTel(t, telemetry.Options{Endpoint: r.URL})
	if !tel.Tracing() {
		t.Errorf("OTEL_SDK_DISABLED=false turned tracing off")
	}
}

// The endpoint comes from Options, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// else OTEL_EXPORTER_OTLP_ENDPOINT; spans reach the collector at
// /v1/traces with the service's resource and the configured headers.
func TestTelemetry_EndpointFromEnvironment_ExportsToTheCollector(t *testing.T) {
	f := func(name string, opts telemetry.Options, vars map[string]string, wantService string) {
		t.Helper()
		r := otlptest.Start(t)
		for k, v := range vars {
			vars[k] = strings.ReplaceAll(v, "{recv}", r.URL)
			vars[k] = strings.ReplaceAll(vars[k], "{addr}", r.Addr)
		}
		opts.Endpoint = strings.ReplaceAll(opts.Endpoint, "{recv}", r.URL)
		setOTEL(t, vars)
		opts.SampleRatio = 1
		tel := newTel(t, opts)
		if !tel.Tracing() {
			t.Errorf("%s: Tracing() = false", name)
			return
		}
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
		if err := shutdown(t, tel, 5*time.Second); err != nil {
			t.Errorf("%s: Shutdown: %v", name, err)
		}
		spans, ok := r.WaitSpans(1, 5*time.Second)
		if !ok {
			t.Errorf("%s: no span reached the collector; refused: %v", name, r.Refusals())
			return
		}
		s := spans[0]
		if s.Name != telemetry.SpanRewrite {
			t.Errorf("%s: span %q, want %q", name, s.Name, telemetry.SpanRewrite)
		}
		if got := s.Resource.Str("service.name"); got != wantService {
			t.Errorf("%s: service.name = %q, want %q", name, got, wantService)
		}
		if ex := r.Exports(); len(ex) == 0 || ex[0].Path != "/v1/traces" {
			t.Errorf("%s: exports %+v, want them at /v1/traces", name, ex)
		}
	}
	f("OTEL_EXPORTER_OTLP_ENDPOINT", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}"}, "callfix")
	f("OTEL_EXPORTER_OTLP_ENDPOINT with a slash", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}/"}, "callfix")
	f("OTEL_EXPORTER_OTLP_ENDPOINT without a scheme", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{addr}"}, "callfix")
	f("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT wins", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{recv}/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + closedAddr(t)}, "callfix")
	f("Options.Endpoint wins", telemetry.Options{Endpoint: "{recv}"},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + closedAddr(t)}, "callfix")
	f("OTEL_SERVICE_NAME", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_SERVICE_NAME": "edge-proxy"}, "edge-proxy")
	f("Options.ServiceName wins", telemetry.Options{ServiceName: "mine"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_SERVICE_NAME": "edge-proxy"}, "mine")
	f("protocol from OTEL_EXPORTER_OTLP_PROTOCOL", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "callfix")
}

func TestTelemetry_HeadersAndVersionReachTheCollector(t *testing.T) {
	r := otlptest.Start(t)
	tel := newTel(t, telemetry.Options{Endpoint: r.URL, SampleRatio: 1, Version: "1.2.3", Headers: map[string]string{"X-Api-Key": "secret-key"}})
	tel.RecordRewriteSpan(context.Background(), sampleRecord())
	shutdown(t, tel, 5*time.Second)
	spans, ok := r.WaitSpans(1, 5*time.Second)
	if !ok {
		t.Fatalf("no span arrived")
	}
	if v := spans[0].Resource.Str("service.version"); v != "1.2.3" {
		t.Errorf("service.version = %q, want 1.2.3", v)
	}
	if ex := r.Exports(); ex[0].Header.Get("X-Api-Key") != "secret-key" {
		t.Errorf("export headers = %v, want X-Api-Key", ex[0].Header)
	}
	for _, s := range spans {
		for _, txt := range s.Texts() {
			if strings.Contains(txt, "secret-key") {
				t.Errorf("the export header value is in a span: %q", txt)
			}
		}
	}
}

// What the exporter and the SDK read themselves reaches the collector:
// OTEL_EXPORTER_OTLP_HEADERS (unless Options.Headers, tracing.headers, are
// set: they replace them), OTEL_RESOURCE_ATTRIBUTES; a signal-specific
// endpoint without a scheme is used as it is, over http.
func TestTelemetry_ExporterReadsTheRestOfTheEnvironment(t *testing.T) {
	f := func(name string, opts telemetry.Options, vars map[string]string, check func(otlptest.Span, http.Header) string) {
		t.Helper()
		r := otlptest.Start(t)
		for k, v := range vars {
			vars[k] = strings.NewReplacer("{recv}", r.URL, "{addr}", r.Addr).Replace(v)
		}
		setOTEL(t, vars)
		opts.Endpoint = strings.ReplaceAll(opts.Endpoint, "{recv}", r.URL)
		opts.SampleRatio = 1
		tel := newTel(t, opts)
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
		shutdown(t, tel, 5*time.Second)
		spans, ok := r.WaitSpans(1, 5*time.Second)
		if !ok {
			t.Errorf("%s: no span reached the collector; refused: %v", name, r.Refusals())
			return
		}
		if msg := check(spans[0], r.Exports()[0].Header); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
	}
	header := func(want string) func(otlptest.Span, http.Header) string {
		return func(_ otlptest.Span, h http.Header) string {
			if got := h.Get("X-Api-Key"); got != want {
				return fmt.Sprintf("export header X-Api-Key = %q, want %q", got, want)
			}
			return ""
		}
	}
	f("OTEL_EXPORTER_OTLP_HEADERS", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_EXPORTER_OTLP_HEADERS": "X-Api-Key=from-env"}, header("from-env"))
	f("OTEL_EXPORTER_OTLP_TRACES_HEADERS", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "X-Api-Key=traces"}, header("traces"))
	f("Options.Headers win", telemetry.Options{Endpoint: "{recv}", Headers: map[string]string{"X-Api-Key": "from-config"}},
		map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "X-Api-Key=from-env"}, header("from-config"))
	f("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT without a scheme", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{addr}/v1/traces"}, func(otlptest.Span, http.Header) string { return "" })
	f("OTEL_RESOURCE_ATTRIBUTES", telemetry.Options{Version: "1.2.3"},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging,service.name=from-attrs"},
		func(s otlptest.Span, _ http.Header) string {
			if env, svc, v := s.Resource.Str("deployment.environment.name"), s.Resource.Str("service.name"), s.Resource.Str("service.version"); env != "staging" || svc != "from-attrs" || v != "1.2.3" {
				return fmt.Sprintf("resource deployment.environment.name, service.name, service.version = %q, %q, %q; want staging, from-attrs, 1.2.3", env, svc, v)
			}
			return ""
		})
	f("OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{recv}", "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs", "OTEL_SERVICE_NAME": "edge-proxy"},
		func(s otlptest.Span, _ http.Header) string {
			if svc := s.Resource.Str("service.name"); svc != "edge-proxy" {
				return fmt.Sprintf("service.name = %q, want edge-proxy", svc)
			}
			return ""
		})
}

// An endpoint variable that is not a URL stops start-up, as a bad
// tracing.endpoint does, rather than sending spans to a default collector.
func TestTelemetry_EndpointNotAURL_IsAStartUpError(t *testing.T) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		setOTEL(t, map[string]string{name: "http://[::1"})
		if _, err := telemetry.New(context.Background(), telemetry.Options{}); err == nil || !strings.Contains(err.Error(), "is not a URL") {
			t.Errorf("%s=http://[::1: error = %v, want one saying it is not a URL", name, err)
		}
	}
	setOTEL(t, nil)
	if _, err := telemetry.New(context.Background(), telemetry.Options{Endpoint: "http://[::1"}); err == nil || !strings.Contains(err.Error(), "is not a URL") {
		t.Errorf("Options.Endpoint http://[::1: error = %v, want one saying it is not a URL", err)
	}
}

// The OTel specification: OTEL_EXPORTER_OTLP_ENDPOINT is a base URL, and
// an OTLP/HTTP exporter appends v1/traces to it, path or not
// (http://collector:4318/otlp → /otlp/v1/traces). Collectors and SaaS
// gateways behind a path prefix depend on it.
func TestTelemetry_BaseEndpointWithAPath_GetsV1TracesAppended(t *testing.T) {
	r := otlptest.Start(t)
	setOTEL(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL + "/otlp"})
	tel := newTel(t, telemetry.Options{SampleRatio: 1})
	tel.RecordRewriteSpan(context.Background(), sampleRecord())
	shutdown(t, tel, 5*time.Second)
	if _, ok := r.WaitSpans(1, 2*time.Second); !ok {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%s/otlp: no span reached /otlp/v1/traces; the collector refused %+v", r.URL, r.Refusals())
	}
	for _, ex := range r.Exports() {
		if ex.Path != "/otlp/v1/traces" {
			t.Errorf("export went to %s, want /otlp/v1/traces", ex.Path)
		}
	}
}

// A base endpoint written with the path already (…:4318/v1/traces) is
// taken as meant, as callfix always took it: the exporter alone would
// send to /v1/traces/v1/traces, and the collector would refuse every span.
func TestTelemetry_BaseEndpointEndingInV1Traces_NotDoubled(t *testing.T) {
	for _, suffix := range []string{"/v1/traces"} {
		r := otlptest.Start(t)
		setOTEL(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL + suffix})
		tel := newTel(t, telemetry.Options{SampleRatio: 1})
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
		shutdown(t, tel, 5*time.Second)
		if _, ok := r.WaitSpans(1, 2*time.Second); !ok {
			t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%s%s: no span arrived; the collector refused %+v", r.URL, suffix, r.Refusals())
		}
		for _, ex := range r.Exports() {
			if ex.Path != "/v1/traces" {
				t.Errorf("%s: export went to %s, want /v1/traces", suffix, ex.Path)
			}
		}
	}
}

func TestTelemetry_Protocols(t *testing.T) {
	addr := closedAddr(t)
	f := func(name string, opts telemetry.Options, vars map[string]string) {
		t.Helper()
		before := goleak.IgnoreCurrent()
		setOTEL(t, vars)
		opts.SampleRatio = 1
		tel, err := telemetry.New(context.Background(), opts)
		if err != nil {
			t.Errorf("%s: New: %v", name, err)
			return
		}
		if !tel.Tracing() {
			t.Errorf("%s: Tracing() = false", name)
		}
		if err := shutdown(t, tel, 2*time.Second); err != nil {
			t.Errorf("%s: Shutdown of an exporter that never exported: %v", name, err)
		}
		if err := goleak.Find(before); err != nil {
			t.Errorf("%s: goroutines left after Shutdown: %v", name, err)
		}
	}
	f("grpc", telemetry.Options{Endpoint: "http://" + addr, Protocol: "grpc"}, nil)
	f("grpc without a scheme", telemetry.Options{Endpoint: addr, Protocol: "grpc"}, nil)
	f("http/protobuf", telemetry.Options{Endpoint: "http://" + addr, Protocol: "http/protobuf"}, nil)
	f("default protocol", telemetry.Options{Endpoint: "http://" + addr}, nil)
	f("OTEL_EXPORTER_OTLP_PROTOCOL=grpc", telemetry.Options{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
	f("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL wins", telemetry.Options{},
		map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr, "OTEL_EXPORTER_OTLP_PROTOCOL": "bogus", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"})

	setOTEL(t, nil)
	for _, p := range []string{"http/json", "grpc-web", "HTTP"} {
		_, err := telemetry.New(context.Background(), telemetry.Options{Endpoint: "http://" + addr, Protocol: p})
		if err == nil || !strings.Contains(err.Error(), "use grpc or http/protobuf") {
			t.Errorf("protocol %q: error = %v, want one naming grpc and http/protobuf", p, err)
		}
	}
}

// A collector that is gone must cost requests nothing: spans are queued
// and dropped, never waited for, and Shutdown gives up when its context
// ends.
func TestTelemetry_UnreachableCollector_NeverBlocks(t *testing.T) {
	for _, proto := range []string{"http/protobuf", "grpc"} {
		t.Run(strings.ReplaceAll(proto, "/", "_"), func(t *testing.T) {
			tel, err := telemetry.New(context.Background(), telemetry.Options{
				Endpoint: "http://" + closedAddr(t), Protocol: proto, SampleRatio: 1})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			rec := sampleRecord()
			ctx := context.Background()
			start := time.Now()
			for range 1000 {
				tel.RecordRewriteSpan(ctx, rec)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("1000 RecordRewriteSpan calls took %s with the collector gone, want < 1s", d)
			}
			// Past the queue (4096): spans are dropped, and no call waits
			// for the exporter. (Per call, not in total: the machine may
			// be busy with other tests.)
			start = time.Now()
			var slowest time.Duration
			for range 5000 {
				t0 := time.Now()
				tel.RecordRewriteSpan(ctx, rec)
				tel.Intercepted(ctx, rec)
				slowest = max(slowest, time.Since(t0))
			}
			if slowest > 500*time.Millisecond {
				t.Errorf("a RecordRewriteSpan+Intercepted call past the queue took %s: it waited for the exporter", slowest)
			}
			t.Logf("5000 more calls took %s, the slowest %s", time.Since(start).Round(time.Millisecond), slowest)
			done := make(chan error, 1)
			start = time.Now()
			go func() {
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				done <- tel.Shutdown(sctx)
			}()
			select {
			case err := <-done:
				t.Logf("Shutdown returned after %s: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(4 * time.Second):
				t.Fatalf("Shutdown with a 2s context has not returned after 4s")
			}
		})
	}
}

// Options.Logger "receives exporter errors. If nil, they are discarded."
// They must not go to the standard logger (stderr, where the audit log
// goes by default, as non-JSON lines in a JSON stream).
func TestTelemetry_ExporterErrors_GoToOptionsLogger(t *testing.T) {
	var std testsupport.Buffer
	log.SetOutput(&std)
	defer log.SetOutput(os.Stderr)
	addr := closedAddr(t)
	var logged testsupport.Buffer
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Endpoint: "http://" + addr, SampleRatio: 1,
		Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 600 { // more than a batch: the processor exports at once
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
	}
	shutdown(t, tel, 2*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logged.String(), addr) && !strings.Contains(std.String(), addr) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(std.String(), addr) {
		t.Errorf("exporter errors went to the standard logger (stderr), not to Options.Logger:\n%s", firstLines(std.String(), addr, 2))
	}
	if !strings.Contains(logged.String(), addr) {
		t.Errorf("Options.Logger received no exporter error within 5s; it has %q", logged.String())
	}
}

// What the OpenTelemetry libraries log about the OTEL_* variables they
// read goes to Options.Logger too, without the values they quote (a
// header entry may hold a key), and never to the standard logger.
func TestTelemetry_LibraryLog_GoesToOptionsLoggerWithoutValues(t *testing.T) {
	var std testsupport.Buffer
	log.SetOutput(&std)
	defer log.SetOutput(os.Stderr)
	r := otlptest.Start(t)
	setOTEL(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL, "OTEL_EXPORTER_OTLP_HEADERS": "X-Api-Key=secret-key,broken-secret-entry"})
	var logged testsupport.Buffer
	tel := newTel(t, telemetry.Options{SampleRatio: 1, Logger: slog.New(slog.NewJSONHandler(&logged, nil))})
	tel.RecordRewriteSpan(context.Background(), sampleRecord())
	shutdown(t, tel, 5*time.Second)
	if _, ok := r.WaitSpans(1, 5*time.Second); !ok {
		t.Errorf("no span reached the collector; refused: %v", r.Refusals())
	}
	if std.String() != "" {
		t.Errorf("the standard logger received %q", std.String())
	}
	if !strings.Contains(logged.String(), "parse headers") {
		t.Errorf("Options.Logger did not receive the exporter's complaint about OTEL_EXPORTER_OTLP_HEADERS; it has %q", logged.String())
	}
	for _, secret := range []string{"secret-key", "broken-secret-entry"} {
		if strings.Contains(logged.String()+std.String(), secret) {
			t.Errorf("a log line holds %q: %s", secret, logged.String())
		}
	}
}

// A Telemetry without a Logger discards exporter errors.
func TestTelemetry_ExporterErrors_DiscardedWithoutLogger(t *testing.T) {
	var std testsupport.Buffer
	log.SetOutput(&std)
	defer log.SetOutput(os.Stderr)
	addr := closedAddr(t)
	tel, err := telemetry.New(context.Background(), telemetry.Options{Endpoint: "http://" + addr, SampleRatio: 1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 600 {
		tel.RecordRewriteSpan(context.Background(), sampleRecord())
	}
	shutdown(t, tel, 2*time.Second)
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(std.String(), addr) {
		t.Errorf("with Options.Logger nil, exporter errors went to the standard logger (stderr):\n%s", firstLines(std.String(), addr, 2))
	}
}

func firstLines(text, substr string, n int) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// scrape calls the metrics handler as the admin server would.
func scrape(t testing.TB, tel *telemetry.Telemetry) string {
	t.Helper()
	status, ct, body := testsupport.ServeMetrics(tel.MetricsHandler())
	if status != 200 {
		t.Fatalf("metrics handler answered %d: %s", status, body)
	}
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("metrics Content-Type = %q, want text/plain", ct)
	}
	return body
}

// families parses the Prometheus text exposition.
func families(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := testsupport.ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the metrics are not valid Prometheus text: %v\n%s", err, text)
	}
	return fams
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func labelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// value returns the counter value of the series with exactly these labels.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		l := labels(m)
		if len(l) != len(want) {
			continue
		}
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestMetrics_NamesLabelsAndBoundedValues(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	ctx := context.Background()
	api, login := tel.Upstream("api"), tel.Upstream("login")
	sampleRecord := func() *telemetry.Record {
		r := sampleRecord()
		r.UpstreamLabel = api
		return r
	}

	// A rewrite with a phone change at an array index and a user change.
	rw := sampleRecord()
	tel.Intercepted(ctx, rw)
	// A rejection: two problems in enforce mode.
	rj := sampleRecord()
	rj.Outcome, rj.Changes, rj.Status, rj.Upstream = rewrite.OutcomeRejected, nil, 400, 0
	rj.Problems = []rewrite.Problem{
		{Path: "participants[0].address", Value: "(555) 01", Reason: rewrite.ReasonTooShort, Country: "US"},
		{Path: "participants[12].address", Value: "555-CALL-NOW", Reason: rewrite.ReasonCharacters, Country: "US"},
	}
	tel.Intercepted(ctx, rj)
	// Audit mode: a problem recorded, not a rejection.
	au := sampleRecord()
	au.Mode, au.Outcome, au.Changes = rewrite.ModeAudit, rewrite.OutcomeAudited, nil
	au.Problems = []rewrite.Problem{{Path: "phoneNumber", Value: "12", Reason: rewrite.ReasonTooShort, Country: "US"}}
	tel.Intercepted(ctx, au)
	// A 5xx from the API upstream on the other call route; the login
	// upstream's 5xx comes from a pass-through request below (rules only
	// ever match API routes).
	lg := sampleRecord()
	lg.Route, lg.Upstream, lg.Status, lg.UpstreamDur = "POST /api/v2/conversations/calls/user/{userId}", 503, 503, 3*time.Second
	tel.Intercepted(ctx, lg)
	tel.Passthrough(login, 503, 3*time.Second)
	tel.Passthrough(api, 200, 20*time.Millisecond)
	tel.Passthrough(api, 204, 2*time.Millisecond)
	tel.Passthrough(login, 401, 70*time.Millisecond)
	tel.Passthrough(api, 0, 5*time.Second) // no answer: no duration
	tel.Passthrough(api, 799, time.Millisecond)
	tel.ConfigReloaded(true)
	tel.ConfigReloaded(false)
	tel.ConfigReloaded(false)

	text := scrape(t, tel)
	fams := families(t, text)

	wantLabels := map[string]string{
		"callfix_requests_total":                    "outcome,route,status_class",
		"callfix_rewrites_total":                    "field,kind,route",
		"callfix_rejects_total":                     "field,reason,route",
		"callfix_upstream_request_duration_seconds": "status_class,upstream",
		"callfix_config_reloads_total":              "result",
	}
	for name, want := range wantLabels {
		f := fams[name]
		if f == nil {
			t.Errorf("metric %s is missing; the callfix families are %v", name, callfixNames(fams))
			continue
		}
		for _, m := range f.GetMetric() {
			if got := labelNames(m); got != want {
				t.Errorf("%s has labels %s, want %s", name, got, want)
			}
		}
	}
	if f := fams["callfix_upstream_request_duration_seconds"]; f != nil && f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("callfix_upstream_request_duration_seconds is a %v, want a histogram", f.GetType())
	}
	for _, b := range []string{`le="0.005"`, `le="0.025"`, `le="1"`, `le="60"`, `le="+Inf"`} {
		if !regexp.MustCompile(`(?m)^callfix_upstream_request_duration_seconds_bucket\{[^}]*` + regexp.QuoteMeta(b) + `[^}]*\} `).MatchString(text) {
			t.Errorf("no histogram bucket %s in\n%s", b, grepLines(text, "callfix_upstream"))
		}
	}
	if !strings.Contains(text, "\ngo_goroutines ") || !strings.Contains(text, "go_memstats_") {
		t.Errorf("the Go runtime metrics (go_goroutines, go_memstats_*) are missing")
	}

	counts := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"callfix_requests_total", map[string]string{"route": "POST /api/v2/conversations/calls", "outcome": "rewritten", "status_class": "2xx"}, 1},
		{"callfix_requests_total", map[string]string{"route": "POST /api/v2/conversations/calls", "outcome": "rejected", "status_class": "4xx"}, 1},
		{"callfix_requests_total", map[string]string{"route": "POST /api/v2/conversations/calls", "outcome": "audited", "status_class": "2xx"}, 1},
		{"callfix_requests_total", map[string]string{"route": "POST /api/v2/conversations/calls/user/{userId}", "outcome": "rewritten", "status_class": "5xx"}, 1},
		{"callfix_requests_total", map[string]string{"route": "passthrough", "outcome": "passthrough", "status_class": "2xx"}, 2},
		{"callfix_requests_total", map[string]string{"route": "passthrough", "outcome": "passthrough", "status_class": "4xx"}, 1},
		{"callfix_requests_total", map[string]string{"route": "passthrough", "outcome": "passthrough", "status_class": "error"}, 2},
		{"callfix_rewrites_total", map[string]string{"route": "POST /api/v2/conversations/calls", "field": "participants[].address", "kind": "phone"}, 1},
		{"callfix_rewrites_total", map[string]string{"route": "POST /api/v2/conversations/calls", "field": "from.from", "kind": "user"}, 1},
		{"callfix_rewrites_total", map[string]string{"route": "POST /api/v2/conversations/calls/user/{userId}", "field": "participants[].address", "kind": "phone"}, 1},
		{"callfix_rejects_total", map[string]string{"route": "POST /api/v2/conversations/calls", "field": "participants[].address", "reason": "too_short"}, 1},
		{"callfix_rejects_total", map[string]string{"route": "POST /api/v2/conversations/calls", "field": "participants[].address", "reason": "invalid_characters"}, 1},
		{"callfix_upstream_request_duration_seconds", map[string]string{"upstream": "api", "status_class": "2xx"}, 4},
		{"callfix_upstream_request_duration_seconds", map[string]string{"upstream": "login", "status_class": "5xx"}, 1},
		{"callfix_upstream_request_duration_seconds", map[string]string{"upstream": "api", "status_class": "5xx"}, 1},
		{"callfix_upstream_request_duration_seconds", map[string]string{"upstream": "login", "status_class": "4xx"}, 1},
		{"callfix_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"callfix_config_reloads_total", map[string]string{"result": "failure"}, 2},
	}
	for _, c := range counts {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v\n%s", c.name, c.labels, got, ok, c.want, grepLines(text, c.name))
		}
	}
	// An audit-mode problem is not a rejection.
	if _, ok := value(fams, "callfix_rejects_total", map[string]string{"route": "POST /api/v2/conversations/calls", "field": "phoneNumber", "reason": "too_short"}); ok {
		t.Errorf("an audit-mode problem was counted as a rejection")
	}

	// Label values are bounded: templates, not raw paths, numbers or
	// indexes.
	index := regexp.MustCompile(`\[\d+\]`)
	digitRun := regexp.MustCompile(`\d{4,}`)
	secrets := []string{"(555) 010-0042", "5550100042", "010-0042", "555-CALL-NOW", "(555) 01", "2ca3b6e8"}
	for name, f := range fams {
		if !strings.HasPrefix(name, "callfix_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for k, v := range labels(m) {
				if index.MatchString(v) || digitRun.MatchString(v) {
					t.Errorf("%s label %s=%q holds an index or a number", name, k, v)
				}
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Errorf("%s label %s=%q holds request data %q", name, k, v, s)
					}
				}
			}
		}
	}
}

// callfix_kept_total counts kept values by reason alone, every reason from
// 0; callfix_country_lookups_total counts lookups by result, every result
// from 0, and ignores a result it does not know.
func TestMetrics_KeptAndCountryLookups(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	fams := families(t, scrape(t, tel))
	for _, k := range rewrite.KeepReasons() {
		if v, ok := value(fams, "callfix_kept_total", map[string]string{"reason": k.Code()}); !ok || v != 0 {
			t.Errorf("callfix_kept_total{reason=%q} = %v (found %v) at start, want 0", k.Code(), v, ok)
		}
	}
	for _, r := range telemetry.CountryLookupResults {
		if v, ok := value(fams, "callfix_country_lookups_total", map[string]string{"result": r}); !ok || v != 0 {
			t.Errorf("callfix_country_lookups_total{result=%q} = %v (found %v) at start, want 0", r, v, ok)
		}
	}
	r := sampleRecord()
	r.Kept = []rewrite.Kept{
		{Path: "phoneNumber", Value: "911", Reason: rewrite.KeepEmergency, Country: "US"},
		{Path: "participants[3].address", Value: "112", Reason: rewrite.KeepEmergency, Country: "US"},
		{Path: "participants[4].address", Value: "30005", Reason: rewrite.KeepExtension},
	}
	tel.Intercepted(context.Background(), r)
	tel.CountryLookup(telemetry.LookupSuccess)
	tel.CountryLookup(telemetry.LookupTimeout)
	tel.CountryLookup(telemetry.LookupTimeout)
	tel.CountryLookup("made-up")
	text := scrape(t, tel)
	fams = families(t, text)
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"callfix_kept_total", "reason", "emergency", 2},
		{"callfix_kept_total", "reason", "extension", 1},
		{"callfix_kept_total", "reason", "short_code", 0},
		{"callfix_country_lookups_total", "result", "success", 1},
		{"callfix_country_lookups_total", "result", "timeout", 2},
		{"callfix_country_lookups_total", "result", "status", 0},
	} {
		if v, ok := value(fams, c.name, map[string]string{c.label: c.value}); !ok || v != c.want {
			t.Errorf("%s{%s=%q} = %v (found %v), want %v\n%s", c.name, c.label, c.value, v, ok, c.want, grepLines(text, c.name))
		}
	}
	for name, want := range map[string]string{"callfix_kept_total": "reason", "callfix_country_lookups_total": "result"} {
		f := fams[name]
		if f == nil {
			t.Fatalf("%s is missing", name)
		}
		for _, m := range f.GetMetric() {
			if got := labelNames(m); got != want {
				t.Errorf("%s has labels %s, want %s", name, got, want)
			}
		}
		if n := len(f.GetMetric()); name == "callfix_country_lookups_total" && n != len(telemetry.CountryLookupResults) {
			t.Errorf("%s has %d series, want %d (an unknown result is not a new one)", name, n, len(telemetry.CountryLookupResults))
		}
	}
}

// Reload counters exist at 0 from the start, so a dashboard sees 0.
func TestMetrics_ReloadCountersStartAtZero(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	fams := families(t, scrape(t, tel))
	for _, r := range []string{"success", "failure"} {
		if v, ok := value(fams, "callfix_config_reloads_total", map[string]string{"result": r}); !ok || v != 0 {
			t.Errorf("callfix_config_reloads_total{result=%q} = %v (found %v), want 0", r, v, ok)
		}
	}
}

// Every Telemetry has its own registry: two instances do not collide, and
// one's counts do not show in the other's.
func TestMetrics_RegistriesArePrivate(t *testing.T) {
	a := newTel(t, telemetry.Options{})
	b := newTel(t, telemetry.Options{})
	a.Passthrough(a.Upstream("api"), 200, time.Millisecond)
	if v, ok := value(families(t, scrape(t, b)), "callfix_requests_total", map[string]string{"route": "passthrough", "outcome": "passthrough", "status_class": "2xx"}); ok && v != 0 {
		t.Errorf("b counts a's request: %v", v)
	}
}

func TestPassthrough_AllocatesNothing(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	for _, c := range []struct {
		upstream string
		status   int
	}{{"api", 200}, {"login", 302}, {"api", 0}, {"api", 503}, {"login", 999}} {
		tel.Passthrough(tel.Upstream(c.upstream), c.status, time.Millisecond) // first use creates the series
		u := tel.Upstream(c.upstream)
		if n := testing.AllocsPerRun(1000, func() { tel.Passthrough(u, c.status, 3*time.Millisecond) }); n != 0 {
			t.Errorf("Passthrough(%s, %d) allocates %v times per call, want 0", c.upstream, c.status, n)
		}
		// Nor does looking the handle up, per request.
		if n := testing.AllocsPerRun(1000, func() { tel.Passthrough(tel.Upstream(c.upstream), c.status, 3*time.Millisecond) }); n != 0 {
			t.Errorf("Passthrough(Upstream(%q), %d) allocates %v times per call, want 0", c.upstream, c.status, n)
		}
	}
}

// Telemetry knows no upstream of its own: the caller names them, each
// name gets one handle, and the zero Upstream counts the request but
// records no duration (an intercepted record without one neither).
func TestUpstream_HandlesByName(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	first, again, login := tel.Upstream("api"), tel.Upstream("api"), tel.Upstream("login")
	if first != again || first == login {
		t.Errorf("Upstream handles: the same name must give the same handle, two names two")
	}
	tel.Passthrough(telemetry.Upstream{}, 200, time.Millisecond)
	tel.Passthrough(tel.Upstream("edge"), 200, time.Millisecond)
	r := sampleRecord()
	tel.Intercepted(context.Background(), r) // no UpstreamLabel
	fams := families(t, scrape(t, tel))
	if v, ok := value(fams, "callfix_requests_total", map[string]string{"route": "passthrough", "outcome": "passthrough", "status_class": "2xx"}); !ok || v != 2 {
		t.Errorf("passthrough 2xx requests = %v (found %v), want 2", v, ok)
	}
	f := fams["callfix_upstream_request_duration_seconds"]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("callfix_upstream_request_duration_seconds = %v, want one series (edge)", f)
	}
	if v, ok := value(fams, "callfix_upstream_request_duration_seconds", map[string]string{"upstream": "edge", "status_class": "2xx"}); !ok || v != 1 {
		t.Errorf("edge 2xx durations = %v (found %v), want 1", v, ok)
	}
}

func callfixNames(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range fams {
		if strings.HasPrefix(n, "callfix") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func grepLines(text, substr string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// As vmauth exports them: whether the last reload was applied, and when
// the running configuration was loaded. A refused reload turns the first
// to 0 and leaves the time of the good configuration.
func TestMetrics_LastReloadGauges(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	read := func() (ok, at float64) {
		t.Helper()
		fams := families(t, scrape(t, tel))
		ok, found1 := value(fams, "callfix_config_last_reload_successful", nil)
		at, found2 := value(fams, "callfix_config_last_reload_success_timestamp_seconds", nil)
		if !found1 || !found2 {
			t.Fatalf("reload gauges missing; the callfix families are %v", callfixNames(fams))
		}
		return ok, at
	}
	start := float64(time.Now().Unix())
	if ok, at := read(); ok != 1 || at < start-2 || at > start+2 {
		t.Errorf("at start: successful %v, timestamp %v; want 1 and about %v", ok, at, start)
	}
	tel.ConfigReloaded(false)
	okAfterBad, atAfterBad := read()
	if okAfterBad != 0 {
		t.Errorf("after a refused reload: successful = %v, want 0", okAfterBad)
	}
	time.Sleep(1100 * time.Millisecond)
	tel.ConfigReloaded(true)
	if ok, at := read(); ok != 1 || at <= atAfterBad {
		t.Errorf("after an applied reload: successful %v, timestamp %v; want 1 and later than %v", ok, at, atAfterBad)
	}
}

// telemetry knows no server: the admin server adapts its net/http metrics
// handler, and the proxy hands it records.
func TestTelemetry_ImportsNoServer(t *testing.T) {
	pkg, err := build.Import("github.com/callfix/callfix/internal/telemetry", ".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) < 5 {
		t.Fatalf("imports = %v: the package was not read", pkg.Imports)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/valyala/fasthttp") || imp == "github.com/callfix/callfix/proxy" {
			t.Errorf("internal/telemetry imports %s", imp)
		}
	}
}
