package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
)

// server.shutdown_delay at its edge: 0 (close the listener at once) is
// valid, a nanosecond below it is not; the default is 5s.
func TestValidate_ShutdownDelayAtItsEdge(t *testing.T) {
	f := func(d time.Duration, wantOK bool) {
		t.Helper()
		c := config.Defaults()
		c.Server.ShutdownDelay = d
		err := config.Validate(&c)
		if (err == nil) != wantOK {
			t.Errorf("server.shutdown_delay %s: Validate = %v, want ok %v", d, err, wantOK)
		}
		if err != nil && !strings.Contains(err.Error(), "server.shutdown_delay: must not be negative") {
			t.Errorf("server.shutdown_delay %s: problem %q does not name the key and the rule", d, err)
		}
	}
	f(0, true)
	f(time.Nanosecond, true)
	f(-time.Nanosecond, false)
	f(-5*time.Second, false)
	if got := config.Defaults().Server.ShutdownDelay; got != 5*time.Second {
		t.Errorf("default server.shutdown_delay = %s, want 5s", got)
	}
	snap, err := config.LoadSnapshot(config.Options{Env: []string{"CALLFIX_SERVER_SHUTDOWN_DELAY=0s"}})
	if err != nil || snap.Config.Server.ShutdownDelay != 0 {
		t.Errorf("CALLFIX_SERVER_SHUTDOWN_DELAY=0s: %v, %v; want a delay of 0", snap, err)
	}
}
