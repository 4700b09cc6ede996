package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/callfix/callfix/internal/testsupport"
)

// binary is the callfix binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callfix-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "callfix")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building callfix: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes the binary and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, nil, stdin, args...)
}

// runEnv is run with extra environment variables; CALLFIX_* variables of
// the test process are not passed on.
func runEnv(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = "testdata"
	cmd.Env = append(testsupport.CleanEnv(os.Environ()), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running callfix %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestCheck_SeedShape_RepairsToAndFrom(t *testing.T) {
	out, errOut, code := run(t, "", "check", "seed.json")
	want := `{"to":{"to":"tel:+13172224567"},"from":{"from":"user:2ca3b6e8-0000-4000-8000-000000000001"}}`
	if out != want || code != 0 {
		t.Errorf("stdout = %q (exit %d), want %q (exit 0)", out, code, want)
	}
	wantErr := "change to.to phone \"13172224567\" -> \"tel:+13172224567\" (US)\n" +
		"change from.from user \"2ca3b6e8-0000-4000-8000-000000000001\" -> \"user:2ca3b6e8-0000-4000-8000-000000000001\"\n"
	if errOut != wantErr {
		t.Errorf("stderr = %q, want %q", errOut, wantErr)
	}
}

func TestCheck_CreateCallRequest_RepairsEveryAddressField(t *testing.T) {
	out, errOut, code := run(t, "", "check", "create.json")
	want := `{"phoneNumber":"tel:+13172224567","callerId":"+13175550199","participants":[{"address":"tel:+442079460958"},{"address":"user:2CA3B6E8-0000-4000-8000-000000000001"}],"callUserId":"2ca3b6e8-0000-4000-8000-000000000001"}`
	if out != want || code != 0 {
		t.Errorf("stdout = %q (exit %d), want %q (exit 0)", out, code, want)
	}
	if n := strings.Count(errOut, "\n"); n != 4 || !strings.Contains(errOut, "change participants[0].address phone \"+44 20 7946 0958\" -> \"tel:+442079460958\" (GB)\n") {
		t.Errorf("stderr = %q, want 4 change lines including participants[0].address", errOut)
	}
}

func TestCheck_Stdin_And_Dash(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"check", "-"}} {
		out, _, code := run(t, `{"phoneNumber":"3172224567"}`, args...)
		if want := `{"phoneNumber":"tel:+13172224567"}`; out != want || code != 0 {
			t.Errorf("%v: stdout = %q (exit %d), want %q (exit 0)", args, out, code, want)
		}
	}
}

func TestCheck_Enforce_Rejects_With400Body(t *testing.T) {
	out, errOut, code := run(t, "", "check", "unfixable.json")
	if code != 1 {
		t.Fatalf("exit = %d, want 1; stderr %q", code, errOut)
	}
	var body struct {
		Message, Code, ContextID string
		Status                   int
		Details                  []struct{ ErrorCode, FieldName string }
		Errors                   []any
	}
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("stdout is not a JSON error body: %v: %q", err, out)
	}
	if body.Code != "callfix.invalid.address" || body.Status != 400 || len(body.Details) != 1 || body.Details[0].FieldName != "phoneNumber" {
		t.Errorf("body = %+v, want code callfix.invalid.address, status 400, one detail for phoneNumber", body)
	}
	if strings.Contains(out, "FLOWERS") || strings.Contains(out, "1-800") {
		t.Errorf("400 body shows the unmasked value: %s", out)
	}
	if !strings.HasPrefix(errOut, "problem phoneNumber invalid_characters \"1-800-FLOWERS\": ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr = %q, want one problem line for phoneNumber", errOut)
	}
}

func TestCheck_RewriteMode_ForwardsUnfixable(t *testing.T) {
	in, _ := os.ReadFile("testdata/unfixable.json")
	out, _, code := run(t, "", "check", "--mode", "rewrite", "unfixable.json")
	if out != string(in) || code != 0 {
		t.Errorf("stdout = %q (exit %d), want the input unchanged (exit 0)", out, code)
	}
}

