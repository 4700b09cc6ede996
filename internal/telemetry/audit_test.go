package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/callfix/callfix/rewrite"
)

// The hand-written audit encoder writes exactly what the slog JSON handler
// writes for the same record (slogAudit), field for field (time aside), including
// values that need escaping.
func TestAuditWriter_MatchesSlogRecord(t *testing.T) {
	f := func(r Record) {
		t.Helper()
		var fast, slow bytes.Buffer
		tf, err := New(context.Background(), Options{AuditWriter: &fast})
		if err != nil {
			t.Fatal(err)
		}
		tf.Intercepted(context.Background(), &r)
		slogAudit(slog.New(slog.NewJSONHandler(&slow, nil)), &r)
		var a, b map[string]any
		if err := json.Unmarshal(fast.Bytes(), &a); err != nil {
			t.Fatalf("fast record is not JSON: %v: %s", err, fast.Bytes())
		}
		if err := json.Unmarshal(slow.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		delete(a, "time")
		delete(b, "time")
		if !reflect.DeepEqual(a, b) {
			t.Errorf("records differ:\nfast %s\nslog %s", fast.Bytes(), slow.Bytes())
		}
		if bytes.Count(fast.Bytes(), []byte("\n")) != 1 {
			t.Errorf("fast record is not one line: %q", fast.Bytes())
		}
	}
	f(Record{RequestID: "r-1", Route: "POST /api/v2/conversations/calls", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeRewritten,
		Country: "US", Status: 200, Upstream: 200, Duration: 1234567 * time.Nanosecond,
		Changes: []rewrite.Change{{Path: "participants[1].address", Kind: rewrite.KindPhone, From: "(555) 123-4567", To: "tel:+15551234567", Country: "US"},
			{Path: "to.to", Kind: rewrite.KindUser, From: "2ca3b6e8-0000-4000-8000-000000000001", To: "user:2ca3b6e8-0000-4000-8000-000000000001"}}})
	f(Record{RequestID: `we"ird\id`, Route: "POST /x", Mode: rewrite.ModeAudit, Outcome: rewrite.OutcomeAudited, Status: 200,
		Problems: []rewrite.Problem{{Path: "phoneNumber", Value: "abc\x01\"\u2028\xff<&>", Reason: rewrite.ReasonCharacters, Country: "GB"}},
		Skipped:  rewrite.SkipNone, Mask: Masker{Mode: MaskFull}})
	f(Record{RequestID: "r-5", Route: "POST /v", Mode: rewrite.ModeRewrite, Outcome: rewrite.OutcomeUnchanged, Status: 200, Upstream: 200,
		Country: "IE", CountryOrigin: "sent in X-Callfix-Country",
		Problems: []rewrite.Problem{{Path: "phoneNumber", Value: "020 7946 0958", Reason: rewrite.ReasonNotValidInCountry, Country: "IE"}}})
	f(Record{RequestID: "r-4", Route: "POST /z", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeUnchanged, Status: 200, Upstream: 200,
		Kept: []rewrite.Kept{{Path: "phoneNumber", Value: "911", Reason: rewrite.KeepEmergency, Country: "US"},
			{Path: "participants[0].address", Value: "a\"b@host", Reason: rewrite.KeepNetworkAddress}}, Mask: Masker{Mode: MaskFull}})
	f(Record{RequestID: "r-3", Route: "POST /y", Mode: rewrite.ModeRewrite, Outcome: rewrite.OutcomeUnchanged, Skipped: rewrite.SkipNotJSON, Status: 502})
	f(Record{RequestID: "r-4", Route: "POST /y", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeRejected, Skipped: rewrite.SkipTrailingData, Status: 400})
	// More changes and problems than MaxListed: that many listed, all counted.
	many := Record{RequestID: "r-5", Route: "POST /z", Mode: rewrite.ModeRewrite, Outcome: rewrite.OutcomeRewritten, Status: 200, MaxListed: 2}
	for i := 0; i < 3; i++ {
		many.Changes = append(many.Changes, rewrite.Change{Path: "to", Kind: rewrite.KindPhone, From: "5551234567", To: "tel:+15551234567", Country: "US"})
		many.Problems = append(many.Problems, rewrite.Problem{Path: "from", Value: "a", Reason: rewrite.ReasonCharacters})
	}
	f(many)
	atLimit := many
	atLimit.Changes, atLimit.Problems = many.Changes[:2], many.Problems[:1]
	f(atLimit)
	f(Record{RequestID: "r-6", Route: "POST /y", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeUnchanged, Status: 200,
		Client: Client{ID: "crm", TokenID: "tok-0123456789abcdef", Address: "2001:db8::1", UserAgent: "Agent/1 \"x\"\n\u2028\xff"}})
	f(Record{RequestID: "r-7", Route: "POST /y", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeUnchanged, Status: 200,
		Client: Client{TokenID: "tok-0123456789abcdef", Address: "192.0.2.1"}})
}

// An audit record lists at most MaxListed changes and problems and then
// counts them all in changes_total and problems_total; at the limit there
// is no count.
func TestAuditWriter_MaxListed_ListsThatManyAndCountsAll(t *testing.T) {
	f := func(n, max int, wantListed int, wantTotal bool) {
		t.Helper()
		var out bytes.Buffer
		tel, err := New(context.Background(), Options{AuditWriter: &out})
		if err != nil {
			t.Fatal(err)
		}
		r := Record{RequestID: "r", Route: "POST /x", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeRejected, Status: 400, MaxListed: max}
		for i := 0; i < n; i++ {
			r.Problems = append(r.Problems, rewrite.Problem{Path: "from", Value: "a", Reason: rewrite.ReasonCharacters})
		}
		tel.Intercepted(context.Background(), &r)
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", out.Bytes(), err)
		}
		if got := len(m["problems"].([]any)); got != wantListed {
			t.Errorf("%d problems, MaxListed %d: %d listed, want %d", n, max, got, wantListed)
		}
		total, has := m["problems_total"]
		if has != wantTotal || has && total.(float64) != float64(n) {
			t.Errorf("%d problems, MaxListed %d: problems_total = %v (present %v), want %d (present %v)", n, max, total, has, n, wantTotal)
		}
		if _, has := m["changes_total"]; has {
			t.Errorf("changes_total present without changes: %s", out.Bytes())
		}
	}
	f(3, 3, 3, false)
	f(4, 3, 3, true)
	f(5, 0, 5, false) // 0: no bound
}

