// Package telemetry turns what callfix sees into traces, metrics and audit
// records without leaking what it must not: it masks phone numbers by the
// configured policy, and builds tracer and meter providers from config and
// the standard OTEL_* environment. It knows nothing of HTTP routing.
package telemetry
