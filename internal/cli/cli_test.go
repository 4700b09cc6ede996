package cli

import (
	"bytes"
	"strings"
	"testing"
)

func run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(args, Env{Stdin: strings.NewReader(`{"phoneNumber":"(317) 222-4567"}`), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func TestRun_ExitCodes(t *testing.T) {
	f := func(wantCode int, args ...string) {
		t.Helper()
		if _, errOut, code := run(args...); code != wantCode {
			t.Errorf("callfix %v: exit = %d, want %d; stderr %q", args, code, wantCode, errOut)
		}
	}
	f(ExitOK, "check")
	f(ExitOK, "version")
	f(ExitOK, "regions")
	f(ExitOK, "help")
	f(ExitOK, "help", "check")
	f(ExitOK, "--help")
	f(ExitOK, "config")
	f(ExitUsage, "nonsense")
	f(ExitUsage, "check", "--mode", "loud")
	f(ExitUsage, "regions", "extra")
	f(ExitUsage, "config", "file.yaml")
	f(ExitUsage, "serve", "--region", "nowhere")
	f(ExitUsage, "--region", "nowhere") // callfix [flags] is serve
}

func TestRun_CheckWritesTheForwardedBody(t *testing.T) {
	out, errOut, code := run("check")
	if want := `{"phoneNumber":"tel:+13172224567"}`; out != want || code != 0 {
		t.Errorf("stdout = %q (exit %d), want %q", out, code, want)
	}
	if !strings.HasPrefix(errOut, `change phoneNumber phone "(317) 222-4567" -> "tel:+13172224567" (US)`) {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestRun_HelpListsEveryCommand(t *testing.T) {
	out, _, _ := run("help")
	for _, c := range []string{"callfix [serve]", "callfix check", "callfix config", "callfix regions", "callfix version"} {
		if !strings.Contains(out, c) {
			t.Errorf("help does not list %q:\n%s", c, out)
		}
	}
	out, _, _ = run("serve", "--help")
	for _, f := range []string{"--config", "--listen", "--admin-listen", "--region", "--mode", "--country", "--upstream-api", "--upstream-login", "--set", "SIGTERM", "Exit status"} {
		if !strings.Contains(out, f) {
			t.Errorf("serve --help does not mention %s", f)
		}
	}
}

func TestRun_SetNeedsKeyValue(t *testing.T) {
	_, errOut, code := run("config", "--set", "novalue")
	if code != ExitUsage || !strings.Contains(errOut, "write KEY=VALUE") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