// slogAudit is the reference the hand-written encoder is held to: the
// audit record of docs/AUDIT.md, written by slog's JSON handler.
func slogAudit(log *slog.Logger, r *Record) {
	listed := func(n int) int {
		if r.MaxListed > 0 && n > r.MaxListed {
			return r.MaxListed
		}
		return n
	}
	changes := make([]any, listed(len(r.Changes)))
	for i, c := range r.Changes[:len(changes)] {
		changes[i] = map[string]any{"field": c.Path, "kind": c.Kind.String(), "from": r.Mask.Mask(c.From), "to": r.Mask.Mask(c.To), "country": c.Country}
	}
	problems := make([]any, listed(len(r.Problems)))
	for i, p := range r.Problems[:len(problems)] {
		problems[i] = map[string]any{"field": p.Path, "reason": p.Reason.Code(), "message": p.MessageFrom(r.CountryOrigin), "value": r.Mask.Mask(p.Value)}
	}
	kept := make([]any, listed(len(r.Kept)))
	for i, k := range r.Kept[:len(kept)] {
		kept[i] = map[string]any{"field": k.Path, "reason": k.Reason.Code(), "value": r.Mask.Mask(k.Value)}
	}
	attrs := []slog.Attr{
		slog.String("request_id", r.RequestID),
		slog.String("trace_id", ""),
		slog.String("route", r.Route),
		slog.String("mode", r.Mode.String()),
		slog.String("outcome", string(r.Outcome)),
		slog.String("country", r.Country),
		slog.Any("changes", changes),
		slog.Any("problems", problems),
		slog.Any("kept", kept),
	}
	if len(changes) < len(r.Changes) {
		attrs = append(attrs, slog.Int("changes_total", len(r.Changes)))
	}
	if len(problems) < len(r.Problems) {
		attrs = append(attrs, slog.Int("problems_total", len(r.Problems)))
	}
	if len(kept) < len(r.Kept) {
		attrs = append(attrs, slog.Int("kept_total", len(r.Kept)))
	}
	attrs = append(attrs,
		slog.Int("status", r.Status),
		slog.Int("upstream_status", r.Upstream),
		slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
	)
	for _, f := range []struct{ k, v string }{{"client_id", r.Client.ID}, {"token_id", r.Client.TokenID}, {"client_address", r.Client.Address}, {"user_agent", r.Client.UserAgent}} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	if r.Skipped != rewrite.SkipNone {
		attrs = append(attrs, slog.String("skipped", r.Skipped.String()))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "callfix.audit", attrs...)
}
