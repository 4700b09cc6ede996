package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/callfix/callfix/rewrite"
)

// Options configure telemetry. The zero value gives metrics and no
// tracing. The fields that name an exporter setting override the standard
// OTEL_* variable; the rest of OTEL_EXPORTER_OTLP_* (certificates, client
// keys, timeout, compression, insecure) and OTEL_RESOURCE_ATTRIBUTES are
// read by the OpenTelemetry exporter and SDK themselves.
type Options struct {
	// ServiceName names the service in traces. If empty, OTEL_SERVICE_NAME
	// (read by the SDK's resource), else "callfix".
	ServiceName string
	// Version is the service version in traces.
	Version string
	// Endpoint is the OTLP endpoint, a base URL (/v1/traces is added for
	// http/protobuf) or host:port. If empty, the exporter reads
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; with
	// none of the three, no exporter runs and tracing costs nothing.
	Endpoint string
	// Protocol is grpc or http/protobuf; if empty,
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
	// else http/protobuf.
	Protocol string
	// Headers are sent with every export, in place of
	// OTEL_EXPORTER_OTLP_(TRACES_)HEADERS; if empty, the exporter sends
	// those.
	Headers map[string]string
	// SampleRatio is the share of new traces sampled (parent-based), unless
	// OTEL_TRACES_SAMPLER is set (then the SDK reads it and
	// OTEL_TRACES_SAMPLER_ARG). 0 samples no new trace (a client's sampled
	// trace is still continued); callfix serve passes tracing.sample_ratio,
	// default 1.
	SampleRatio float64
	// Logger receives exporter errors. If nil, they are discarded.
	Logger *slog.Logger
	// AuditWriter receives one JSON record per intercepted request
	// (docs/AUDIT.md); nil disables the audit log.
	AuditWriter io.Writer
	// AuditFlushInterval and AuditBufferBytes batch the audit records
	// (auditbatch.go): written together at most this long after the first
	// was buffered, or when the next would overflow the buffer. Either 0:
	// each record is written at once. callfix serve passes
	// audit.flush_interval and audit.buffer_bytes.
	AuditFlushInterval time.Duration
	AuditBufferBytes   int
	// spanProcessor, if not nil, receives spans in addition to (or, without
	// an endpoint, instead of) the OTLP exporter: the tests' recorder
	// (export_test.go), not a production setting.
	spanProcessor sdktrace.SpanProcessor
	// MaxClients is how many distinct clients get their own value of the
	// client label (metrics.max_clients); the rest are "other". 0 labels
	// every client "other"; callfix serve passes metrics.max_clients,
	// default 100.
	MaxClients int
}

// Telemetry holds the tracer and meter providers and the instruments.
type Telemetry struct {
	tracer     trace.Tracer
	tracing    bool
	tp         *sdktrace.TracerProvider
	mp         *sdkmetric.MeterProvider
	registry   *prometheus.Registry
	propagator propagation.TextMapPropagator
	auditW     *auditWriter
	auditBatch *auditBatch // nil when records are written one by one
	log        *slog.Logger

	requests, rewrites, rejects, problems, reloads metric.Int64Counter
	// lastReloadOK and lastReloadAt back the reload gauges.
	lastReloadOK         atomic.Bool
	lastReloadAt         atomic.Int64
	kept, countryLookups metric.Int64Counter
	upstreamDuration     metric.Float64Histogram
	// keptSets are the option slices of callfix_kept_total, by KeepReason.
	keptSets []([]metric.AddOption)
	// lookupSets are those of callfix_country_lookups_total, by result.
	lookupSets map[string][]metric.AddOption
	// passSets are the precomputed option slices of a request passed
	// through, by status class: passing an existing slice to a variadic
	// call allocates nothing.
	passSets [6][]metric.AddOption
	// upstreams are the label handles by upstream name (Upstream).
	upMu      sync.Mutex
	upstreams map[string]Upstream
	optCache  sync.Map // labelKey → []metric.AddOption
	clients   clientLabels
}

// Disabled returns telemetry that records nothing, whatever the
// environment: no tracer, metrics to a private registry. The proxy uses it
// when none is configured.
func Disabled() *Telemetry {
	t, err := newTelemetry(Options{})
	if err != nil {
		panic("telemetry: disabled telemetry failed: " + err.Error())
	}
	return t
}

