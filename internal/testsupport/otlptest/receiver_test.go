package otlptest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/callfix/callfix/internal/testsupport/otlptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// export sends the spans that fn makes through a real OTLP/HTTP exporter
// (synchronously, one export per span) and shuts the provider down.
func export(t *testing.T, opts []otlptracehttp.Option, fn func(trace.Tracer)) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]otlptracehttp.Option{otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}, opts...)
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		t.Fatalf("otlptracehttp.New: %v", err)
	}
	// A syncer exports each span as it ends; export errors go to the
	// global error handler, so callers check what arrived.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "receiver-test"))))
	fn(tp.Tracer("otlptest-test", trace.WithInstrumentationVersion("v9")))
	return tp.Shutdown(ctx)
}

func TestReceiver_DecodesEverythingAnExporterSends(t *testing.T) {
	r := otlptest.Start(t)
	var parent, child trace.SpanContext
	err := export(t, []otlptracehttp.Option{otlptracehttp.WithEndpointURL(r.TracesURL), otlptracehttp.WithHeaders(map[string]string{"X-Api-Key": "k"})}, func(tr trace.Tracer) {
		ctx, p := tr.Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 42), attribute.Bool("b", true),
				attribute.Float64("f", 1.5), attribute.StringSlice("ss", []string{"x", "y"})))
		_, c := tr.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient))
		c.AddEvent("ev", trace.WithAttributes(attribute.String("k", "event-value")))
		c.SetStatus(codes.Error, "went wrong")
		c.End()
		parent, child = p.SpanContext(), c.SpanContext()
		p.End()
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	spans, ok := r.WaitSpans(2, 5*time.Second)
	if !ok {
		t.Fatalf("received %d spans, want 2", len(spans))
	}
	p, ok := r.Find("parent")
	if !ok {
		t.Fatalf("no span named parent in %v", spans)
	}
	c, ok := r.Find("child")
	if !ok {
		t.Fatalf("no span named child")
	}
	if p.TraceID != parent.TraceID().String() || p.SpanID != parent.SpanID().String() || p.ParentSpanID != "" {
		t.Errorf("parent IDs = %s/%s parent %q, want %s/%s and no parent", p.TraceID, p.SpanID, p.ParentSpanID, parent.TraceID(), parent.SpanID())
	}
	if c.TraceID != child.TraceID().String() || c.SpanID != child.SpanID().String() || c.ParentSpanID != p.SpanID {
		t.Errorf("child IDs = %s/%s parent %s, want %s/%s parent %s", c.TraceID, c.SpanID, c.ParentSpanID, child.TraceID(), child.SpanID(), p.SpanID)
	}
	if kids := otlptest.Children(spans, p); len(kids) != 1 || kids[0].Name != "child" {
		t.Errorf("Children(parent) = %v, want [child]", kids)
	}
	if p.Kind != otlptest.KindServer || c.Kind != otlptest.KindClient || p.Kind.String() != "server" {
		t.Errorf("kinds = %v, %v, want server, client", p.Kind, c.Kind)
	}
	if p.Attrs.Str("s") != "v" || p.Attrs["b"] != true || p.Attrs["f"] != 1.5 {
		t.Errorf("parent attributes = %v", p.Attrs)
	}
	if n, ok := p.Attrs.Int("i"); !ok || n != 42 {
		t.Errorf("parent attribute i = %v, want int 42", p.Attrs["i"])
	}
	if ss, _ := p.Attrs["ss"].([]any); len(ss) != 2 || ss[0] != "x" || ss[1] != "y" {
		t.Errorf("parent attribute ss = %#v, want [x y]", p.Attrs["ss"])
	}
	if ev := c.EventsNamed("ev"); len(ev) != 1 || ev[0].Attrs.Str("k") != "event-value" || ev[0].Time.IsZero() {
		t.Errorf("child events = %+v, want one ev with k=event-value", c.Events)
	}
	if c.StatusCode != "error" || c.StatusMessage != "went wrong" || p.StatusCode != "unset" {
		t.Errorf("statuses = %s %q, %s, want error %q, unset", c.StatusCode, c.StatusMessage, p.StatusCode, "went wrong")
	}
	if p.Resource.Str("service.name") != "receiver-test" || p.Scope != "otlptest-test" || p.ScopeVersion != "v9" {
		t.Errorf("resource %v scope %q %q", p.Resource, p.Scope, p.ScopeVersion)
	}
	if p.Start.IsZero() || p.End.Before(p.Start) {
		t.Errorf("parent times %v .. %v", p.Start, p.End)
	}
	texts := strings.Join(c.Texts(), "|")
	for _, want := range []string{"child", "went wrong", "event-value", "receiver-test"} {
		if !strings.Contains(texts, want) {
			t.Errorf("Texts() = %s, lacks %q", texts, want)
		}
	}
	ex := r.Exports()
	if len(ex) != 2 {
		t.Fatalf("exports = %d, want 2 (a simple processor exports each span)", len(ex))
	}
	if ex[0].Path != "/v1/traces" || ex[0].ContentType != "application/x-protobuf" || ex[0].Header.Get("X-Api-Key") != "k" || ex[0].Spans != 1 {
		t.Errorf("export = %+v", ex[0])
	}
	if got := otlptest.ByTrace(spans, p.TraceID); len(got) != 2 {
		t.Errorf("ByTrace = %d spans, want 2", len(got))
	}
	if len(r.Refusals()) != 0 {
		t.Errorf("refusals = %v, want none", r.Refusals())
	}
}

