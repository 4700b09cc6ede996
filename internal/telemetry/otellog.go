package telemetry

import (
	"log/slog"

	"github.com/go-logr/logr"
)

// otelLog is the OpenTelemetry libraries' own log (otel.SetLogger): what
// the exporter says about the OTEL_* variables it reads (one it cannot
// parse, say) goes to callfix's log, not to the standard logger (stderr,
// where the audit log goes by default). It keeps the message and the
// error only, never the values the library quotes: a header entry of
// OTEL_EXPORTER_OTLP_HEADERS may hold a key. Their warnings (verbosity 1)
// are warnings; their info and debug lines are dropped.
type otelLog struct{ log *slog.Logger }

func (otelLog) Init(logr.RuntimeInfo)            {}
func (otelLog) Enabled(level int) bool           { return level <= 1 }
func (l otelLog) WithValues(...any) logr.LogSink { return l }
func (l otelLog) WithName(string) logr.LogSink   { return l }

func (l otelLog) Info(level int, msg string, _ ...any) {
	if level <= 1 {
		l.log.Warn("OpenTelemetry: " + msg)
	}
}

func (l otelLog) Error(err error, msg string, _ ...any) {
	l.log.Warn("OpenTelemetry: "+msg, "error", err.Error())
}
