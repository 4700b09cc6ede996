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
// printed with what the upstream received, and the unfixable one is a 400
// that reached nothing.
func TestDemo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "callfix")
	build := exec.Command("go", "build", "-o", bin, "../callfix")
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
		`upstream received: {"to":{"to":"tel:+15551234567"},"from":{"from":"user:2ca3b6e8-0000-4000-8000-000000000001"}}`,
		`upstream received: {"phoneNumber":"tel:+13175550100","callerId":"+13175550199","callerIdName":"Support"}`,
		`upstream received: {"phoneNumber":"tel:+442079460958;ext=12"}`,
		"status:            400 Bad Request",
		"callfix answered:  callfix.invalid.address",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "upstream received: nothing"); n != 1 {
		t.Errorf("%d examples reached nothing, want 1 (the unfixable one):\n%s", n, got)
	}
}
