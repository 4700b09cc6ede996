package telemetry

import sdktrace "go.opentelemetry.io/otel/sdk/trace"

// WithSpanProcessor returns opts with sp receiving every span, for tests
// that record spans in memory.
func WithSpanProcessor(opts Options, sp sdktrace.SpanProcessor) Options {
	opts.spanProcessor = sp
	return opts
}
