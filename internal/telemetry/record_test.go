package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/rewrite"
)

// tracing returns telemetry that records every span in memory, and the
// recorder.
func tracing(t testing.TB, opts telemetry.Options) (*telemetry.Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	opts = telemetry.WithSpanProcessor(opts, rec)
	opts.SampleRatio = 1
	tel := newTel(t, opts)
	if !tel.Tracing() {
		t.Fatalf("Tracing() = false with a span processor")
	}
	return tel, rec
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func keys[V any](m map[string]V) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

func ended(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// The callfix.rewrite span of the telemetry contract: under the server span, the
// attributes, one event per change and per problem, values masked, times
// from the record.
func TestRecordRewriteSpan_AttributesAndEvents(t *testing.T) {
	tel, rec := tracing(t, telemetry.Options{})
	ctx, server := tel.Tracer().Start(context.Background(), "POST /api/v2/conversations/calls", trace.WithSpanKind(trace.SpanKindServer))
	r := sampleRecord()
	r.Problems = []rewrite.Problem{{Path: "participants[2].address", Value: "(555) 01", Reason: rewrite.ReasonTooShort, Country: "US"}}
	r.Mode, r.Outcome = rewrite.ModeRewrite, rewrite.OutcomeRewritten
	tel.RecordRewriteSpan(ctx, r)
	server.End()

	spans := ended(rec, telemetry.SpanRewrite)
	if len(spans) != 1 {
		t.Fatalf("%d %s spans, want 1", len(spans), telemetry.SpanRewrite)
	}
	s := spans[0]
	if s.Parent().SpanID() != server.SpanContext().SpanID() || s.SpanContext().TraceID() != server.SpanContext().TraceID() {
		t.Errorf("the rewrite span's parent is %s, want the server span %s", s.Parent().SpanID(), server.SpanContext().SpanID())
	}
	if s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("kind = %v, want internal", s.SpanKind())
	}
	if !s.StartTime().Equal(r.RewriteStart) || !s.EndTime().Equal(r.RewriteEnd) {
		t.Errorf("times %v..%v, want the record's %v..%v", s.StartTime(), s.EndTime(), r.RewriteStart, r.RewriteEnd)
	}
	a := attrMap(s.Attributes())
	if got, want := keys(a), "callfix.changes,callfix.mode,callfix.outcome,callfix.problems,callfix.route"; got != want {
		t.Errorf("attributes %s, want %s", got, want)
	}
	if a[telemetry.AttrMode].AsString() != "rewrite" || a[telemetry.AttrRoute].AsString() != "POST /api/v2/conversations/calls" ||
		a[telemetry.AttrOutcome].AsString() != "rewritten" {
		t.Errorf("mode, route, outcome = %v, %v, %v", a[telemetry.AttrMode].String(), a[telemetry.AttrRoute].String(), a[telemetry.AttrOutcome].String())
	}
	if a[telemetry.AttrChanges].Type() != attribute.INT64 || a[telemetry.AttrChanges].AsInt64() != 2 ||
		a[telemetry.AttrProblems].Type() != attribute.INT64 || a[telemetry.AttrProblems].AsInt64() != 1 {
		t.Errorf("changes, problems = %v (%v), %v (%v), want ints 2, 1", a[telemetry.AttrChanges].String(), a[telemetry.AttrChanges].Type(), a[telemetry.AttrProblems].String(), a[telemetry.AttrProblems].Type())
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("status = %v, want unset for a rewrite", s.Status())
	}
	var changes, problems []map[string]attribute.Value
	for _, e := range s.Events() {
		switch e.Name {
		case telemetry.EventChange:
			changes = append(changes, attrMap(e.Attributes))
		case telemetry.EventProblem:
			problems = append(problems, attrMap(e.Attributes))
		default:
			t.Errorf("unexpected event %q", e.Name)
		}
		if !e.Time.Equal(r.RewriteEnd) {
			t.Errorf("event %s at %v, want %v", e.Name, e.Time, r.RewriteEnd)
		}
	}
	if len(changes) != 2 || len(problems) != 1 {
		t.Fatalf("%d change and %d problem events, want 2 and 1", len(changes), len(problems))
	}
	want := []map[string]string{
		{"callfix.field": "participants[1].address", "callfix.kind": "phone", "callfix.from": "(***) ***-**42", "callfix.to": "tel:+1********42", "callfix.country": "US"},
		{"callfix.field": "from.from", "callfix.kind": "user", "callfix.from": "2ca3b6e8-0000-4000-8000-000000000001", "callfix.to": "user:2ca3b6e8-0000-4000-8000-000000000001", "callfix.country": ""},
	}
	for i, w := range want {
		if keys(changes[i]) != keys(w) {
			t.Errorf("change %d attributes %s, want %s", i, keys(changes[i]), keys(w))
		}
		for k, v := range w {
			if got := changes[i][k].AsString(); got != v {
				t.Errorf("change %d %s = %q, want %q", i, k, got, v)
			}
		}
	}
	p := problems[0]
	if p[telemetry.AttrField].AsString() != "participants[2].address" || p[telemetry.AttrReason].AsString() != "too_short" ||
		p[telemetry.AttrFrom].AsString() != "(***) 01" || p[telemetry.AttrCountry].AsString() != "US" {
		t.Errorf("problem event = %v", p)
	}
}

func TestRecordRewriteSpan_RejectedIsAnErrorAndSkippedIsSaid(t *testing.T) {
	tel, rec := tracing(t, telemetry.Options{})
	r := sampleRecord()
	r.Outcome, r.Changes = rewrite.OutcomeRejected, nil
	r.Problems = []rewrite.Problem{{Path: "phoneNumber", Value: "12", Reason: rewrite.ReasonTooShort, Country: "US"}}
	tel.RecordRewriteSpan(context.Background(), r)
	s := ended(rec, telemetry.SpanRewrite)
	if len(s) != 1 || s[0].Status().Code != codes.Error {
		t.Fatalf("rejected: spans %d, status %v, want one with an error status", len(s), s[0].Status())
	}
	if a := attrMap(s[0].Attributes()); a[telemetry.AttrOutcome].AsString() != "rejected" || a[telemetry.AttrChanges].AsInt64() != 0 {
		t.Errorf("rejected attributes = %v", a)
	}
	if strings.Contains(s[0].Status().Description, "12") {
		t.Errorf("status description %q quotes the value", s[0].Status().Description)
	}

	rec.Reset()
	r = sampleRecord()
	r.Outcome, r.Changes, r.Skipped = rewrite.OutcomeUnchanged, nil, rewrite.SkipNotJSON
	tel.RecordRewriteSpan(context.Background(), r)
	s = ended(rec, telemetry.SpanRewrite)
	if len(s) != 1 {
		t.Fatalf("%d spans", len(s))
	}
	if a := attrMap(s[0].Attributes()); a[telemetry.AttrSkipped].AsString() != "not JSON" || a[telemetry.AttrOutcome].AsString() != "unchanged" {
		t.Errorf("skipped attributes = %v", a)
	}
	if len(s[0].Events()) != 0 {
		t.Errorf("events on an unchanged request: %v", s[0].Events())
	}
}

// audit writes r through the audit writer and returns the decoded record.
func audit(t testing.TB, opts telemetry.Options, ctx context.Context, r *telemetry.Record) (map[string]any, string) {
	t.Helper()
	var buf testsupport.Buffer
	opts.AuditWriter = &buf
	tel := newTel(t, opts)
	tel.Intercepted(ctx, r)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d audit lines, want 1: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("the audit record is not JSON: %v: %s", err, lines[0])
	}
	return m, lines[0]
}

