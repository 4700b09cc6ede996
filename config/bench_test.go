package config_test

import (
	"testing"

	"github.com/callfix/callfix/config"
)

// benchEnv sets a value of every kind from the environment, over the file.
var benchEnv = []string{
	"CALLFIX_MODE=audit", "CALLFIX_UPSTREAM_TIMEOUT=30s", "CALLFIX_LIMITS_MAX_BODY_BYTES=4MiB",
	"CALLFIX_GATEWAY_API_PREFIXES=/api,/x", "CALLFIX_TRACING_SAMPLE_RATIO=0.5", "CALLFIX_AUDIT_ENABLED=true",
	"PATH=/usr/bin", "HOME=/root",
}

// BenchmarkLoad reads every key from a file, with values of every kind
// over it from the environment: what a start or a reload reads.
func BenchmarkLoad(b *testing.B) {
	opts := config.Options{File: "testdata/full.good.yaml", Env: benchEnv}
	for b.Loop() {
		if _, err := config.Load(opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadSnapshot is Load, validation and Build: the whole of a
// reload before the swap.
func BenchmarkLoadSnapshot(b *testing.B) {
	opts := config.Options{File: "testdata/full.good.yaml", Env: benchEnv}
	for b.Loop() {
		if _, err := config.LoadSnapshot(opts); err != nil {
			b.Fatal(err)
		}
	}
}
