package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun_UsageErrors_Exit2(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("run %v = %d, stderr %q; want 2 and %q", args, code, errb.String(), want)
		}
	}
	f(`"nope" is not a scenario`, "-callfix", os.Args[0], "-only", "stale,nope")
	f("must be positive", "-callfix", os.Args[0], "-n", "0")
	f("at least 10s", "-callfix", os.Args[0], "-soak", "1s")
	f("run make build first", "-callfix", filepath.Join(t.TempDir(), "missing"))
	f("unexpected argument", "-callfix", os.Args[0], "extra")
	f("flag provided but not defined", "-bogus")
}

// The campaign runs against the real binary, small: a few hundred POSTs
// with faults and stale connections, every promise held.
func TestRun_SmallCampaignAgainstTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs callfix")
	}
	bin := filepath.Join(t.TempDir(), "callfix")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/callfix")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errb bytes.Buffer
	code := run([]string{"-callfix", bin, "-only", "at-most-once,stale", "-n", "300", "-concurrency", "16", "-stale-n", "300"}, &out, &errb)
	t.Logf("\n%s", out.String())
	if code != 0 {
		t.Errorf("exit %d, want 0 (no breach):\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"| at-most-once | duplicates: markers the upstream received twice | 0 | 0 | ok |",
		"| stale keep-alive | GETs that failed | 0 | 0 | ok |", "no breach", "CPUs (nproc)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
