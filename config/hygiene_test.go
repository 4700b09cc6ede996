package config_test

import (
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
)

// The request-hygiene limits take a positive number: 1 is the smallest
// accepted, 0 and below are problems naming the key.
func TestLoad_RequestHygieneLimits_PositiveOnly(t *testing.T) {
	f := func(section, key string, get func(*config.Config) int) {
		t.Helper()
		s := mustSnapshot(t, config.Options{File: writeConfig(t, section+":\n  "+key+": 1\n")})
		if got := get(&s.Config); got != 1 {
			t.Errorf("%s.%s: 1 = %d", section, key, got)
		}
		for _, v := range []string{"0", "-1"} {
			got := loadProblems(t, config.Options{File: writeConfig(t, section+":\n  "+key+": "+v+"\n")})
			if len(got) != 1 || !strings.HasPrefix(got[0], section+"."+key+" ") {
				t.Errorf("%s.%s: %s: problems = %q, want one about the key", section, key, v, got)
			}
		}
	}
	f("server", "max_method_bytes", func(c *config.Config) int { return c.Server.MaxMethodBytes })
	f("limits", "max_content_codings", func(c *config.Config) int { return c.Limits.MaxContentCodings })
	f("limits", "max_details", func(c *config.Config) int { return c.Limits.MaxDetails })
	d := config.Defaults()
	if d.Server.MaxMethodBytes != 20 || d.Limits.MaxContentCodings != 2 || d.Limits.MaxDetails != 20 {
		t.Errorf("defaults = %d, %d, %d, want 20, 2, 20", d.Server.MaxMethodBytes, d.Limits.MaxContentCodings, d.Limits.MaxDetails)
	}
}