func TestCheck_AuditMode_NeverChangesAByte(t *testing.T) {
	in, _ := os.ReadFile("testdata/create.json")
	out, errOut, code := run(t, "", "check", "create.json", "--mode=audit")
	if out != string(in) || code != 0 {
		t.Errorf("stdout = %q (exit %d), want the input unchanged (exit 0)", out, code)
	}
	if !strings.Contains(errOut, "change phoneNumber") {
		t.Errorf("stderr = %q, want the changes audit would have made", errOut)
	}
}

func TestCheck_RegionAndCountry_SelectNumberingPlan(t *testing.T) {
	want := `{"phoneNumber":"tel:+442079460958"}`
	for _, args := range [][]string{
		{"check", "--region", "eu-west-2", "gb.json"},
		{"check", "--region", "euw2.pure.cloud", "gb.json"},
		{"check", "--country", "GB", "gb.json"},
		{"check", "gb.json", "--country", "gb"},
	} {
		out, errOut, code := run(t, "", args...)
		if out != want || code != 0 {
			t.Errorf("%v: stdout = %q (exit %d, stderr %q), want %q", args, out, code, errOut, want)
		}
	}
}

func TestCheck_PathSelectsRule(t *testing.T) {
	body := `{"phoneNumber":"3172224567"}`
	out, errOut, code := run(t, body, "check", "--path", "/api/v2/users/me", "--method", "GET")
	if out != body || code != 0 || !strings.HasPrefix(errOut, "pass GET /api/v2/users/me: no rule matches") {
		t.Errorf("stdout = %q stderr = %q (exit %d), want the body unchanged and a pass line", out, errOut, code)
	}
	out, _, _ = run(t, body, "check", "--path", "/api/v2/conversations/calls/user/abc?x=1")
	if want := `{"phoneNumber":"tel:+13172224567"}`; out != want {
		t.Errorf("user route: stdout = %q, want %q", out, want)
	}
}