var auditFields = "changes,country,duration_ms,kept,level,mode,msg,outcome,problems,request_id,route,status,time,trace_id,upstream_status"

// docs/AUDIT.md: exactly these fields, these types, values masked.
func TestAudit_RecordHasTheDocumentedSchema(t *testing.T) {
	tel, _ := tracing(t, telemetry.Options{})
	ctx, server := tel.Tracer().Start(context.Background(), "server", trace.WithSpanKind(trace.SpanKindServer))
	defer server.End()
	r := sampleRecord()
	m, line := audit(t, telemetry.Options{}, ctx, r)
	if got := keys(m); got != auditFields {
		t.Errorf("audit fields = %s, want %s\n%s", got, auditFields, line)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) (float64, bool) { n, ok := m[k].(float64); return n, ok }
	if _, err := time.Parse(time.RFC3339Nano, str("time")); err != nil {
		t.Errorf("time %q is not RFC 3339: %v", m["time"], err)
	}
	for k, want := range map[string]string{"level": "INFO", "msg": "callfix.audit", "request_id": "req-1", "route": "POST /api/v2/conversations/calls",
		"mode": "enforce", "outcome": "rewritten", "country": "US", "trace_id": server.SpanContext().TraceID().String()} {
		if got := str(k); got != want {
			t.Errorf("%s = %q (%T), want %q", k, m[k], m[k], want)
		}
	}
	if n, ok := num("status"); !ok || n != 200 {
		t.Errorf("status = %v, want number 200", m["status"])
	}
	if n, ok := num("upstream_status"); !ok || n != 200 {
		t.Errorf("upstream_status = %v, want number 200", m["upstream_status"])
	}
	if n, ok := num("duration_ms"); !ok || n != 12.4 {
		t.Errorf("duration_ms = %v, want number 12.4", m["duration_ms"])
	}
	changes, ok := m["changes"].([]any)
	if !ok || len(changes) != 2 {
		t.Fatalf("changes = %v, want an array of 2", m["changes"])
	}
	want := []map[string]any{
		{"field": "participants[1].address", "kind": "phone", "from": "(***) ***-**42", "to": "tel:+1********42", "country": "US"},
		{"field": "from.from", "kind": "user", "from": "2ca3b6e8-0000-4000-8000-000000000001", "to": "user:2ca3b6e8-0000-4000-8000-000000000001", "country": ""},
	}
	for i, w := range want {
		c, _ := changes[i].(map[string]any)
		if keys(c) != keys(w) {
			t.Errorf("change %d fields %s, want %s", i, keys(c), keys(w))
		}
		for k, v := range w {
			if c[k] != v {
				t.Errorf("change %d %s = %v, want %v", i, k, c[k], v)
			}
		}
	}
	if p, ok := m["problems"].([]any); !ok || len(p) != 0 {
		t.Errorf("problems = %#v, want [] (an empty array, not null)", m["problems"])
	}
	if k, ok := m["kept"].([]any); !ok || len(k) != 0 {
		t.Errorf("kept = %#v, want [] (an empty array, not null)", m["kept"])
	}
	if strings.Contains(line, "5550100042") || strings.Contains(line, "010-0042") {
		t.Errorf("the audit record holds a full number: %s", line)
	}
}

