package telemetry_test

import (
	"os"
	"strings"
	"testing"
)

// TestMain removes the test runner's OTEL_* variables: the exporter and
// the SDK read the process environment, and a test sets what it needs
// (setOTEL).
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}
