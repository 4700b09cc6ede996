package proxy_test

import (
	"strings"
	"testing"

	"github.com/callfix/callfix/internal/telemetry"
)

// Values kept on purpose (an emergency number, an extension, a network
// address) are forwarded byte for byte next to a repaired one, and recorded
// everywhere a decision is: one callfix.kept span event each (value
// masked), the audit record's kept array, and callfix_kept_total by reason.
func TestOTel_Kept_SpanEventsAuditAndMetrics(t *testing.T) {
	r := startOtelRig(t, nil, "")
	tc := newOtelTrace()
	body := `{"phoneNumber":"911","participants":[{"address":"tel:30005"},{"address":"ForceDisconnect@localhost"},{"address":"(555) 010-0042"}]}`
	resp := r.do(otelPost(otelCallsPath, body, tc))
	if resp.Status != 200 {
		t.Fatalf("status = %d, body %s", resp.Status, resp.Body)
	}
	up := only(t, "api", r.api)
	if want := `{"phoneNumber":"911","participants":[{"address":"tel:30005"},{"address":"ForceDisconnect@localhost"},{"address":"tel:+15550100042"}]}`; string(up.Body) != want {
		t.Errorf("upstream body = %s, want %s", up.Body, want)
	}
	metrics := otelScrape(t, r.tel)
	spans := r.flush(3)
	set := wantOtelSet(t, spans, tc, otelCallsRoute, true)
	wantRewriteAttrs(t, set.rewrite, "enforce", otelCallsRoute, "rewritten", 1, 0)
	kept := set.rewrite.EventsNamed(telemetry.EventKept)
	want := [][3]string{
		{"phoneNumber", "emergency", "*11"},
		{"participants[0].address", "extension", "tel:***05"},
		{"participants[1].address", "network_address", "***************@localhost"},
	}
	if len(kept) != len(want) {
		t.Fatalf("%d callfix.kept events, want %d:%s", len(kept), len(want), otelDescribe(spans))
	}
	for i, w := range want {
		a := kept[i].Attrs
		if got := strings.Join(a.Keys(), ","); got != "callfix.field,callfix.reason,callfix.value" {
			t.Errorf("kept event %d has attributes %s", i, got)
		}
		if a.Str(telemetry.AttrField) != w[0] || a.Str(telemetry.AttrReason) != w[1] || a.Str(telemetry.AttrValue) != w[2] {
			t.Errorf("kept event %d = %v, want field %s, reason %s, value %s", i, a, w[0], w[1], w[2])
		}
	}
	if set.rewrite.StatusCode == "error" {
		t.Errorf("kept values made the rewrite span an error")
	}
	otelNoSecrets(t, spans, "30005", "ForceDisconnect", "5550100042")

	lines := otelAuditLines(t, r)
	if len(lines) != 1 {
		t.Fatalf("%d audit lines, want 1", len(lines))
	}
	ks, _ := lines[0]["kept"].([]any)
	if len(ks) != len(want) {
		t.Fatalf("audit kept = %v, want %d entries", lines[0]["kept"], len(want))
	}
	for i, w := range want {
		k, _ := ks[i].(map[string]any)
		if len(k) != 3 || k["field"] != w[0] || k["reason"] != w[1] || k["value"] != w[2] {
			t.Errorf("audit kept %d = %v, want {field %s, reason %s, value %s}", i, k, w[0], w[1], w[2])
		}
	}
	if a := r.audit.String(); strings.Contains(a, "30005") || strings.Contains(a, "ForceDisconnect") {
		t.Errorf("the audit log holds a kept value unmasked: %s", a)
	}

	for _, w := range []string{
		`callfix_kept_total{reason="emergency"} 1`,
		`callfix_kept_total{reason="extension"} 1`,
		`callfix_kept_total{reason="network_address"} 1`,
		`callfix_kept_total{reason="short_code"} 0`,
		`callfix_kept_total{reason="operator_pattern"} 0`,
	} {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %s:\n%s", w, otelGrep(metrics, "callfix_kept"))
		}
	}
}

// A body whose only addresses are kept is forwarded as sent, with outcome
// unchanged, in every mode; in enforce mode with validation valid too.
func TestIntercept_OnlyKept_ForwardedAsSentInEveryMode(t *testing.T) {
	body := `{"phoneNumber":"911","callerId":"988","participants":[{"address":"30005"},{"address":"tel:1234"}]}`
	for _, mode := range []string{"enforce", "rewrite", "audit"} {
		obs := &recorder{}
		r := startRig(t, rigOptions{observer: obs, flags: map[string]string{"mode": mode, "validation": "valid"}})
		resp := r.do(request("POST", callsPath, []byte(body), jsonCT))
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200: %s", mode, resp.Status, resp.Body)
		}
		got := only(t, "api", r.api)
		if string(got.Body) != body {
			t.Errorf("%s: upstream body = %s, want it as sent", mode, got.Body)
		}
		recs := obs.records()
		if len(recs) != 1 || recs[0].Outcome != "unchanged" || len(recs[0].Kept) != 4 || len(recs[0].Problems) != 0 {
			t.Errorf("%s: records = %+v, want one unchanged with 4 kept values", mode, recs)
		}
		r.stop()
	}
}