func TestAudit_ProblemsSkippedAndNoTrace(t *testing.T) {
	r := sampleRecord()
	r.Mode, r.Outcome, r.Changes, r.Status, r.Upstream = rewrite.ModeEnforce, rewrite.OutcomeRejected, nil, 400, 0
	r.Problems = []rewrite.Problem{{Path: "participants[0].address", Value: "(555) 010-004", Reason: rewrite.ReasonInvalidLength, Country: "US"}}
	m, line := audit(t, telemetry.Options{}, context.Background(), r)
	if got := keys(m); got != auditFields {
		t.Errorf("audit fields = %s, want %s", got, auditFields)
	}
	if m["trace_id"] != "" {
		t.Errorf("trace_id = %v without tracing, want \"\"", m["trace_id"])
	}
	if m["upstream_status"] != 0.0 || m["status"] != 400.0 {
		t.Errorf("status, upstream_status = %v, %v, want 400, 0", m["status"], m["upstream_status"])
	}
	ps, _ := m["problems"].([]any)
	if len(ps) != 1 {
		t.Fatalf("problems = %v", m["problems"])
	}
	p, _ := ps[0].(map[string]any)
	if keys(p) != "field,message,reason,value" {
		t.Errorf("problem fields = %s, want field,message,reason,value", keys(p))
	}
	if p["field"] != "participants[0].address" || p["reason"] != "invalid_length" || p["value"] != "(***) ***-*04" {
		t.Errorf("problem = %v", p)
	}
	if msg, _ := p["message"].(string); msg == "" || strings.Contains(msg, "010") {
		t.Errorf("problem message %q is empty or quotes the value", msg)
	}
	if strings.Contains(line, "010-004") {
		t.Errorf("the audit record holds the value: %s", line)
	}

	for skip, want := range map[rewrite.Skip]string{rewrite.SkipNotJSON: "not JSON", rewrite.SkipTruncated: "truncated JSON",
		rewrite.SkipNotObject: "not a JSON object", rewrite.SkipEmpty: "empty body"} {
		r := sampleRecord()
		r.Outcome, r.Changes, r.Skipped = rewrite.OutcomeUnchanged, nil, skip
		m, _ := audit(t, telemetry.Options{}, context.Background(), r)
		if m["skipped"] != want || keys(m) != strings.Replace(auditFields, "route,", "route,skipped,", 1) {
			t.Errorf("skipped %v: record %v, want skipped=%q", skip, m, want)
		}
	}
}