// A body that is not one JSON object is forwarded as sent in the rewrite
// and audit modes, and rejected in enforce mode with the 400
// callfix.bad.request body the proxy answers.
func TestCheck_NotJSON_ForwardedAsSentOrRejectedInEnforce(t *testing.T) {
	for _, mode := range []string{"rewrite", "audit"} {
		out, errOut, code := run(t, "", "check", "--mode", mode, "notjson.txt")
		if out != "not json" || code != 0 || errOut != "skip not JSON: forwarded as sent\n" {
			t.Errorf("%s: stdout = %q stderr = %q (exit %d)", mode, out, errOut, code)
		}
	}
	f := func(body, wantSkip, wantWhy string) {
		t.Helper()
		out, errOut, code := run(t, body, "check")
		if code != 1 || errOut != "reject "+wantSkip+": enforce mode answers 400 callfix.bad.request\n" {
			t.Errorf("%q: stderr = %q (exit %d), want a reject line and exit 1", body, errOut, code)
		}
		var b struct {
			Code    string `json:"code"`
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil || b.Code != "callfix.bad.request" || b.Status != 400 || !strings.Contains(b.Message, wantWhy) {
			t.Errorf("%q: stdout = %q, want the 400 callfix.bad.request body saying %q", body, out, wantWhy)
		}
	}
	f("not json", "not JSON", "not JSON")
	f(`{"phoneNumber":"5551234567"} {"phoneNumber":"abc"}`, "trailing data", "after the JSON object")
	f("{\x00\"\x00}\x00", "not UTF-8", "UTF-8")
	f(`[{"phoneNumber":"abc"}]`, "not a JSON object", "not a JSON object")
	// Empty is forwarded in enforce mode too.
	if out, errOut, code := run(t, " ", "check"); out != " " || code != 0 || errOut != "skip empty body: forwarded as sent\n" {
		t.Errorf("empty: stdout = %q stderr = %q (exit %d)", out, errOut, code)
	}
}

// A --path the proxy would refuse (not in normal form) is rejected in
// every mode, with the proxy's 400 body.
func TestCheck_PathNotInNormalForm_Rejected(t *testing.T) {
	for _, mode := range []string{"enforce", "audit"} {
		out, errOut, code := run(t, `{"phoneNumber":"abc"}`, "check", "--mode", mode, "--path", "/api/v2/conversations/%63alls")
		if code != 1 || !strings.HasPrefix(errOut, "reject path ") || !strings.Contains(out, `"code":"callfix.bad.request"`) || !strings.Contains(out, "normal form") {
			t.Errorf("%s: stdout = %q stderr = %q (exit %d), want the 400 body and exit 1", mode, out, errOut, code)
		}
	}
	if out, _, code := run(t, `{}`, "check", "--path", "/api/v2/conversations/calls/?a=%63&b=..//"); code != 0 || out != "{}" {
		t.Errorf("normal path with an odd query: stdout = %q (exit %d), want it forwarded", out, code)
	}
}

func TestCheck_UsageErrors_Exit2(t *testing.T) {
	f := func(wantErr string, args ...string) {
		t.Helper()
		out, errOut, code := run(t, "{}", args...)
		if code != 2 || out != "" || !strings.Contains(errOut, wantErr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr containing %q", args, code, out, errOut, wantErr)
		}
	}
	f(`region (from --region): "mars-1" is not a Genesys Cloud region: use one of us-east-1`, "check", "--region", "mars-1")
	f(`country (from --country): "XX" is not an ISO 3166 alpha-2 country`, "check", "--country", "XX")
	f(`mode (from --mode): "block" is not a mode: use enforce, rewrite or audit`, "check", "--mode", "block")
	f(`validation (from --set): "exact" is not a validation level: use valid, possible or strict`, "check", "--validation", "exact")
	f(`limits.max_body_bytes (from --set): "lots" is not a byte size`, "check", "--set", "limits.max_body_bytes=lots")
	f(`--set regoin: unknown key: did you mean region?`, "check", "--set", "regoin=x")
	f("flag provided but not defined: -nope", "check", "--nope")
	f("cannot read the body", "check", "missing.json")
	f("one FILE at most", "check", "a.json", "b.json")
	f(`unknown command "frobnicate"`, "frobnicate")
}

func TestHelp_DocumentsEveryCheckFlag(t *testing.T) {
	errOut, _, code := run(t, "", "check", "--help")
	if code != 0 {
		t.Errorf("check --help exit = %d, want 0", code)
	}
	for _, flag := range []string{"--region", "--country", "--mode", "--method", "--path", "--validation", "--mask", "Exit status"} {
		if !strings.Contains(errOut, flag) {
			t.Errorf("check --help does not mention %s:\n%s", flag, errOut)
		}
	}
	out, _, code := run(t, "", "--help")
	if code != 0 || !strings.Contains(out, "callfix check") {
		t.Errorf("--help = %q (exit %d)", out, code)
	}
}

func TestRegionsAndVersion(t *testing.T) {
	out, _, code := run(t, "", "regions")
	if code != 0 || strings.Count(out, "\n") != 19 || !strings.Contains(out, "https://api.mypurecloud.ie") {
		t.Errorf("regions = %q (exit %d), want a header and 18 regions", out, code)
	}
	out, _, code = run(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "callfix ") {
		t.Errorf("version = %q (exit %d)", out, code)
	}
}

func TestCheck_ConfigLayers(t *testing.T) {
	want := `{"phoneNumber":"tel:+442079460958"}`
	out, errOut, code := runEnv(t, []string{"CALLFIX_REGION=eu-west-2"}, "", "check", "gb.json")
	if out != want || code != 0 {
		t.Errorf("CALLFIX_REGION: stdout = %q (exit %d, stderr %q), want %q", out, code, errOut, want)
	}
	out, errOut, code = runEnv(t, []string{"CALLFIX_CONFIG=gb.yaml"}, "", "check", "gb.json")
	if out != want || code != 0 {
		t.Errorf("CALLFIX_CONFIG: stdout = %q (exit %d, stderr %q), want %q", out, code, errOut, want)
	}
	// Flags beat the environment, which beats the file.
	// 020 7946 0958 is not a possible US number: a US reading rejects it.
	out, errOut, code = runEnv(t, []string{"CALLFIX_COUNTRY=US"}, "", "check", "--config", "gb.yaml", "gb.json")
	if code != 1 || !strings.Contains(out, "callfix.invalid.address") || !strings.Contains(errOut, "(read as a number of US)") {
		t.Errorf("env over file: stdout = %q stderr = %q (exit %d), want a 400 body from a US reading (exit 1)", out, errOut, code)
	}
	out, _, code = runEnv(t, []string{"CALLFIX_COUNTRY=US"}, "", "check", "--config", "gb.yaml", "--country", "GB", "gb.json")
	if out != want || code != 0 {
		t.Errorf("flag over env: stdout = %q (exit %d), want %q", out, code, want)
	}
}

func TestConfig_PrintsEffectiveConfigWithSources(t *testing.T) {
	out, errOut, code := runEnv(t, []string{"CALLFIX_MODE=audit", "CALLFIX_MASK_KEY=topsecret"}, "", "config", "--config", "gb.yaml", "--listen", ":9999")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		`listen: ":9999"  # flag`,
		`mode: "audit"  # env`,
		`region: "eu-west-2"  # file`,
		`country: "GB"  # region`,
		`  api: "https://api.euw2.pure.cloud"  # region`,
		`admin_listen: "127.0.0.1:9090"  # default`,
		`mask_key: "[redacted]"  # env`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "topsecret") {
		t.Errorf("config output shows a secret:\n%s", out)
	}
}

