package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the demo against a freshly built binary: every example is
// printed with what the upstream received; the emergency number and the
// extension reach it as sent, kept on purpose; the wrong-country number and
// the unfixable one are 400s that reached nothing, and the wrong-country one
// is repaired with the right X-Callfix-Country.
func TestDemo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "callfix")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/callfix")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(bin, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		`upstream received: {"to":{"to":"tel:+13175551234"},"from":{"from":"user:2ca3b6e8-0000-4000-8000-000000000001"}}`,
		`upstream received: {"phoneNumber":"tel:+13175550100","callerId":"+13175550199","callerIdName":"Support"}`,
		`upstream received: {"phoneNumber":"tel:+442079460958;ext=12"}`,
		"status:            400 Bad Request",
		"callfix answered:  callfix.invalid.address",
		"client sent:       {\"phoneNumber\":\"911\"}\n   upstream received: {\"phoneNumber\":\"911\"}\n   status:            200 OK\n   kept as sent:      phoneNumber (emergency)\n",
		"client sent:       {\"phoneNumber\":\"tel:30005\"}\n   upstream received: {\"phoneNumber\":\"tel:30005\"}\n   status:            200 OK\n   kept as sent:      phoneNumber (extension)\n",
		"client sent:       {\"phoneNumber\":\"(02) 9374 4000\"}\n   upstream received: nothing\n   status:            400 Bad Request\n" +
			"   callfix answered:  callfix.invalid.address: callfix cannot repair 1 address: phoneNumber (\"(**) **** **00\") is not a valid number in US (read in US, the default country of region us-east-1; set `country` or send `X-Callfix-Country`)\n",
		"client sent:       {\"phoneNumber\":\"(02) 9374 4000\"} (with X-Callfix-Country: AU)\n   upstream received: {\"phoneNumber\":\"tel:+61293744000\"}\n   status:            200 OK\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "upstream received: nothing"); n != 2 {
		t.Errorf("%d examples reached nothing, want 2 (the wrong-country one and the unfixable one):\n%s", n, got)
	}
	if n := strings.Count(got, "kept as sent:"); n != 2 {
		t.Errorf("%d values kept as sent, want 2 (the emergency number and the extension):\n%s", n, got)
	}
}