// Without an audit logger, Intercepted still counts and does not fail.
func TestAudit_NilLoggerIsOff(t *testing.T) {
	tel := newTel(t, telemetry.Options{})
	tel.Intercepted(context.Background(), sampleRecord())
}

// Masking modes apply alike to span events and the audit record; user IDs
// are never masked.
func TestMask_ModesInSpansAndAudit(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	hashOf := func(v string) string { return telemetry.Masker{Mode: telemetry.MaskHash, Key: key}.Mask(v) }
	cases := []struct {
		mode     telemetry.MaskMode
		from, to string
	}{
		{telemetry.MaskPartial, "(***) ***-**42", "tel:+1********42"},
		{telemetry.MaskHash, hashOf("(555) 010-0042"), hashOf("tel:+15550100042")},
		{telemetry.MaskFull, "(555) 010-0042", "tel:+15550100042"},
		{telemetry.MaskNone, "", ""},
	}
	hexRE := regexp.MustCompile(`^hmac:[0-9a-f]{16}$`)
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			var buf testsupport.Buffer
			tel, rec := tracing(t, telemetry.Options{AuditWriter: &buf})
			r := sampleRecord()
			r.Mask = telemetry.Masker{Mode: c.mode, Key: key}
			r.Problems = []rewrite.Problem{{Path: "to", Value: "555-CALL-N0W", Reason: rewrite.ReasonCharacters, Country: "US"}}
			r.Mode, r.Outcome = rewrite.ModeRewrite, rewrite.OutcomeRewritten
			tel.RecordRewriteSpan(context.Background(), r)
			tel.Intercepted(context.Background(), r)

			s := ended(rec, telemetry.SpanRewrite)
			if len(s) != 1 {
				t.Fatalf("%d spans", len(s))
			}
			var ev []map[string]attribute.Value
			for _, e := range s[0].Events() {
				ev = append(ev, attrMap(e.Attributes))
			}
			if len(ev) != 3 {
				t.Fatalf("%d events, want 3", len(ev))
			}
			if ev[0][telemetry.AttrFrom].AsString() != c.from || ev[0][telemetry.AttrTo].AsString() != c.to {
				t.Errorf("span change from/to = %q/%q, want %q/%q", ev[0][telemetry.AttrFrom].AsString(), ev[0][telemetry.AttrTo].AsString(), c.from, c.to)
			}
			if ev[1][telemetry.AttrFrom].AsString() != "2ca3b6e8-0000-4000-8000-000000000001" || ev[1][telemetry.AttrTo].AsString() != "user:2ca3b6e8-0000-4000-8000-000000000001" {
				t.Errorf("a user ID was masked in the span: %v", ev[1])
			}
			wantProblem := telemetry.Masker{Mode: c.mode, Key: key}.Mask("555-CALL-N0W")
			if got := ev[2][telemetry.AttrFrom].AsString(); got != wantProblem {
				t.Errorf("span problem value = %q, want %q", got, wantProblem)
			}

			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &m); err != nil {
				t.Fatalf("audit: %v: %s", err, buf.String())
			}
			changes, _ := m["changes"].([]any)
			problems, _ := m["problems"].([]any)
			if len(changes) != 2 || len(problems) != 1 {
				t.Fatalf("audit changes %v problems %v", m["changes"], m["problems"])
			}
			c0, _ := changes[0].(map[string]any)
			c1, _ := changes[1].(map[string]any)
			p0, _ := problems[0].(map[string]any)
			if c0["from"] != c.from || c0["to"] != c.to {
				t.Errorf("audit change from/to = %v/%v, want %q/%q", c0["from"], c0["to"], c.from, c.to)
			}
			if c1["from"] != "2ca3b6e8-0000-4000-8000-000000000001" {
				t.Errorf("a user ID was masked in the audit: %v", c1)
			}
			if p0["value"] != wantProblem {
				t.Errorf("audit problem value = %v, want %q", p0["value"], wantProblem)
			}
			if c.mode == telemetry.MaskHash {
				if !hexRE.MatchString(c.from) || !hexRE.MatchString(c.to) || c.from == c.to {
					t.Errorf("hash values %q %q are not hmac: and 16 hex digits", c.from, c.to)
				}
			}
			if c.mode != telemetry.MaskFull {
				all := buf.String()
				for _, e := range ev {
					for _, v := range e {
						all += "|" + v.String()
					}
				}
				for _, secret := range []string{"5550100042", "010-0042", "CALL", "555-"} {
					if strings.Contains(all, secret) {
						t.Errorf("%s mode: %q appears in the span or audit: %s", c.mode, secret, all)
					}
				}
			}
		})
	}
}