// newTelemetry builds the metrics and the audit log, without tracing.
func newTelemetry(opts Options) (*Telemetry, error) {
	t := &Telemetry{log: opts.Logger, clients: clientLabels{max: opts.MaxClients},
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if opts.AuditWriter != nil {
		w := opts.AuditWriter
		if opts.AuditFlushInterval > 0 && opts.AuditBufferBytes > 0 {
			t.auditBatch = newAuditBatch(w, opts.AuditFlushInterval, opts.AuditBufferBytes)
			w = t.auditBatch
		}
		t.auditW = &auditWriter{w: w}
	}
	if err := t.initMetrics(); err != nil {
		return nil, err
	}
	t.tracer = noop.NewTracerProvider().Tracer("callfix")
	return t, nil
}

// New builds telemetry from opts and the OTEL_* environment. What callfix
// decides itself: OTEL_SDK_DISABLED=true turns tracing off (the Go SDK
// does not read it), no endpoint at all means no exporter, the protocol
// picks the exporter, and Options override the variables they name; the
// exporter and the SDK read the rest of the environment.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	t, err := newTelemetry(opts)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return t, nil
	}
	ep, configured := exporterEndpoint(opts.Endpoint)
	if !configured && opts.spanProcessor == nil {
		return t, nil // no exporter: spans are never even built
	}

	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (WithFromEnv) override
	// the default name; Options override both.
	attrs := []attribute.KeyValue{semconv.ServiceVersion(opts.Version)}
	if opts.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(opts.ServiceName))
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("callfix")),
		resource.WithFromEnv(), resource.WithAttributes(attrs...))
	if err != nil && res == nil {
		return nil, fmt.Errorf("building the trace resource: %w", err)
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if os.Getenv("OTEL_TRACES_SAMPLER") == "" {
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))))
	}
	if configured {
		// Exporter errors (an unreachable collector) go to callfix's log, not
		// to the standard logger. The handler is process-wide in OpenTelemetry.
		log := t.log
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("telemetry export failed; spans are dropped, requests are not affected", "error", err.Error())
		}))
		otel.SetLogger(logr.New(otelLog{log: log}))
		exp, err := newExporter(ctx, ep, opts)
		if err != nil {
			return nil, err
		}
		// Bounded queue, never blocking a request: when the collector is
		// slow or gone, spans are dropped, not requests.
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp,
			sdktrace.WithMaxQueueSize(4096), sdktrace.WithMaxExportBatchSize(512),
			sdktrace.WithBatchTimeout(2*time.Second), sdktrace.WithExportTimeout(10*time.Second)))
	}
	if opts.spanProcessor != nil {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(opts.spanProcessor))
	}
	t.tp = sdktrace.NewTracerProvider(tpOpts...)
	t.tracer = t.tp.Tracer("github.com/callfix/callfix")
	t.tracing = true
	return t, nil
}

// exporterEndpoint returns the endpoint configured, if any: tracing.endpoint,
// else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT.
func exporterEndpoint(configured string) (endpoint, bool) {
	if configured != "" {
		return endpoint{url: configured, give: true}, true
	}
	for _, v := range []struct {
		name  string
		exact bool
	}{{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true}, {"OTEL_EXPORTER_OTLP_ENDPOINT", false}} {
		if s := strings.TrimSpace(os.Getenv(v.name)); s != "" {
			// The exporter cannot parse host:port, and would append
			// /v1/traces to a base endpoint that already ends in it (a
			// common way to write it, which callfix has always taken):
			// callfix hands both over itself.
			give := !strings.Contains(s, "://") || !v.exact && strings.HasSuffix(strings.TrimSuffix(s, "/"), "/v1/traces")
			return endpoint{url: s, exact: v.exact, give: give}, true
		}
	}
	return endpoint{}, false
}

// endpoint is where spans go. give says whether callfix hands url to the
// exporter: the configured one (tracing.endpoint), or a variable the
// exporter cannot parse because it has no scheme (host:port, as
// tracing.endpoint may be); otherwise the exporter reads the variables
// itself. A base endpoint gets /v1/traces added for http/protobuf, a
// signal-specific variable (exact) is used as it is (OTLP exporter
// specification).
type endpoint struct {
	url         string
	exact, give bool
}

