// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: a
// net/http server on a loopback port that accepts what an OpenTelemetry
// exporter sends to POST /v1/traces (application/x-protobuf, plain or
// gzip-encoded), keeps every span it received, and lets a test wait for
// spans and find them by name, trace or parent.
//
// It decodes the wire format with go.opentelemetry.io/proto/otlp, so a test
// sees exactly what a collector would: nothing of the SDK's in-memory
// state leaks into the assertions.
package otlptest