// Records of concurrent requests never mix: each span and audit line has
// its own request's values.
func TestRecord_ConcurrentRequestsDoNotMix(t *testing.T) {
	var buf testsupport.Buffer
	tel, rec := tracing(t, telemetry.Options{AuditWriter: &buf})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, server := tel.Tracer().Start(context.Background(), "server", trace.WithSpanKind(trace.SpanKindServer))
			r := sampleRecord()
			r.RequestID = fmt.Sprintf("req-%03d", i)
			r.Changes = []rewrite.Change{{Path: "phoneNumber", Kind: rewrite.KindPhone, From: fmt.Sprintf("(555) 010-%04d", i), To: fmt.Sprintf("tel:+1555010%04d", i), Country: "US"}}
			server.SetAttributes(attribute.String("req", r.RequestID))
			tel.RecordRewriteSpan(ctx, r)
			tel.Intercepted(ctx, r)
			server.End()
		}()
	}
	wg.Wait()
	servers := map[trace.SpanID]string{}
	for _, s := range ended(rec, "server") {
		servers[s.SpanContext().SpanID()] = attrMap(s.Attributes())["req"].AsString()
	}
	seen := map[string]bool{}
	for _, s := range ended(rec, telemetry.SpanRewrite) {
		id := servers[s.Parent().SpanID()]
		var i int
		if _, err := fmt.Sscanf(id, "req-%03d", &i); err != nil {
			t.Errorf("rewrite span without its server span: %v", s.Parent().SpanID())
			continue
		}
		seen[id] = true
		ev := s.Events()
		if len(ev) != 1 {
			t.Errorf("%s: %d events", id, len(ev))
			continue
		}
		a := attrMap(ev[0].Attributes)
		if want := fmt.Sprintf("(***) ***-**%02d", i%100); a[telemetry.AttrFrom].AsString() != want {
			t.Errorf("%s: from = %q, want %q", id, a[telemetry.AttrFrom].AsString(), want)
		}
		if want := fmt.Sprintf("tel:+1********%02d", i%100); a[telemetry.AttrTo].AsString() != want {
			t.Errorf("%s: to = %q, want %q", id, a[telemetry.AttrTo].AsString(), want)
		}
	}
	if len(seen) != n {
		t.Errorf("%d requests have a rewrite span, want %d", len(seen), n)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != n {
		t.Fatalf("%d audit lines, want %d", len(lines), n)
	}
	for _, l := range lines {
		var m struct {
			RequestID string `json:"request_id"`
			Changes   []struct{ From, To string }
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("audit line is not JSON: %v: %s", err, l)
			continue
		}
		var i int
		fmt.Sscanf(m.RequestID, "req-%03d", &i)
		if len(m.Changes) != 1 || m.Changes[0].From != fmt.Sprintf("(***) ***-**%02d", i%100) || m.Changes[0].To != fmt.Sprintf("tel:+1********%02d", i%100) {
			t.Errorf("audit %s has changes %+v", m.RequestID, m.Changes)
		}
	}
}

