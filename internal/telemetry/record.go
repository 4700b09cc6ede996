package telemetry

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/rewrite"
)

// Record describes one intercepted request once it was answered. It holds
// copies only: nothing in it refers to a request's buffers, so it may
// outlive the handler.
type Record struct {
	RequestID string
	Route     string // the rule's method and path template
	Mode      rewrite.Mode
	Outcome   rewrite.Outcome
	Country   string
	// CountryOrigin says where Country came from, for the messages of
	// problems that depend on it (rewrite.Problem.MessageFrom).
	CountryOrigin string
	Changes       []rewrite.Change
	Problems      []rewrite.Problem
	// Kept are the values forwarded as sent on purpose (emergency numbers,
	// short codes, extensions, network addresses, operator patterns).
	Kept    []rewrite.Kept
	Skipped rewrite.Skip
	// Status is what the client got; Upstream what the upstream answered
	// (0 when it was not reached).
	Status, Upstream int
	// UpstreamLabel is the upstream the request was sent to
	// (Telemetry.Upstream), for callfix_upstream_request_duration_seconds;
	// the zero Upstream records no duration.
	UpstreamLabel Upstream
	// Start is when the request arrived; RewriteStart and RewriteEnd
	// bracket the engine's work; UpstreamDur is the upstream exchange.
	Start, RewriteStart, RewriteEnd time.Time
	UpstreamDur                     time.Duration
	Duration                        time.Duration
	// Mask is the masking policy in force for this request.
	Mask Masker
	// MaxListed, when above 0, is the most changes and problems the audit
	// record and the span events list (limits.max_details); the audit
	// record then counts them all. Changes and Problems hold them all.
	MaxListed int
	// Client is who sent the request (docs/AUDIT.md, client identity).
	Client Client
}

// listed returns how many of n changes or problems a record lists.
func (r *Record) listed(n int) int {
	if r.MaxListed > 0 && n > r.MaxListed {
		return r.MaxListed
	}
	return n
}

// Attribute and event names of the telemetry contract (docs/ARCHITECTURE.md).
const (
	SpanRewrite   = "callfix.rewrite"
	EventChange   = "callfix.change"
	AttrMode      = "callfix.mode"
	AttrRoute     = "callfix.route"
	AttrOutcome   = "callfix.outcome"
	AttrChanges   = "callfix.changes"
	AttrProblems  = "callfix.problems"
	AttrField     = "callfix.field"
	AttrKind      = "callfix.kind"
	AttrFrom      = "callfix.from"
	AttrTo        = "callfix.to"
	AttrCountry   = "callfix.country"
	AttrRequestID = "callfix.request_id"
	EventProblem  = "callfix.problem"
	EventKept     = "callfix.kept"
	AttrReason    = "callfix.reason"
	AttrValue     = "callfix.value"
	AttrSkipped   = "callfix.skipped"
)

