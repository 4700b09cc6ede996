package testsupport_test

import (
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/callfix/callfix/internal/testsupport"
)

const module = "github.com/callfix/callfix/"

// mayImport reports whether the (non-test) package may depend on the test
// support packages: the rigs themselves, the e2e rig and the tooling apart
// from the product. Everything else is product code.
func mayImport(pkg string) bool {
	rel := strings.TrimPrefix(pkg, module)
	for _, p := range []string{"internal/testsupport", "e2e", "tools"} {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// No product package imports internal/testsupport or a rig under it,
// directly or through another package (test files aside: go list reports
// the dependencies of the non-test build).
func TestProductDoesNotImportTestSupport(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the packages: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var product int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || mayImport(f[0]) {
			continue
		}
		product++
		for _, dep := range f[1:] {
			if dep == module+"internal/testsupport" || strings.HasPrefix(dep, module+"internal/testsupport/") {
				t.Errorf("product package %s depends on %s (test support is for tests only)", f[0], dep)
			}
		}
	}
	if product < 5 {
		t.Fatalf("go list found only %d product packages; the check would pass vacuously:\n%s", product, out)
	}
}

func TestMayImport(t *testing.T) {
	for pkg, want := range map[string]bool{
		module + "proxy":                             false,
		module + "cmd/callfix":                       false,
		module + "internal/telemetry":                false,
		module + "internal/testsupportx":             false,
		module + "e2e":                               true,
		module + "e2e/rig":                           true,
		module + "tools/callfix-chaos":               true,
		module + "tools/callfix-demo":                true,
		module + "internal/testsupport/upstreamtest": true,
	} {
		if got := mayImport(pkg); got != want {
			t.Errorf("mayImport(%s) = %v, want %v", pkg, got, want)
		}
	}
}

func TestCleanEnv(t *testing.T) {
	got := testsupport.CleanEnv([]string{
		"PATH=/bin", "CALLFIX_MODE=enforce", "callfix_mode=x", "OTEL_EXPORTER_OTLP_ENDPOINT=http://x",
		"HTTP_PROXY=http://p", "https_proxy=http://p", "ALL_PROXY=socks5://p", "NO_PROXY=example.com",
		"HOME=/root", "XCALLFIX_A=1",
	})
	want := []string{"PATH=/bin", "HOME=/root", "XCALLFIX_A=1", "NO_PROXY=*", "no_proxy=*"}
	if !slices.Equal(got, want) {
		t.Errorf("CleanEnv = %q, want %q", got, want)
	}
}

func TestBuffer_ConcurrentWriters(t *testing.T) {
	var b testsupport.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("len = %d, want 800", n)
	}
}

func TestParseMetrics(t *testing.T) {
	fams, err := testsupport.ParseMetrics(strings.NewReader(
		"# TYPE callfix_config_reloads_total counter\ncallfix_config_reloads_total{result=\"success\"} 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := fams["callfix_config_reloads_total"].GetMetric()
	if len(m) != 1 || m[0].GetCounter().GetValue() != 2 || m[0].GetLabel()[0].GetValue() != "success" {
		t.Errorf("parsed %v", fams)
	}
	if _, err := testsupport.ParseMetrics(strings.NewReader("not metrics{\n")); err == nil {
		t.Error("invalid text parsed without an error")
	}
}