// "User IDs are never masked" must not let a phone number through in a
// user: URI: callerId "user:5551234567" is a problem (not_a_phone_number)
// whose value reaches spans, the audit log and the 400 body.
func TestMask_UserURIHoldingANumberIsMasked(t *testing.T) {
	for _, v := range []string{"user:5551234567", "user:+15551234567", "USER:5551234567", "user:(555) 123-4567"} {
		for _, mode := range []telemetry.MaskMode{telemetry.MaskPartial, telemetry.MaskHash, telemetry.MaskNone} {
			got := telemetry.Masker{Mode: mode, Key: []byte("k")}.Mask(v)
			if strings.Contains(got, "5551234567") || strings.Contains(got, "123-4567") {
				t.Errorf("%s: Mask(%q) = %q: the number is shown", mode, v, got)
			}
		}
	}
	// A real user ID still shows, in either form.
	for _, v := range []string{"user:2ca3b6e8-0000-4000-8000-000000000001", "2ca3b6e8-0000-4000-8000-000000000001"} {
		if got := (telemetry.Masker{}).Mask(v); got != v {
			t.Errorf("Mask(%q) = %q, want it unchanged", v, got)
		}
	}
}

// Values kept on purpose are in the audit record: one object per value,
// field, reason and value (masked), in document order.
func TestAudit_KeptValues(t *testing.T) {
	r := sampleRecord()
	r.Outcome, r.Changes = rewrite.OutcomeUnchanged, nil
	r.Kept = []rewrite.Kept{
		{Path: "phoneNumber", Value: "911", Reason: rewrite.KeepEmergency, Country: "US"},
		{Path: "participants[1].address", Value: "tel:30005", Reason: rewrite.KeepExtension},
		{Path: "participants[2].address", Value: "ForceDisconnect@localhost", Reason: rewrite.KeepNetworkAddress},
	}
	m, line := audit(t, telemetry.Options{}, context.Background(), r)
	if got := keys(m); got != auditFields {
		t.Errorf("audit fields = %s, want %s", got, auditFields)
	}
	kept, ok := m["kept"].([]any)
	if !ok || len(kept) != 3 {
		t.Fatalf("kept = %v, want an array of 3", m["kept"])
	}
	want := []map[string]any{
		{"field": "phoneNumber", "reason": "emergency", "value": "*11"},
		{"field": "participants[1].address", "reason": "extension", "value": "tel:***05"},
		{"field": "participants[2].address", "reason": "network_address", "value": "***************@localhost"},
	}
	for i, w := range want {
		k, _ := kept[i].(map[string]any)
		if keys(k) != "field,reason,value" {
			t.Errorf("kept %d fields %s, want field,reason,value", i, keys(k))
		}
		for key, v := range w {
			if k[key] != v {
				t.Errorf("kept %d %s = %v, want %v", i, key, k[key], v)
			}
		}
	}
	if strings.Contains(line, "30005") || strings.Contains(line, "ForceDisconnect") {
		t.Errorf("the audit record holds a value unmasked: %s", line)
	}
}

