package config_test

// Golden tests of whole configuration files.
//
// Every testdata/NAME.good.yaml must load: NAME.good.want holds the effective
// configuration exactly as Render prints it for LoadSnapshot's Snapshot, so
// the whole struct is pinned, region-derived values and the source of every
// value included.
//
// Every testdata/NAME.bad.yaml must be refused: NAME.bad.want holds the
// problems LoadSnapshot reports, one a line, in order.
//
// go test ./config -run Golden -update rewrites the want files from what the
// package does now; check every line of the diff by hand before committing.

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
)

var updateGolden = configBoolFlag("update", "rewrite testdata/*.good.want and *.bad.want from what the package does now")

// configBoolFlag defines a boolean test flag, or shares it when another test
// file of the package (compiled into the same binary) has already defined it.
func configBoolFlag(name, usage string) func() bool {
	if f := flag.Lookup(name); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	v := flag.Bool(name, false, usage)
	return func() bool { return *v }
}

// goldenFiles returns the testdata files ending in suffix, such as .good.yaml,
// with their case names.
func goldenFiles(t *testing.T, suffix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/*%s files", suffix)
	}
	out := map[string]string{}
	for _, f := range files {
		out[strings.TrimSuffix(filepath.Base(f), suffix)] = f
	}
	return out
}

// checkGolden compares got with the file want, or rewrites it under -update.
func checkGolden(t *testing.T, want string, got []byte) {
	t.Helper()
	if updateGolden() {
		if err := os.WriteFile(want, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run Golden -update to create it, then check it by hand)", err)
	}
	if !bytes.Equal(got, w) {
		t.Errorf("%s differs:\n%s", want, lineDiff(string(w), string(got)))
	}
}

// lineDiff lists the lines of want and got that differ, by position.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("  line " + strconv.Itoa(i+1) + ":\n    got:  " + g + "\n    want: " + w + "\n")
		}
	}
	return b.String()
}

// problemsOf returns the problems in err, which must be config.Problems.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var p config.Problems
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T) is not config.Problems", err, err)
	}
	return p.Strings()
}

func TestGolden_GoodFilesRenderAsWant(t *testing.T) {
	for name, file := range goldenFiles(t, ".good.yaml") {
		t.Run(name, func(t *testing.T) {
			s, err := config.LoadSnapshot(config.Options{File: file})
			if err != nil {
				t.Fatalf("LoadSnapshot(%s) failed:\n%v", file, err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".want", config.Render(s))
		})
	}
}

func TestGolden_BadFilesReportEveryProblem(t *testing.T) {
	for name, file := range goldenFiles(t, ".bad.yaml") {
		t.Run(name, func(t *testing.T) {
			s, err := config.LoadSnapshot(config.Options{File: file})
			if err == nil {
				t.Fatalf("LoadSnapshot(%s) = a snapshot, want problems; it renders as:\n%s", file, config.Render(s))
			}
			if s != nil {
				t.Errorf("LoadSnapshot(%s) returned a snapshot with its problems, want nil", file)
			}
			probs := problemsOf(t, err)
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".want", []byte(strings.Join(probs, "\n")+"\n"))
		})
	}
}

// TestGolden_WantFilesHaveTheirYAML catches a want file left behind by a
// renamed or deleted case.
func TestGolden_WantFilesHaveTheirYAML(t *testing.T) {
	for _, kind := range []string{".good", ".bad"} {
		for name, want := range goldenFiles(t, kind+".want") {
			if _, err := os.Stat(filepath.Join("testdata", name+kind+".yaml")); err != nil {
				t.Errorf("%s has no %s%s.yaml beside it", want, name, kind)
			}
		}
	}
}

// problemSubject matches what a problem line starts with: the key (or the
// section, rule, environment variable, flag or file) it is about.
var problemSubject = regexp.MustCompile(`^(config file \S+|--set [a-z_.]+|CALLFIX_[A-Z_]+|rules\[\d+\](\.fields\[\d+\])?\.[a-z]+|[a-z_]+(\.[a-z_]+)*(\[\d+\])?)( \((in|from) [^)]*\))?: `)

// fixWords are the phrases with which a problem says how to fix it.
// A YAML syntax error says where instead: the line to fix.
var fixWords = []string{"use ", "write ", "set ", "did you mean", "remove", "add ", "give ", "put ", "check ", "list ", "start it with", "leave it",
	"a rule has", "a field has", "only ", "needs ", "at most ", "is not valid YAML: line "}

// TestGolden_EveryProblemNamesItsKeyAndAFix holds the form of every problem
// of every bad file: "key: what is wrong: how to fix it".
func TestGolden_EveryProblemNamesItsKeyAndAFix(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range config.Keys() {
		parts := strings.Split(k.Name, ".")
		for i := range parts {
			keys[strings.Join(parts[:i+1], ".")] = true // the key and its sections
		}
	}
	for name, file := range goldenFiles(t, ".bad.yaml") {
		_, err := config.LoadSnapshot(config.Options{File: file})
		if err == nil {
			continue // reported by TestGolden_BadFilesReportEveryProblem
		}
		for _, p := range problemsOf(t, err) {
			m := problemSubject.FindStringSubmatch(p)
			if m == nil {
				t.Errorf("%s: problem %q does not start with the key it is about", name, p)
				continue
			}
			subject := m[1]
			if i := strings.IndexByte(subject, '['); i > 0 && !strings.HasPrefix(subject, "rules[") {
				subject = subject[:i] // an item of a list key, such as addresses.keep[1]
			}
			known := keys[subject] || strings.HasPrefix(subject, "config file ") || strings.HasPrefix(subject, "rules[") ||
				strings.HasPrefix(subject, "CALLFIX_") || strings.HasPrefix(subject, "--set ")
			// An unknown key names itself: it is known to be unknown.
			if !known && !strings.Contains(p, ": unknown key") {
				t.Errorf("%s: problem %q names %q, which is not a key or section", name, p, subject)
			}
			if !slices.ContainsFunc(fixWords, func(w string) bool { return strings.Contains(p, w) }) {
				t.Errorf("%s: problem %q does not say how to fix it", name, p)
			}
		}
	}
}

// TestGolden_FullSetsEveryKey keeps full.good.yaml complete: when a key is
// added to Config, it must be added there too (and to full.good.want).
func TestGolden_FullSetsEveryKey(t *testing.T) {
	s, err := config.LoadSnapshot(config.Options{File: "testdata/full.good.yaml"})
	if err != nil {
		t.Fatalf("LoadSnapshot(full.good.yaml) failed:\n%v", err)
	}
	for _, k := range config.Keys() {
		if got := s.Sources[k.Name]; got != config.SourceFile {
			t.Errorf("Sources[%q] = %q, want %q: set %s in testdata/full.good.yaml", k.Name, got, config.SourceFile, k.Name)
		}
	}
}

// TestGolden_RenderReadsBack holds Render's promise that callfix can read
// its output back: loading the rendered YAML gives the same configuration.
func TestGolden_RenderReadsBack(t *testing.T) {
	for name, file := range goldenFiles(t, ".good.yaml") {
		t.Run(name, func(t *testing.T) {
			s, err := config.LoadSnapshot(config.Options{File: file})
			if err != nil {
				t.Fatalf("LoadSnapshot(%s) failed:\n%v", file, err)
			}
			rendered := filepath.Join(t.TempDir(), "rendered.yaml")
			if err := os.WriteFile(rendered, config.Render(s), 0o644); err != nil {
				t.Fatal(err)
			}
			again, err := config.LoadSnapshot(config.Options{File: rendered})
			if err != nil {
				t.Fatalf("LoadSnapshot(Render(%s)) failed:\n%v\nrendered:\n%s", file, err, config.Render(s))
			}
			want, got := s.Config, again.Config
			// Secrets are rendered redacted, so they cannot come back.
			want.MaskKey, got.MaskKey = "", ""
			want.Tracing.Headers, got.Tracing.Headers = nil, nil
			if w, g := want.String(), got.String(); w != g {
				t.Errorf("Render(%s) read back differs:\n%s", file, lineDiff(w, g))
			}
		})
	}
}
