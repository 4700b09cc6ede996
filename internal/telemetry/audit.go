package telemetry

import (
	"io"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/rewrite"
)

// auditWriter writes the audit records of docs/AUDIT.md as JSON lines,
// encoded by hand into a pooled buffer and written with one call: the
// same fields as slog's JSON handler would write, at a fraction of its
// cost (it reflects over maps for every record).
type auditWriter struct {
	mu sync.Mutex
	w  io.Writer
}

var auditBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (a *auditWriter) write(traceID trace.TraceID, hasTrace bool, r *Record, now time.Time) {
	bp := auditBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"callfix.audit","request_id":`...)
	b = rewrite.AppendJSONString(b, r.RequestID)
	b = append(b, `,"trace_id":"`...)
	if hasTrace {
		b = append(b, traceID.String()...)
	}
	b = append(b, `","route":`...)
	b = rewrite.AppendJSONString(b, r.Route)
	b = append(b, `,"mode":"`...)
	b = append(b, r.Mode.String()...)
	b = append(b, `","outcome":"`...)
	b = append(b, string(r.Outcome)...)
	b = append(b, `","country":`...)
	b = rewrite.AppendJSONString(b, r.Country)
	b = r.appendLists(b)
	// A record with more than limits.max_details changes, problems or kept
	// values lists that many and counts them all.
	if n := len(r.Changes); r.listed(n) < n {
		b = append(b, `,"changes_total":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	if n := len(r.Problems); r.listed(n) < n {
		b = append(b, `,"problems_total":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	if n := len(r.Kept); r.listed(n) < n {
		b = append(b, `,"kept_total":`...)
		b = strconv.AppendInt(b, int64(n), 10)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"upstream_status":`...)
	b = strconv.AppendInt(b, int64(r.Upstream), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'g', -1, 64)
	// Client identity: each field only when known (docs/AUDIT.md).
	b = appendField(b, `,"client_id":`, r.Client.ID)
	b = appendField(b, `,"token_id":`, r.Client.TokenID)
	b = appendField(b, `,"client_address":`, r.Client.Address)
	b = appendField(b, `,"user_agent":`, r.Client.UserAgent)
	if r.Skipped != rewrite.SkipNone {
		b = append(b, `,"skipped":`...)
		b = rewrite.AppendJSONString(b, r.Skipped.String())
	}
	b = append(b, "}\n"...)
	a.mu.Lock()
	_, _ = a.w.Write(b)
	a.mu.Unlock()
	*bp = b
	auditBufs.Put(bp)
}

// appendLists appends the record's changes, problems and kept values, at
// most limits.max_details of each, their values masked.
func (r *Record) appendLists(b []byte) []byte {
	b = append(b, `,"changes":[`...)
	for i, c := range r.Changes[:r.listed(len(r.Changes))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"country":`...)
		b = rewrite.AppendJSONString(b, c.Country)
		b = append(b, `,"field":`...)
		b = rewrite.AppendJSONString(b, c.Path)
		b = append(b, `,"from":`...)
		b = rewrite.AppendJSONString(b, r.Mask.Mask(c.From))
		b = append(b, `,"kind":"`...)
		b = append(b, c.Kind.String()...)
		b = append(b, `","to":`...)
		b = rewrite.AppendJSONString(b, r.Mask.Mask(c.To))
		b = append(b, '}')
	}
	b = append(b, `],"problems":[`...)
	for i, p := range r.Problems[:r.listed(len(r.Problems))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = rewrite.AppendJSONString(b, p.Path)
		b = append(b, `,"message":`...)
		b = rewrite.AppendJSONString(b, p.MessageFrom(r.CountryOrigin))
		b = append(b, `,"reason":"`...)
		b = append(b, p.Reason.Code()...)
		b = append(b, `","value":`...)
		b = rewrite.AppendJSONString(b, r.Mask.Mask(p.Value))
		b = append(b, '}')
	}
	b = append(b, `],"kept":[`...)
	for i, k := range r.Kept[:r.listed(len(r.Kept))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = rewrite.AppendJSONString(b, k.Path)
		b = append(b, `,"reason":"`...)
		b = append(b, k.Reason.Code()...)
		b = append(b, `","value":`...)
		b = rewrite.AppendJSONString(b, r.Mask.Mask(k.Value))
		b = append(b, '}')
	}
	b = append(b, ']')
	return b
}

// appendField appends a string field when it is not empty.
func appendField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return rewrite.AppendJSONString(append(b, key...), v)
}