// RecordRewriteSpan adds the callfix.rewrite span under the server span in
// ctx, with one callfix.change event per change (values masked), one
// callfix.problem event per problem and one callfix.kept event per value
// kept on purpose.
func (t *Telemetry) RecordRewriteSpan(ctx context.Context, r *Record) {
	if !t.tracing {
		return
	}
	_, span := t.tracer.Start(ctx, SpanRewrite, trace.WithTimestamp(r.RewriteStart), trace.WithSpanKind(trace.SpanKindInternal))
	span.SetAttributes(
		attribute.String(AttrMode, r.Mode.String()),
		attribute.String(AttrRoute, r.Route),
		attribute.String(AttrOutcome, string(r.Outcome)),
		attribute.Int(AttrChanges, len(r.Changes)),
		attribute.Int(AttrProblems, len(r.Problems)),
	)
	if r.Skipped != rewrite.SkipNone {
		span.SetAttributes(attribute.String(AttrSkipped, r.Skipped.String()))
	}
	r.Client.setSpanAttributes(span)
	for _, c := range r.Changes[:r.listed(len(r.Changes))] {
		span.AddEvent(EventChange, trace.WithTimestamp(r.RewriteEnd), trace.WithAttributes(
			attribute.String(AttrField, c.Path),
			attribute.String(AttrKind, c.Kind.String()),
			attribute.String(AttrFrom, r.Mask.Mask(c.From)),
			attribute.String(AttrTo, r.Mask.Mask(c.To)),
			attribute.String(AttrCountry, c.Country),
		))
	}
	for _, p := range r.Problems[:r.listed(len(r.Problems))] {
		span.AddEvent(EventProblem, trace.WithTimestamp(r.RewriteEnd), trace.WithAttributes(
			attribute.String(AttrField, p.Path),
			attribute.String(AttrReason, p.Reason.Code()),
			attribute.String(AttrFrom, r.Mask.Mask(p.Value)),
			attribute.String(AttrCountry, p.Country),
		))
	}
	for _, k := range r.Kept[:r.listed(len(r.Kept))] {
		span.AddEvent(EventKept, trace.WithTimestamp(r.RewriteEnd), trace.WithAttributes(
			attribute.String(AttrField, k.Path),
			attribute.String(AttrReason, k.Reason.Code()),
			attribute.String(AttrValue, r.Mask.Mask(k.Value)),
		))
	}
	if r.Outcome == rewrite.OutcomeRejected {
		span.SetStatus(codes.Error, "address cannot be repaired")
	}
	span.End(trace.WithTimestamp(r.RewriteEnd))
}

// Intercepted counts an intercepted request in the metrics and writes its
// audit record.
func (t *Telemetry) Intercepted(ctx context.Context, r *Record) {
	// The client label is there only for requests with an identity, so
	// that series of requests without one keep the labels they always had.
	client, clientKey := t.clients.label(r), "client"
	if client == "" {
		clientKey = ""
	}
	t.requests.Add(ctx, 1, t.addOpts(labelKey{"route", r.Route, "outcome", string(r.Outcome), "status_class", statusClass(r.Status)})...)
	for _, c := range r.Changes {
		t.rewrites.Add(ctx, 1, t.addOpts(labelKey{"route", r.Route, "field", template(c.Path), "kind", c.Kind.String(), clientKey, client})...)
	}
	for _, p := range r.Problems {
		opts := t.addOpts(labelKey{"route", r.Route, "field", template(p.Path), "reason", p.Reason.Code(), clientKey, client})
		t.problems.Add(ctx, 1, opts...)
		if r.Outcome == rewrite.OutcomeRejected {
			t.rejects.Add(ctx, 1, opts...)
		}
	}
	for _, k := range r.Kept {
		if int(k.Reason) < len(t.keptSets) && t.keptSets[k.Reason] != nil {
			t.kept.Add(ctx, 1, t.keptSets[k.Reason]...)
		}
	}
	t.recordUpstream(ctx, r.UpstreamLabel, r.Upstream, r.UpstreamDur)
	if t.auditW != nil {
		sc := trace.SpanContextFromContext(ctx)
		t.auditW.write(sc.TraceID(), sc.HasTraceID(), r, time.Now())
	}
}

// labelKey names up to four label pairs (a pair with an empty name is
// left out). Every value is bounded (route and field templates from the
// rules, outcomes, kinds, reasons, status classes, metrics.max_clients
// clients), so the cache of option slices stays small, and a request's
// metrics cost map lookups instead of attribute sets built and thrown away.
type labelKey [8]string

func (t *Telemetry) addOpts(k labelKey) []metric.AddOption {
	if v, ok := t.optCache.Load(k); ok {
		return v.([]metric.AddOption)
	}
	kvs := make([]attribute.KeyValue, 0, 4)
	for i := 0; i < len(k); i += 2 {
		if k[i] != "" {
			kvs = append(kvs, attribute.String(k[i], k[i+1]))
		}
	}
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
	t.optCache.Store(k, opts)
	return opts
}

// template removes array indexes from a change path: participants[1].address
// → participants[].address, a bounded label value.
func template(path string) string {
	if !strings.Contains(path, "[") {
		return path
	}
	var b strings.Builder
	skip := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '[':
			skip = true
			b.WriteByte(c)
		case c == ']':
			skip = false
			b.WriteByte(c)
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}
