// Package telemetry turns what callfix sees into traces, metrics and audit
// records without leaking what it must not: it masks phone numbers by the
// configured policy, and builds tracer and meter providers from config,
// leaving the standard OTEL_* environment to the OpenTelemetry exporter and
// SDK that read it. It knows nothing of HTTP serving or routing: the
// caller names its upstreams (Telemetry.Upstream).
package telemetry
