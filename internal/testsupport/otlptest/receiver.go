package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TracesPath is where OTLP/HTTP exporters send spans. The receiver accepts
// any path that ends with it, so that a base endpoint with a path prefix
// (http://host:4318/otlp → /otlp/v1/traces) can be tested too; Exports
// records the path each export came to.
const TracesPath = "/v1/traces"

// MaxBody bounds an export request's body, compressed or decoded.
const MaxBody = 32 << 20

// Kind is a span's kind, as the OTLP wire format numbers it.
type Kind int32

// The span kinds of OTLP.
const (
	KindUnspecified Kind = Kind(tracepb.Span_SPAN_KIND_UNSPECIFIED)
	KindInternal    Kind = Kind(tracepb.Span_SPAN_KIND_INTERNAL)
	KindServer      Kind = Kind(tracepb.Span_SPAN_KIND_SERVER)
	KindClient      Kind = Kind(tracepb.Span_SPAN_KIND_CLIENT)
	KindProducer    Kind = Kind(tracepb.Span_SPAN_KIND_PRODUCER)
	KindConsumer    Kind = Kind(tracepb.Span_SPAN_KIND_CONSUMER)
)

// String returns server, client, internal, producer, consumer or
// unspecified.
func (k Kind) String() string {
	switch k {
	case KindUnspecified:
		return "unspecified"
	case KindInternal:
		return "internal"
	case KindServer:
		return "server"
	case KindClient:
		return "client"
	case KindProducer:
		return "producer"
	case KindConsumer:
		return "consumer"
	}
	return fmt.Sprintf("Kind(%d)", int32(k))
}

// Attrs are attributes by key. Values are string, bool, int64, float64,
// []byte, []any (an array) or map[string]any (a key-value list).
type Attrs map[string]any

// Str returns the string value of key, "" when it is absent or not a
// string.
func (a Attrs) Str(key string) string {
	s, _ := a[key].(string)
	return s
}

// Int returns the integer value of key, and whether it is an integer.
func (a Attrs) Int(key string) (int64, bool) {
	n, ok := a[key].(int64)
	return n, ok
}

// Has reports whether key is present.
func (a Attrs) Has(key string) bool {
	_, ok := a[key]
	return ok
}

// Keys returns the keys, sorted.
func (a Attrs) Keys() []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Event is a span event.
type Event struct {
	Name  string
	Time  time.Time
	Attrs Attrs
}

// Link is a span link.
type Link struct {
	TraceID, SpanID string
	Attrs           Attrs
}

// Span is one span as it arrived, flattened. IDs are lower-case hex, as in
// a traceparent header.
type Span struct {
	TraceID, SpanID string
	// ParentSpanID is "" for a root span.
	ParentSpanID string
	TraceState   string
	Flags        uint32
	Name         string
	Kind         Kind
	Start, End   time.Time
	Attrs        Attrs
	Events       []Event
	Links        []Link
	// StatusCode is unset, ok or error.
	StatusCode    string
	StatusMessage string

	DroppedAttrs, DroppedEvents, DroppedLinks uint32

	// Resource holds the resource's attributes (service.name ...).
	Resource Attrs
	// Scope and ScopeVersion name the instrumentation scope (the tracer).
	Scope, ScopeVersion string
	// Export numbers the export request that carried the span, from 1.
	Export int
}

// EventsNamed returns the span's events called name, in order.
func (s *Span) EventsNamed(name string) []Event {
	var out []Event
	for _, e := range s.Events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// Texts returns every string the span carries to a backend: its name, status
// message, trace state, and the string values (also inside arrays and
// lists) of its attributes, its events' attributes, its links' attributes,
// and its resource. Tests scan them for what must never leave the process.
func (s *Span) Texts() []string {
	out := []string{s.Name, s.StatusMessage, s.TraceState}
	out = appendTexts(out, s.Attrs)
	out = appendTexts(out, s.Resource)
	for _, e := range s.Events {
		out = append(out, e.Name)
		out = appendTexts(out, e.Attrs)
	}
	for _, l := range s.Links {
		out = appendTexts(out, l.Attrs)
	}
	return out
}

func appendTexts(out []string, a Attrs) []string {
	for _, k := range a.Keys() {
		out = append(out, k)
		out = appendValueTexts(out, a[k])
	}
	return out
}

func appendValueTexts(out []string, v any) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []byte:
		out = append(out, string(v))
	case []any:
		for _, e := range v {
			out = appendValueTexts(out, e)
		}
	case map[string]any:
		out = appendTexts(out, Attrs(v))
	}
	return out
}