func TestConfig_TypoIsAnError(t *testing.T) {
	_, errOut, code := runEnv(t, []string{"CALLFIX_REGOIN=eu-west-2"}, "", "config", "--config", "typo.yaml")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{
		"upstream.timout (in typo.yaml): unknown key: did you mean upstream.timeout?",
		"CALLFIX_REGOIN: unknown environment variable: did you mean CALLFIX_REGION?",
		`mode (in typo.yaml): "block" is not a mode: use enforce, rewrite or audit`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// check shows kept values and never reads a national number into a
// country it is not valid in; the problem says where the country came from.
func TestCheck_KeptValuesAndWrongCountry(t *testing.T) {
	body := `{"phoneNumber":"911","to":"020 7946 0958","participants":[{"address":"tel:30005"},{"address":"ForceDisconnect@localhost"}]}`
	out, errOut, code := run(t, body, "check", "--region", "eu-west-1")
	if code != 1 || !strings.Contains(out, `"callfix.invalid.address.not_valid_in_country"`) {
		t.Errorf("enforce: exit %d, stdout %q; want exit 1 with a not_valid_in_country 400 body", code, out)
	}
	for _, want := range []string{
		"kept phoneNumber emergency \"911\"\n",
		"kept participants[0].address extension \"tel:30005\"\n",
		"kept participants[1].address network_address \"ForceDisconnect@localhost\"\n",
		"problem to not_valid_in_country \"020 7946 0958\": to is not a valid number in IE (read in IE, the default country of region eu-west-1; set `country` or send `X-Callfix-Country`)\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr = %q, want a line %q", errOut, want)
		}
	}
	// rewrite mode forwards the wrong-country number as sent, never as +353.
	out, _, code = run(t, body, "check", "--region", "eu-west-1", "--mode", "rewrite")
	if code != 0 || out != body {
		t.Errorf("rewrite: exit %d, stdout %q; want exit 0 and the body as sent", code, out)
	}
	// With the country the client meant, it is repaired.
	out, _, code = run(t, `{"to":"020 7946 0958"}`, "check", "--region", "eu-west-1", "--country", "GB")
	if want := `{"to":"tel:+442079460958"}`; code != 0 || out != want {
		t.Errorf("--country GB: exit %d, stdout %q; want %q", code, out, want)
	}
}