func newExporter(ctx context.Context, e endpoint, opts Options) (sdktrace.SpanExporter, error) {
	protocol := opts.Protocol
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	}
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol == "" {
		protocol = "http/protobuf"
	}
	if !strings.Contains(e.url, "://") {
		e.url = "http://" + e.url
	}
	if _, err := url.Parse(e.url); err != nil {
		return nil, fmt.Errorf("tracing endpoint %q is not a URL", e.url)
	}
	switch protocol {
	case "grpc":
		var o []otlptracegrpc.Option
		if e.give {
			o = append(o, otlptracegrpc.WithEndpointURL(e.url))
		}
		if len(opts.Headers) > 0 {
			o = append(o, otlptracegrpc.WithHeaders(opts.Headers))
		}
		return otlptracegrpc.New(ctx, o...)
	case "http/protobuf":
		var o []otlptracehttp.Option
		if e.give {
			if !e.exact && !strings.HasSuffix(strings.TrimSuffix(e.url, "/"), "/v1/traces") {
				e.url = strings.TrimSuffix(e.url, "/") + "/v1/traces"
			}
			o = append(o, otlptracehttp.WithEndpointURL(e.url))
		}
		if len(opts.Headers) > 0 {
			o = append(o, otlptracehttp.WithHeaders(opts.Headers))
		}
		return otlptracehttp.New(ctx, o...)
	}
	return nil, fmt.Errorf("OTLP protocol %q is not supported: use grpc or http/protobuf", protocol)
}

func (t *Telemetry) initMetrics() error {
	t.registry = prometheus.NewRegistry()
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return fmt.Errorf("building the Prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m := t.mp.Meter("github.com/callfix/callfix")
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	t.requests = counter("callfix_requests", "Requests handled, by route (rule, or passthrough), outcome and status class.")
	t.rewrites = counter("callfix_rewrites", "Values repaired, by route, field and kind (phone, user).")
	t.rejects = counter("callfix_rejects", "Values that made enforce mode answer 400, by route, field and reason.")
	t.problems = counter("callfix_problems", "Values that could not be repaired, in any mode, by route, field and reason.")
	t.reloads = counter("callfix_config_reloads", "Configuration reloads, by result (success, failure).")
	t.kept = counter("callfix_kept", "Values kept on purpose and forwarded as sent, by reason (emergency, short_code, extension, network_address, operator_pattern).")
	t.countryLookups = counter("callfix_country_lookups", "Lookups of an organisation's country (country: auto), by result: success, or the failure (timeout, error, status, invalid) after which the configured country was used.")
	h, err := m.Float64Histogram("callfix_upstream_request_duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a request upstream to its response headers, by upstream (api, login) and status class."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	errs = append(errs, err)
	t.upstreamDuration = h
	// As vmauth does: whether the last reload was applied, and when the
	// running configuration was (start-up counts), so an alert can see a
	// bad file that never replaced the good one.
	t.lastReloadAt.Store(time.Now().Unix())
	t.lastReloadOK.Store(true)
	okGauge, err := m.Int64ObservableGauge("callfix_config_last_reload_successful",
		metric.WithDescription("1 when the last configuration reload was applied (or none was tried since start), 0 when it was refused."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			v := int64(0)
			if t.lastReloadOK.Load() {
				v = 1
			}
			o.Observe(v)
			return nil
		}))
	errs = append(errs, err)
	atGauge, err := m.Int64ObservableGauge("callfix_config_last_reload_success_timestamp_seconds",
		metric.WithDescription("Unix time at which the running configuration was loaded: at start-up or by the last applied reload."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(t.lastReloadAt.Load())
			return nil
		}))
	errs = append(errs, err)
	_, _ = okGauge, atGauge
	// Reload counters exist from the start, so a dashboard sees 0, not nothing.
	for _, r := range []string{"success", "failure"} {
		t.reloads.Add(context.Background(), 0, metric.WithAttributes(attribute.String("result", r)))
	}
	// So do the kept and lookup counters: their label values are few.
	for _, k := range rewrite.KeepReasons() {
		for int(k) >= len(t.keptSets) {
			t.keptSets = append(t.keptSets, nil)
		}
		t.keptSets[k] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", k.Code())))}
		t.kept.Add(context.Background(), 0, t.keptSets[k]...)
	}
	t.lookupSets = map[string][]metric.AddOption{}
	for _, r := range CountryLookupResults {
		t.lookupSets[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))}
		t.countryLookups.Add(context.Background(), 0, t.lookupSets[r]...)
	}
	for c := range t.passSets {
		t.passSets[c] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("route", "passthrough"), attribute.String("outcome", "passthrough"), attribute.String("status_class", statusClass(c*100))))}
	}
	return errors.Join(errs...)
}