// Export describes one export request the receiver accepted.
type Export struct {
	Path            string
	ContentType     string
	ContentEncoding string
	// Header is the request's header (exporters send Options.Headers here).
	Header http.Header
	// Spans counts the spans it carried.
	Spans int
}

// Refusal is a request the receiver answered with an error.
type Refusal struct {
	Method, Path string
	Status       int
	Reason       string
}

// Receiver is a running OTLP/HTTP trace receiver.
type Receiver struct {
	// URL is the base endpoint, http://127.0.0.1:PORT: give it to an
	// exporter as OTEL_EXPORTER_OTLP_ENDPOINT, which appends /v1/traces.
	URL string
	// TracesURL is URL + /v1/traces, the per-signal endpoint.
	TracesURL string
	// Addr is 127.0.0.1:PORT.
	Addr string

	srv    *http.Server
	served chan struct{}

	mu       sync.Mutex
	spans    []Span
	exports  []Export
	refusals []Refusal
	status   int
	arrived  chan struct{} // closed and replaced whenever something arrives
	closed   bool
}

// Start runs a receiver on a loopback port until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Listen runs a receiver on a loopback port; Close stops it.
func Listen() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("otlptest: cannot listen on loopback: %w", err)
	}
	r := &Receiver{Addr: ln.Addr().String(), served: make(chan struct{}), arrived: make(chan struct{})}
	r.URL = "http://" + r.Addr
	r.TracesURL = r.URL + TracesPath
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// Close stops the receiver and closes every connection. Spans received
// stay readable. It may be called more than once.
func (r *Receiver) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.mu.Unlock()
	_ = r.srv.Close()
	<-r.served
}

// SetStatus makes the receiver answer every later export with status
// (and keep none of its spans); 0 or 200 restores normal service.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// Spans returns a copy of every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Len returns how many spans have arrived.
func (r *Receiver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spans)
}

// Exports returns the accepted export requests, in order.
func (r *Receiver) Exports() []Export {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Export(nil), r.exports...)
}

// Refusals returns the requests answered with an error, in order.
func (r *Receiver) Refusals() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refusal(nil), r.refusals...)
}

// Reset forgets every span, export and refusal.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans, r.exports, r.refusals = nil, nil, nil
}

// WaitSpans waits until at least n spans have arrived or d passes. It
// returns the spans so far and whether there were n.
func (r *Receiver) WaitSpans(n int, d time.Duration) ([]Span, bool) {
	return r.WaitFor(func(s []Span) bool { return len(s) >= n }, d)
}

// WaitFor waits until cond holds for the spans received so far, or d
// passes. It returns the spans and whether cond held. cond must not keep
// the slice.
func (r *Receiver) WaitFor(cond func([]Span) bool, d time.Duration) ([]Span, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.mu.Lock()
		spans := append([]Span(nil), r.spans...)
		ch := r.arrived
		r.mu.Unlock()
		if cond(spans) {
			return spans, true
		}
		select {
		case <-ch:
		case <-timer.C:
			spans := r.Spans()
			return spans, cond(spans)
		}
	}
}

// ByName returns the spans called name, in arrival order.
func (r *Receiver) ByName(name string) []Span { return ByName(r.Spans(), name) }

// Find returns the first span called name.
func (r *Receiver) Find(name string) (Span, bool) {
	s := r.ByName(name)
	if len(s) == 0 {
		return Span{}, false
	}
	return s[0], true
}

// Trace returns the spans of the trace with this ID (hex), in arrival
// order.
func (r *Receiver) Trace(traceID string) []Span { return ByTrace(r.Spans(), traceID) }

// ByName returns the spans in spans called name.
func ByName(spans []Span, name string) []Span {
	return filter(spans, func(s *Span) bool { return s.Name == name })
}

// ByTrace returns the spans in spans of the trace with this ID (hex).
func ByTrace(spans []Span, traceID string) []Span {
	return filter(spans, func(s *Span) bool { return s.TraceID == traceID })
}

// Children returns the spans in spans whose parent is parent.
func Children(spans []Span, parent Span) []Span {
	return filter(spans, func(s *Span) bool {
		return s.TraceID == parent.TraceID && s.ParentSpanID == parent.SpanID && s.SpanID != parent.SpanID
	})
}

// filter returns the spans for which keep is true, in their order (nil
// when none is).
func filter(spans []Span, keep func(*Span) bool) []Span {
	var out []Span
	for i := range spans {
		if keep(&spans[i]) {
			out = append(out, spans[i])
		}
	}
	return out
}