func TestReceiver_AcceptsGzip(t *testing.T) {
	r := otlptest.Start(t)
	err := export(t, []otlptracehttp.Option{otlptracehttp.WithEndpointURL(r.TracesURL), otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}, func(tr trace.Tracer) {
		_, s := tr.Start(context.Background(), "zipped", trace.WithAttributes(attribute.String("big", strings.Repeat("a", 10000))))
		s.End()
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if _, ok := r.WaitSpans(1, 5*time.Second); !ok {
		t.Fatalf("no span arrived; refusals %v", r.Refusals())
	}
	s, _ := r.Find("zipped")
	if len(s.Attrs.Str("big")) != 10000 {
		t.Errorf("attribute big has %d bytes, want 10000", len(s.Attrs.Str("big")))
	}
	if ex := r.Exports(); len(ex) != 1 || ex[0].ContentEncoding != "gzip" {
		t.Errorf("exports = %+v, want one gzip-encoded", ex)
	}
}

// A base endpoint with a path (OTEL_EXPORTER_OTLP_ENDPOINT=http://h/otlp)
// exports to /otlp/v1/traces; the receiver takes it and says where it came.
func TestReceiver_AcceptsAPathPrefix(t *testing.T) {
	r := otlptest.Start(t)
	err := export(t, []otlptracehttp.Option{otlptracehttp.WithEndpointURL(r.URL + "/otlp/v1/traces")}, func(tr trace.Tracer) {
		_, s := tr.Start(context.Background(), "prefixed")
		s.End()
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if _, ok := r.WaitSpans(1, 5*time.Second); !ok {
		t.Fatalf("no span arrived")
	}
	if ex := r.Exports(); len(ex) != 1 || ex[0].Path != "/otlp/v1/traces" {
		t.Errorf("exports = %+v, want one to /otlp/v1/traces", ex)
	}
}

func TestReceiver_RefusesWhatIsNotAnOTLPExport(t *testing.T) {
	r := otlptest.Start(t)
	valid, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(valid)
	zw.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	f := func(name, method, path, ct, enc string, body []byte, want int) {
		t.Helper()
		req, err := http.NewRequest(method, r.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status = %d, want %d", name, resp.StatusCode, want)
		}
	}
	f("GET", "GET", "/v1/traces", "", "", nil, 405)
	f("other path", "POST", "/v1/metrics", "application/x-protobuf", "", valid, 404)
	f("JSON", "POST", "/v1/traces", "application/json", "", []byte("{}"), 415)
	f("not protobuf", "POST", "/v1/traces", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, 400)
	f("not gzip", "POST", "/v1/traces", "application/x-protobuf", "gzip", valid, 400)
	f("zstd", "POST", "/v1/traces", "application/x-protobuf", "zstd", valid, 415)
	f("empty export", "POST", "/v1/traces", "application/x-protobuf", "", valid, 200)
	f("gzip export", "POST", "/v1/traces", "application/x-protobuf; charset=binary", "gzip", gz.Bytes(), 200)
	if n := len(r.Refusals()); n != 6 {
		t.Errorf("refusals = %d (%v), want 6", n, r.Refusals())
	}
	if n := len(r.Exports()); n != 2 {
		t.Errorf("exports = %d, want 2", n)
	}
	if r.Len() != 0 {
		t.Errorf("spans = %d, want 0", r.Len())
	}
}

func TestReceiver_SetStatusFailsExports(t *testing.T) {
	r := otlptest.Start(t)
	r.SetStatus(http.StatusBadRequest) // not retryable: the exporter fails at once
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(r.TracesURL), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	_, s := tp.Tracer("t").Start(ctx, "refused")
	s.End()
	if err := exp.ExportSpans(ctx, nil); err != nil {
		t.Errorf("an empty export: %v", err)
	}
	stub := tracetestSpans(t, "refused")
	if err := exp.ExportSpans(ctx, stub); err == nil {
		t.Errorf("export to a receiver answering 400 succeeded, want an error")
	}
	if r.Len() != 0 || len(r.Refusals()) != 1 || r.Refusals()[0].Status != 400 {
		t.Errorf("spans %d, refusals %v, want none and one 400", r.Len(), r.Refusals())
	}
	r.SetStatus(0)
	if err := exp.ExportSpans(ctx, stub); err != nil {
		t.Errorf("export after SetStatus(0): %v", err)
	}
	if _, ok := r.WaitSpans(1, 5*time.Second); !ok {
		t.Errorf("no span after SetStatus(0)")
	}
	exp.Shutdown(ctx)
	tp.Shutdown(ctx)
}

// tracetestSpans makes one ended span with an in-memory provider.
func tracetestSpans(t *testing.T, name string) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := &collect{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	_, s := tp.Tracer("t").Start(context.Background(), name)
	s.End()
	tp.Shutdown(context.Background())
	return rec.spans
}

type collect struct{ spans []sdktrace.ReadOnlySpan }

func (c *collect) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collect) OnEnd(s sdktrace.ReadOnlySpan)                   { c.spans = append(c.spans, s) }
func (c *collect) Shutdown(context.Context) error                  { return nil }
func (c *collect) ForceFlush(context.Context) error                { return nil }

func TestReceiver_WaitIsBounded(t *testing.T) {
	r := otlptest.Start(t)
	start := time.Now()
	spans, ok := r.WaitSpans(1, 50*time.Millisecond)
	if ok || len(spans) != 0 {
		t.Errorf("WaitSpans on an idle receiver = %d spans, %v", len(spans), ok)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("WaitSpans(50ms) took %s", d)
	}
	if _, ok := r.Find("nothing"); ok {
		t.Errorf("Find on an idle receiver found something")
	}
	// Close is idempotent, and spans stay readable after it.
	r.Close()
	r.Close()
	if r.Len() != 0 {
		t.Errorf("Len after Close = %d", r.Len())
	}
}

func TestDecode(t *testing.T) {
	if _, err := otlptest.Decode([]byte{0xff}); err == nil {
		t.Errorf("Decode(garbage) succeeded")
	}
	spans, err := otlptest.Decode(nil)
	if err != nil || len(spans) != 0 {
		t.Errorf("Decode(empty) = %v, %v", spans, err)
	}
}