// statusClass returns 1xx..5xx, or "error" for 0 (no response).
func statusClass(status int) string {
	switch {
	case status >= 100 && status < 600:
		return string(rune('0'+status/100)) + "xx"
	}
	return "error"
}

func classIndex(status int) int {
	if status >= 100 && status < 600 {
		return status / 100
	}
	return 0
}

// MetricsHandler serves the Prometheus text exposition. It is a net/http
// handler: the admin server adapts it to its own (telemetry knows no
// server).
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Tracing reports whether spans are recorded at all.
func (t *Telemetry) Tracing() bool { return t.tracing }

// Tracer returns the tracer (a no-op one when tracing is off).
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Propagator returns the W3C trace-context propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.propagator }

// ConfigReloaded counts a reload attempt.
func (t *Telemetry) ConfigReloaded(ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	t.reloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", result)))
	t.lastReloadOK.Store(ok)
	if ok {
		t.lastReloadAt.Store(time.Now().Unix())
	}
}

// The results of a country lookup (callfix_country_lookups_total): the
// organisation's country was learnt, or the lookup timed out
// (country_lookup.timeout), could not reach Genesys or got no HTTP answer,
// got a status other than 2xx, or got an answer without a known
// defaultCountryCode.
const (
	LookupSuccess = "success"
	LookupTimeout = "timeout"
	LookupError   = "error"
	LookupStatus  = "status"
	LookupInvalid = "invalid"
)

// CountryLookupResults lists the results of a country lookup.
var CountryLookupResults = []string{LookupSuccess, LookupTimeout, LookupError, LookupStatus, LookupInvalid}

// CountryLookup counts a lookup of an organisation's country by its result,
// one of CountryLookupResults.
func (t *Telemetry) CountryLookup(result string) {
	if opts, ok := t.lookupSets[result]; ok {
		t.countryLookups.Add(context.Background(), 1, opts...)
	}
}

// Upstream is the label handle of one upstream: its value of the upstream
// label of callfix_upstream_request_duration_seconds, with the option
// slices of every status class built once. The zero Upstream records no
// upstream duration.
type Upstream struct {
	dur *[6][]metric.RecordOption
}

// Upstream returns the handle of the upstream called name (the caller's
// own, bounded, set of names: callfix has api and login). The first call
// for a name builds it, later ones return the same handle; a caller keeps
// it (the proxy on each upstream it builds), so no request looks it up.
func (t *Telemetry) Upstream(name string) Upstream {
	t.upMu.Lock()
	defer t.upMu.Unlock()
	if u, ok := t.upstreams[name]; ok {
		return u
	}
	u := Upstream{dur: new([6][]metric.RecordOption)}
	for c := range u.dur {
		u.dur[c] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("upstream", name), attribute.String("status_class", statusClass(c*100))))}
	}
	if t.upstreams == nil {
		t.upstreams = map[string]Upstream{}
	}
	t.upstreams[name] = u
	return u
}

// recordUpstream records the duration of an exchange with upstream u
// that got status; 0 (no answer) records nothing.
func (t *Telemetry) recordUpstream(ctx context.Context, u Upstream, status int, d time.Duration) {
	if status != 0 && u.dur != nil {
		t.upstreamDuration.Record(ctx, d.Seconds(), u.dur[classIndex(status)]...)
	}
}

// Passthrough counts a request that was not intercepted, sent to upstream
// u, which answered status (0: no answer) after upstreamDur. It does not
// allocate.
func (t *Telemetry) Passthrough(u Upstream, status int, upstreamDur time.Duration) {
	ctx := context.Background()
	t.requests.Add(ctx, 1, t.passSets[classIndex(status)]...)
	t.recordUpstream(ctx, u, status, upstreamDur)
}

// CloseAudit writes the audit records still buffered; records after it
// are written at once. Safe to call more than once, and without an audit
// log.
func (t *Telemetry) CloseAudit() {
	if t.auditBatch != nil {
		t.auditBatch.Close()
	}
}

// Shutdown writes the audit records still buffered, flushes spans and
// stops the providers, within ctx.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.CloseAudit()
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	errs = append(errs, t.mp.Shutdown(ctx))
	return errors.Join(errs...)
}
