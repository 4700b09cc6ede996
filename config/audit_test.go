package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
)

// audit.flush_interval and audit.buffer_bytes at their edges: 0 and the
// maximum are accepted, one step past either end is refused with the key
// named; both are read from the environment too.
func TestLoad_AuditBatchBounds(t *testing.T) {
	ok := func(body string, interval time.Duration, size config.ByteSize) {
		t.Helper()
		s := mustSnapshot(t, config.Options{File: writeConfig(t, "audit:\n"+body)})
		if s.Config.Audit.FlushInterval != interval || s.Config.Audit.BufferBytes != size {
			t.Errorf("%q: flush_interval %s, buffer_bytes %d; want %s, %d", body, s.Config.Audit.FlushInterval, s.Config.Audit.BufferBytes, interval, size)
		}
	}
	bad := func(body, key string) {
		t.Helper()
		got := loadProblems(t, config.Options{File: writeConfig(t, "audit:\n"+body)})
		if len(got) != 1 || !strings.HasPrefix(got[0], key+" ") {
			t.Errorf("%q: problems = %q, want one about %s", body, got, key)
		}
	}
	ok("  enabled: true\n", 100*time.Millisecond, 64<<10) // the defaults
	ok("  flush_interval: 0s\n  buffer_bytes: 0\n", 0, 0)
	ok("  flush_interval: 10s\n  buffer_bytes: 16MiB\n", 10*time.Second, 16<<20)
	ok("  flush_interval: 1ms\n  buffer_bytes: 1\n", time.Millisecond, 1)
	bad("  flush_interval: 10001ms\n", "audit.flush_interval")
	bad("  flush_interval: -1ns\n", "audit.flush_interval")
	bad("  buffer_bytes: 16777217\n", "audit.buffer_bytes")
	bad("  buffer_bytes: -1\n", "audit.buffer_bytes")

	s := mustSnapshot(t, config.Options{Env: []string{"CALLFIX_AUDIT_FLUSH_INTERVAL=250ms", "CALLFIX_AUDIT_BUFFER_BYTES=1MiB"}})
	if s.Config.Audit.FlushInterval != 250*time.Millisecond || s.Config.Audit.BufferBytes != 1<<20 {
		t.Errorf("from the environment: %s, %d", s.Config.Audit.FlushInterval, s.Config.Audit.BufferBytes)
	}
	for _, name := range []string{"audit.flush_interval", "audit.buffer_bytes"} {
		found := false
		for _, k := range config.Keys() {
			if k.Name == name {
				found = true
				if k.Reloadable {
					t.Errorf("%s is reloadable; the audit writer is built once at start", name)
				}
			}
		}
		if !found {
			t.Errorf("%s is not a key", name)
		}
	}
}
