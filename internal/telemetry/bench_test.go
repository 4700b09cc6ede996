package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/telemetry"
)

// The per-request metric calls, without tracing or an audit log: what
// every request pays.
func BenchmarkPassthrough(b *testing.B) {
	tel := newTel(b, telemetry.Options{})
	b.ReportAllocs()
	for b.Loop() {
		tel.Passthrough(tel.Upstream("api"), 200, 3*time.Millisecond)
	}
}

func BenchmarkIntercepted_Metrics(b *testing.B) {
	tel := newTel(b, telemetry.Options{})
	r := sampleRecord()
	r.UpstreamLabel = tel.Upstream("api")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tel.Intercepted(ctx, r)
	}
}
