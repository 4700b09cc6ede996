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
// writes for the same record, field for field (time aside), including
// values that need escaping.
func TestAuditWriter_MatchesSlogRecord(t *testing.T) {
	f := func(r Record) {
		t.Helper()
		var fast, slow bytes.Buffer
		tf, err := New(context.Background(), Options{Getenv: func(string) string { return "" }, AuditWriter: &fast})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := New(context.Background(), Options{Getenv: func(string) string { return "" }, Audit: slog.New(slog.NewJSONHandler(&slow, nil))})
		if err != nil {
			t.Fatal(err)
		}
		tf.Intercepted(context.Background(), &r)
		ts.Intercepted(context.Background(), &r)
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
	f(Record{RequestID: "r-3", Route: "POST /y", Mode: rewrite.ModeRewrite, Outcome: rewrite.OutcomeUnchanged, Skipped: rewrite.SkipNotJSON, Status: 502})
}
