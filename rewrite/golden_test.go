package rewrite_test

// Golden tests: every testdata/golden/NAME.in.json is a request body;
// NAME.want.json holds the exact bytes Rewrite must forward (Result.Body) and
// NAME.changes.txt its changes and problems, one a line:
//
//	skipped: not JSON
//	change participants[1].address phone "5551234567" -> "tel:+15551234567" (US)
//	problem phoneNumber too_short "123"
//
//	kept phoneNumber emergency "911"
//
// An optional NAME.args holds key=value words: country (default US), method
// (default POST), path (default /api/v2/conversations/calls), level
// (possible, valid or strict; default possible, for the 555 test numbers),
// extensions (a digit range; default 4-6, Genesys's Extension plan) and keep
// (an addresses.keep pattern without spaces; may be given several times).
//
// go test ./rewrite -run Golden -update rewrites the want and changes files
// from what the engine does now; check every line of the diff by hand before
// committing it.

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callfix/callfix/rewrite"
)

var updateGolden = invBoolFlag("update", "rewrite testdata/golden/*.want.json and *.changes.txt from the engine's output")

// invBoolFlag defines a boolean test flag, or shares it when another test file
// of the package (compiled into the same binary) has already defined it.
func invBoolFlag(name, usage string) func() bool {
	if f := flag.Lookup(name); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	v := flag.Bool(name, false, usage)
	return func() bool { return *v }
}

const goldenDir = "testdata/golden"

type goldenCase struct {
	name    string
	in      []byte
	country string
	method  string
	path    string
	level   rewrite.Level
	ext     rewrite.DigitRange
	keep    []string
}

func loadGoldenCases(t testing.TB) []goldenCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden cases in %s", goldenDir)
	}
	var cases []goldenCase
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".in.json")
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := goldenCase{name: name, in: in, country: "US", method: "POST", path: "/api/v2/conversations/calls", ext: rewrite.DefaultExtensionDigits}
		args, err := os.ReadFile(filepath.Join(goldenDir, name+".args"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, w := range strings.Fields(string(args)) {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				t.Fatalf("%s.args: %q is not key=value", name, w)
			}
			switch k {
			case "country":
				c.country = v
			case "method":
				c.method = v
			case "path":
				c.path = v
			case "level":
				if c.level, err = rewrite.ParseLevel(v); err != nil {
					t.Fatalf("%s.args: %v", name, err)
				}
			case "extensions":
				if c.ext, err = rewrite.ParseDigitRange(v); err != nil {
					t.Fatalf("%s.args: %v", name, err)
				}
			case "keep":
				c.keep = append(c.keep, v)
			default:
				t.Fatalf("%s.args: unknown key %q", name, k)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

func (c goldenCase) config(t testing.TB) invConfig {
	t.Helper()
	e, err := rewrite.New(rewrite.DefaultRules(), rewrite.Options{Level: c.level, ExtensionDigits: c.ext, Keep: c.keep})
	if err != nil {
		t.Fatal(err)
	}
	if e.Match(c.method, c.path) == nil {
		t.Fatalf("no route matches %s %s", c.method, c.path)
	}
	return invNewConfig("golden/"+c.name, e, c.method, c.path, c.country)
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.config(t)
			in := bytes.Clone(c.in)
			res := cfg.engine.Rewrite(cfg.route, in, cfg.country)
			got := invFormatResult(res)
			wantPath := filepath.Join(goldenDir, c.name+".want.json")
			changesPath := filepath.Join(goldenDir, c.name+".changes.txt")
			if updateGolden() {
				if err := os.WriteFile(wantPath, res.Body, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(changesPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			wantChanges, err := os.ReadFile(changesPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(res.Body, want) {
				t.Errorf("body:\n got %q\nwant %q", res.Body, want)
			}
			if got != string(wantChanges) {
				t.Errorf("changes:\n got:\n%s\nwant:\n%s", got, wantChanges)
			}
			if bytes.Equal(want, c.in) && len(res.Changes) == 0 && !invSameSlice(res.Body, in) {
				t.Errorf("nothing changed, but Body is not the input slice")
			}
			// Every golden case also holds every property.
			invCheck(t, cfg, c.in)
		})
	}
}

// TestGoldenCoversInvariants runs every golden input through all the
// property configurations (other countries, the custom rules, level valid).
func TestGoldenCoversInvariants(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		invCheckAll(t, c.in)
	}
}