// One callfix.kept event per kept value: field, reason and the value
// masked; the span is not an error.
func TestRecordRewriteSpan_KeptEvents(t *testing.T) {
	tel, rec := tracing(t, telemetry.Options{})
	r := sampleRecord()
	r.Outcome, r.Changes = rewrite.OutcomeUnchanged, nil
	r.Kept = []rewrite.Kept{
		{Path: "phoneNumber", Value: "999", Reason: rewrite.KeepEmergency, Country: "GB"},
		{Path: "callerId", Value: "*8675", Reason: rewrite.KeepOperatorPattern},
	}
	tel.RecordRewriteSpan(context.Background(), r)
	s := ended(rec, telemetry.SpanRewrite)
	if len(s) != 1 {
		t.Fatalf("%d spans", len(s))
	}
	if s[0].Status().Code != codes.Unset {
		t.Errorf("status = %v, want unset: kept values are not problems", s[0].Status())
	}
	var kept []map[string]attribute.Value
	for _, e := range s[0].Events() {
		if e.Name != telemetry.EventKept {
			t.Errorf("unexpected event %q", e.Name)
			continue
		}
		if !e.Time.Equal(r.RewriteEnd) {
			t.Errorf("event at %v, want %v", e.Time, r.RewriteEnd)
		}
		kept = append(kept, attrMap(e.Attributes))
	}
	want := []map[string]string{
		{"callfix.field": "phoneNumber", "callfix.reason": "emergency", "callfix.value": "*99"},
		{"callfix.field": "callerId", "callfix.reason": "operator_pattern", "callfix.value": "***75"},
	}
	if len(kept) != len(want) {
		t.Fatalf("%d callfix.kept events, want %d", len(kept), len(want))
	}
	for i, w := range want {
		if keys(kept[i]) != keys(w) {
			t.Errorf("kept event %d attributes %s, want %s", i, keys(kept[i]), keys(w))
		}
		for k, v := range w {
			if got := kept[i][k].AsString(); got != v {
				t.Errorf("kept event %d %s = %q, want %q", i, k, got, v)
			}
		}
	}
}

// A number not valid in the country it was read in: the audit message says
// where that country came from, as the 400 does.
func TestAudit_NotValidInCountry_MessageNamesTheCountrysOrigin(t *testing.T) {
	r := sampleRecord()
	r.Mode, r.Outcome, r.Changes, r.Country = rewrite.ModeRewrite, rewrite.OutcomeUnchanged, nil, "IE"
	r.CountryOrigin = "the default country of region eu-west-1; set `country` or send `X-Callfix-Country`"
	r.Problems = []rewrite.Problem{{Path: "phoneNumber", Value: "020 7946 0958", Reason: rewrite.ReasonNotValidInCountry, Country: "IE"}}
	m, _ := audit(t, telemetry.Options{}, context.Background(), r)
	ps, _ := m["problems"].([]any)
	if len(ps) != 1 {
		t.Fatalf("problems = %v", m["problems"])
	}
	p, _ := ps[0].(map[string]any)
	if want := "phoneNumber is not a valid number in IE (read in IE, " + r.CountryOrigin + ")"; p["message"] != want || p["reason"] != "not_valid_in_country" {
		t.Errorf("problem = %v, want message %q", p, want)
	}
}
