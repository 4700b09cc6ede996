package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped example configurations must always load: a user copies them.
func TestExamples_Validate(t *testing.T) {
	files, _ := filepath.Glob("../deploy/examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d example configs, want at least 3", len(files))
	}
	for _, f := range files {
		if _, err := LoadSnapshot(Options{File: f}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Every key is documented in docs/CONFIG.md with its environment variable.
func TestDocs_ListEveryKey(t *testing.T) {
	b, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range Keys() {
		if !strings.Contains(doc, "| `"+k.Name+"` |") {
			t.Errorf("docs/CONFIG.md has no row for %s", k.Name)
		}
		if k.Name != "rules" && k.Name != "clients" && !strings.Contains(doc, "`"+k.Env+"`") { // file only
			t.Errorf("docs/CONFIG.md does not name %s", k.Env)
		}
		if k.Flag != "" && !strings.Contains(doc, "`--"+k.Flag+"`") {
			t.Errorf("docs/CONFIG.md does not name --%s", k.Flag)
		}
		if !k.Reloadable && !strings.Contains(lineOf(doc, "| `"+k.Name+"` |"), "Not reloadable") {
			t.Errorf("docs/CONFIG.md does not say %s is not reloadable", k.Name)
		}
	}
}

func lineOf(doc, prefix string) string {
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
