package proxy_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/otlptest"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// One intercepted request carries one request ID everywhere it shows:
// the answer (X-Request-Id, ININ-Correlation-Id and, for callfix's own
// errors, contextId), the audit record's request_id, the Observer's
// record, every log line about it and the server span's callfix.request_id.
// This holds for every kind of answer, with the client's X-Request-Id
// (echoed) and without one (callfix's own). "Find the log line with the
// same request_id" (README, Troubleshooting) depends on it.
func TestRequestID_OneRequestOneID_EveryAnswer(t *testing.T) {
	const good = `{"phoneNumber":"(555) 010-0042"}`
	slow := func(*upstreamtest.Request) upstreamtest.Response {
		return upstreamtest.Response{Delay: 500 * time.Millisecond}
	}
	reset := func(*upstreamtest.Request) upstreamtest.Response { return upstreamtest.Response{Reset: true} }
	cases := []struct {
		name   string
		status int
		code   string // callfix's own error code; "" for an upstream answer
		body   string
		flags  map[string]string
		api    upstreamtest.Handler
		dial   func(string) (net.Conn, error)
		logged bool // callfix writes a log line about the request
	}{
		{name: "forwarded", status: 200, body: good},
		{name: "rejected", status: 400, code: apierror.CodeInvalidAddress, body: `{"phoneNumber":"5551234"}`},
		{name: "413", status: 413, code: apierror.CodeBodyTooLarge, logged: true,
			body: `{"phoneNumber":"(555) 010-0042","pad":"` + strings.Repeat("x", 100) + `"}`, flags: map[string]string{"limits.max_body_bytes": "64"}},
		{name: "502", status: 502, code: apierror.CodeUpstreamUnavailable, body: good, api: reset, logged: true},
		{name: "504", status: 504, code: apierror.CodeUpstreamTimeout, body: good, api: slow, logged: true,
			flags: map[string]string{"upstream.timeout": "150ms"}},
		{name: "500", status: 500, code: apierror.CodeInternal, body: good, logged: true,
			dial: func(string) (net.Conn, error) { panic("dial exploded") }},
	}
	for _, tc := range cases {
		for _, client := range []string{"", "client-id-" + tc.name} {
			name := tc.name + "/callfix's ID"
			if client != "" {
				name = tc.name + "/client's ID"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				recv := otlptest.Start(t)
				audit := &testsupport.Buffer{}
				obs := &recorder{}
				var tel *telemetry.Telemetry
				r := startRig(t, rigOptions{flags: tc.flags, api: tc.api, dial: tc.dial, observer: obs,
					telemetry: func(c *config.Config) *telemetry.Telemetry {
						var err error
						tel, err = telemetry.New(context.Background(), telemetry.Options{
							Endpoint: recv.URL, Protocol: "http/protobuf", SampleRatio: c.Tracing.SampleRatio,
							AuditWriter: audit, MaxClients: c.Metrics.MaxClients,
						})
						if err != nil {
							t.Fatalf("telemetry.New: %v", err)
						}
						return tel
					}})
				h := []string{"Content-Type: application/json"}
				if client != "" {
					h = append(h, "X-Request-Id: "+client)
				}
				resp := r.do(request("POST", otelCallsPath, []byte(tc.body), h...))

				// The Observer's record: written when the handler returns,
				// which may be just after the answer.
				if !waitFor(func() bool { return len(obs.records()) > 0 }) {
					t.Fatalf("the Observer got no record")
				}
				recs := obs.records()
				if len(recs) != 1 {
					t.Errorf("the Observer got %d records, want 1", len(recs))
				}

				// The answer. callfix's own errors carry the ID; a forwarded
				// answer is the upstream's (docs/ERRORS.md), so there the ID
				// is the client's, or the one the record holds.
				if resp.Status != tc.status {
					t.Errorf("status = %d, want %d: %s", resp.Status, tc.status, resp.Body)
				}
				id := client
				if tc.code != "" {
					id = resp.Get1(t, "X-Request-Id")
					if client != "" && id != client {
						t.Errorf("X-Request-Id = %q, want the client's %q echoed", id, client)
					}
					if b := wantAPIError(t, "answer", resp, tc.status, tc.code); b.ContextID != id {
						t.Errorf("contextId = %q, want X-Request-Id %q", b.ContextID, id)
					}
				} else if id == "" {
					id = recs[0].RequestID
				}
				if id == "" {
					t.Fatalf("no request ID: the answer's X-Request-Id and the record's are empty")
				}
				if recs[0].RequestID != id {
					t.Errorf("the Observer's record has request_id %q, want %q", recs[0].RequestID, id)
				}

				// Shut telemetry down: it writes the audit batch and exports
				// every span.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := tel.Shutdown(ctx); err != nil {
					t.Errorf("telemetry Shutdown: %v", err)
				}

				// The audit record.
				var lines []map[string]any
				for _, l := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("audit line is not JSON: %v: %q", err, l)
					}
					lines = append(lines, m)
				}
				if len(lines) != 1 || lines[0]["request_id"] != id || lines[0]["status"] != float64(tc.status) {
					t.Errorf("audit = %v, want one record with request_id %q and status %d", lines, id, tc.status)
				}

				// The log lines: every one that names a request names this one.
				n := 0
				for _, l := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
					if l == "" {
						continue
					}
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("log line is not JSON: %v: %q", err, l)
					}
					if v, ok := m["request_id"]; ok {
						n++
						if v != id {
							t.Errorf("log line %q has request_id %v, want %q", m["msg"], v, id)
						}
					}
				}
				if tc.logged && n == 0 {
					t.Errorf("no log line names the request, want one with request_id %q: %s", id, r.logs.String())
				}

				// The server span.
				spans, _ := recv.WaitFor(func(s []otlptest.Span) bool { return len(otlptest.ByName(s, otelCallsRoute)) > 0 }, 5*time.Second)
				servers := otlptest.ByName(spans, otelCallsRoute)
				if len(servers) != 1 {
					t.Fatalf("%d server spans %q, want 1: %s", len(servers), otelCallsRoute, otelDescribe(spans))
				}
				if got := servers[0].Attrs.Str(telemetry.AttrRequestID); got != id {
					t.Errorf("server span %s = %q, want %q", telemetry.AttrRequestID, got, id)
				}
				if n, _ := servers[0].Attrs.Int("http.response.status_code"); n != int64(tc.status) {
					t.Errorf("server span http.response.status_code = %d, want %d", n, tc.status)
				}
			})
		}
	}
}