// GroupByTrace returns the spans by trace ID.
func GroupByTrace(spans []Span) map[string][]Span {
	m := map[string][]Span{}
	for _, s := range spans {
		m[s.TraceID] = append(m[s.TraceID], s)
	}
	return m
}

// ServeHTTP handles one export request.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	refuse := func(status int, reason string) {
		r.mu.Lock()
		r.refusals = append(r.refusals, Refusal{Method: req.Method, Path: req.URL.Path, Status: status, Reason: reason})
		r.notifyLocked()
		r.mu.Unlock()
		http.Error(w, reason, status)
	}
	if !strings.HasSuffix(req.URL.Path, TracesPath) {
		refuse(http.StatusNotFound, "no such path: traces go to .../v1/traces")
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "use POST")
		return
	}
	ct, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-protobuf" {
		refuse(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: only application/x-protobuf is supported", req.Header.Get("Content-Type")))
		return
	}
	var body io.Reader = io.LimitReader(req.Body, MaxBody+1)
	enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			refuse(http.StatusBadRequest, "the body is not gzip: "+err.Error())
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, MaxBody+1)
	default:
		refuse(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: only gzip is supported", enc))
		return
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		refuse(http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(raw) > MaxBody {
		refuse(http.StatusRequestEntityTooLarge, "the body is larger than otlptest.MaxBody")
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		refuse(http.StatusBadRequest, "the body is not an ExportTraceServiceRequest: "+err.Error())
		return
	}

	r.mu.Lock()
	if r.status != 0 && r.status != http.StatusOK {
		status := r.status
		r.mu.Unlock()
		refuse(status, "refused by SetStatus")
		return
	}
	n := len(r.exports) + 1
	spans := convert(&msg, n)
	r.exports = append(r.exports, Export{Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"),
		ContentEncoding: req.Header.Get("Content-Encoding"), Header: req.Header.Clone(), Spans: len(spans)})
	r.spans = append(r.spans, spans...)
	r.notifyLocked()
	r.mu.Unlock()

	out, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func (r *Receiver) notifyLocked() {
	close(r.arrived)
	r.arrived = make(chan struct{})
}

// Decode turns an ExportTraceServiceRequest body (uncompressed protobuf)
// into spans, as the receiver would.
func Decode(body []byte) ([]Span, error) {
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &msg); err != nil {
		return nil, err
	}
	return convert(&msg, 0), nil
}

func convert(msg *coltracepb.ExportTraceServiceRequest, export int) []Span {
	var out []Span
	for _, rs := range msg.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			scope, version := ss.GetScope().GetName(), ss.GetScope().GetVersion()
			for _, sp := range ss.GetSpans() {
				s := Span{
					TraceID:       hexID(sp.GetTraceId()),
					SpanID:        hexID(sp.GetSpanId()),
					ParentSpanID:  hexID(sp.GetParentSpanId()),
					TraceState:    sp.GetTraceState(),
					Flags:         sp.GetFlags(),
					Name:          sp.GetName(),
					Kind:          Kind(sp.GetKind()),
					Start:         unixNano(sp.GetStartTimeUnixNano()),
					End:           unixNano(sp.GetEndTimeUnixNano()),
					Attrs:         attrs(sp.GetAttributes()),
					StatusCode:    statusCode(sp.GetStatus().GetCode()),
					StatusMessage: sp.GetStatus().GetMessage(),
					DroppedAttrs:  sp.GetDroppedAttributesCount(),
					DroppedEvents: sp.GetDroppedEventsCount(),
					DroppedLinks:  sp.GetDroppedLinksCount(),
					Resource:      res,
					Scope:         scope,
					ScopeVersion:  version,
					Export:        export,
				}
				for _, e := range sp.GetEvents() {
					s.Events = append(s.Events, Event{Name: e.GetName(), Time: unixNano(e.GetTimeUnixNano()), Attrs: attrs(e.GetAttributes())})
				}
				for _, l := range sp.GetLinks() {
					s.Links = append(s.Links, Link{TraceID: hexID(l.GetTraceId()), SpanID: hexID(l.GetSpanId()), Attrs: attrs(l.GetAttributes())})
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func hexID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return hex.EncodeToString(b)
}

func unixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

func statusCode(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

func attrs(kvs []*commonpb.KeyValue) Attrs {
	a := make(Attrs, len(kvs))
	for _, kv := range kvs {
		a[kv.GetKey()] = value(kv.GetValue())
	}
	return a
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return map[string]any(attrs(x.KvlistValue.GetValues()))
	case nil:
		return nil
	}
	return fmt.Sprintf("%v", v.GetValue())
}
