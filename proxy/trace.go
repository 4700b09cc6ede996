package proxy

import (
	"bytes"
	"context"
	"net"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traceHeaders are the W3C trace-context headers sent upstream in place of
// the client's.
type traceHeaders struct {
	traceparent, tracestate string
}

func (h *traceHeaders) Get(key string) string {
	switch key {
	case "traceparent":
		return h.traceparent
	case "tracestate":
		return h.tracestate
	}
	return ""
}

func (h *traceHeaders) Set(key, value string) {
	switch key {
	case "traceparent":
		h.traceparent = value
	case "tracestate":
		h.tracestate = value
	}
}

func (h *traceHeaders) Keys() []string { return []string{"traceparent", "tracestate"} }

// requestCarrier reads the client's headers for the propagator, names
// without regard to case, values copied.
type requestCarrier struct{ raw []byte }

func (c requestCarrier) Get(key string) string {
	it := headerIter{raw: c.raw}
	for it.next() {
		if bytes.EqualFold(it.key, []byte(key)) {
			return string(it.value)
		}
	}
	return ""
}

func (c requestCarrier) Set(string, string) {}
func (c requestCarrier) Keys() []string     { return nil }

// startServerSpan continues the client's trace (if any) with a server
// span named name: the route template, never the raw path.
func (s *Server) startServerSpan(ctx *fasthttp.RequestCtx, name, route string, path []byte) (context.Context, trace.Span) {
	parent := s.tel.Propagator().Extract(context.Background(), requestCarrier{raw: ctx.Request.Header.RawHeaders()})
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(string(ctx.Method())),
		semconv.URLPath(string(path)),
		semconv.NetworkProtocolVersion("1.1"),
		semconv.ClientAddress(ipString(ctx.RemoteIP())),
	}
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	return s.tel.Tracer().Start(parent, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// startClientSpan starts the span of the upstream call and returns the
// trace headers that carry it upstream.
func (s *Server) startClientSpan(parent context.Context, ctx *fasthttp.RequestCtx, up *upstream) (trace.Span, *traceHeaders) {
	cctx, span := s.tel.Tracer().Start(parent, string(ctx.Method()), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(string(ctx.Method())),
			semconv.ServerAddress(string(up.host)),
			attribute.String("callfix.upstream", up.name),
		))
	h := &traceHeaders{}
	s.tel.Propagator().Inject(cctx, h)
	return span, h
}

func endWithStatus(span trace.Span, status int) {
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if status == 0 || status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// tracedPassthrough is the pass-through path with spans
// (tracing.passthrough).
func (s *Server) tracedPassthrough(ctx *fasthttp.RequestCtx, h *head, o *outbound) int {
	sctx, server := s.startServerSpan(ctx, string(ctx.Method()), "", h.path)
	client, inj := s.startClientSpan(sctx, ctx, h.up)
	o.trace = inj
	start := time.Now()
	status := s.send(ctx, h, o)
	endWithStatus(client, status)
	s.tel.Passthrough(h.up.label, status, time.Since(start))
	endWithStatus(server, ctx.Response.StatusCode())
	return status
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}
