package telemetry_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/rewrite"
)

func clientRecord(id, token string, upstream int) *telemetry.Record {
	r := sampleRecord()
	r.Client = telemetry.Client{ID: id, TokenID: token}
	r.Upstream = upstream
	return r
}

// clientLabelsOf returns the client label values of callfix_rewrites_total
// and how many rewrites each has.
func clientLabelsOf(t *testing.T, tel *telemetry.Telemetry) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range families(t, scrape(t, tel))["callfix_rewrites_total"].GetMetric() {
		out[labels(m)["client"]] += m.GetCounter().GetValue()
	}
	return out
}

// metrics.max_clients at its edge: the first N clients keep their label,
// the next is other, and one seen before keeps its own.
func TestClientLabel_BoundedByMaxClients(t *testing.T) {
	f := func(max, clients int, want map[string]float64) {
		t.Helper()
		tel := newTel(t, telemetry.Options{MaxClients: max})
		for i := range clients {
			tel.Intercepted(context.Background(), clientRecord(fmt.Sprintf("c%d", i), "", 200))
		}
		tel.Intercepted(context.Background(), clientRecord("c0", "", 200)) // seen before
		// Each record has two changes.
		if got := clientLabelsOf(t, tel); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("max_clients %d, %d clients: rewrites by client = %v, want %v", max, clients, got, want)
		}
	}
	f(2, 2, map[string]float64{"c0": 4, "c1": 2})
	f(2, 3, map[string]float64{"c0": 4, "c1": 2, "other": 2})
	f(0, 1, map[string]float64{"other": 4})
}

// A request without identity has no client label: its series keep the
// labels they had before client identity existed.
func TestClientLabel_AbsentWithoutIdentity(t *testing.T) {
	tel := newTel(t, telemetry.Options{MaxClients: 10})
	tel.Intercepted(context.Background(), clientRecord("", "", 200))
	for _, m := range families(t, scrape(t, tel))["callfix_rewrites_total"].GetMetric() {
		if got := labelNames(m); got != "field,kind,route" {
			t.Errorf("labels = %s, want field,kind,route", got)
		}
	}
}

// A token ID takes a label place only once Genesys accepted a request with
// it: made-up tokens cannot push real clients into other.
func TestClientLabel_TokenIDNeedsAnAcceptedRequest(t *testing.T) {
	tel := newTel(t, telemetry.Options{MaxClients: 1})
	tel.Intercepted(context.Background(), clientRecord("", "tok-000000000000000b", 401)) // a bad token
	tel.Intercepted(context.Background(), clientRecord("", "tok-000000000000000c", 0))   // rejected by callfix, not forwarded
	tel.Intercepted(context.Background(), clientRecord("", "tok-000000000000000a", 200))
	tel.Intercepted(context.Background(), clientRecord("", "tok-000000000000000b", 401))
	got := clientLabelsOf(t, tel)
	if want := map[string]float64{"other": 6, "tok-000000000000000a": 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rewrites by client = %v, want %v", got, want)
	}
}

func TestClient_SpanAttributes(t *testing.T) {
	tel, rec := tracing(t, telemetry.Options{})
	r := sampleRecord()
	r.Client = telemetry.Client{ID: "crm", TokenID: "tok-0123456789abcdef", Address: "192.0.2.1", UserAgent: "Agent/1"}
	tel.RecordRewriteSpan(context.Background(), r)
	spans := ended(rec, telemetry.SpanRewrite)
	if len(spans) != 1 {
		t.Fatalf("%d rewrite spans", len(spans))
	}
	got := map[attribute.Key]string{}
	for _, kv := range spans[0].Attributes() {
		got[kv.Key] = kv.Value.AsString()
	}
	for k, want := range map[attribute.Key]string{"callfix.client_id": "crm", "callfix.token_id": "tok-0123456789abcdef",
		"client.address": "192.0.2.1", "user_agent.original": "Agent/1"} {
		if got[k] != want {
			t.Errorf("span attribute %s = %q, want %q", k, got[k], want)
		}
	}
	// Without identity, none of them.
	r.Client = telemetry.Client{}
	r.Outcome = rewrite.OutcomeUnchanged
	tel.RecordRewriteSpan(context.Background(), r)
	for _, kv := range ended(rec, telemetry.SpanRewrite)[1].Attributes() {
		switch kv.Key {
		case "callfix.client_id", "callfix.token_id", "client.address", "user_agent.original":
			t.Errorf("span without identity has %s", kv.Key)
		}
	}
}
