package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
)

// Problems are values: the key, the layer and place the value came from,
// and the message, rendered as callfix has always printed them.
func TestProblems_AreTyped(t *testing.T) {
	path := writeConfig(t, "upstream:\n  timeout: 5\n  apii: x\nrules:\n  - {method: POST, pth: /x, fields: [{path: a, format: tel}]}\n")
	_, err := config.LoadSnapshot(config.Options{File: path, Env: []string{"CALLFIX_MODE=block", "CALLFIX_REGOIN=x"},
		Flags: map[string]string{"upstream.login": "login.example"}})
	var probs config.Problems
	if !errors.As(err, &probs) {
		t.Fatalf("error %v (%T) is not config.Problems", err, err)
	}
	want := config.Problems{
		{Key: "upstream.apii", Source: config.SourceFile, From: path, Message: "unknown key: did you mean upstream.api?"},
		{Key: "CALLFIX_REGOIN", Message: "unknown environment variable: did you mean CALLFIX_REGION?"},
		{Key: "rules[0].pth", Source: config.SourceFile, From: path, Message: "unknown key: did you mean path?"},
		{Key: "upstream.timeout", Source: config.SourceFile, From: path, Message: "5 is not a duration: write one with a unit, such as 5s or 2m"},
		{Key: "mode", Source: config.SourceEnv, From: "CALLFIX_MODE", Message: `"block" is not a mode: use enforce, rewrite or audit`},
		{Key: "upstream.login", Source: config.SourceFlag, From: "--upstream-login", Message: `"login.example" is not a URL with a scheme and host: write one such as https://api.mypurecloud.com`},
	}
	if !slices.Equal(probs, want) {
		t.Errorf("problems =\n%q\nwant\n%q", probs, want)
	}
	lines := []string{
		"upstream.apii (in " + path + "): unknown key: did you mean upstream.api?",
		"CALLFIX_REGOIN: unknown environment variable: did you mean CALLFIX_REGION?",
		"rules[0].pth (in " + path + "): unknown key: did you mean path?",
		"upstream.timeout (in " + path + "): 5 is not a duration: write one with a unit, such as 5s or 2m",
		`mode (from CALLFIX_MODE): "block" is not a mode: use enforce, rewrite or audit`,
		`upstream.login (from --upstream-login): "login.example" is not a URL with a scheme and host: write one such as https://api.mypurecloud.com`,
	}
	if got := err.Error(); got != strings.Join(lines, "\n") {
		t.Errorf("Error() =\n%s\nwant\n%s", got, strings.Join(lines, "\n"))
	}
	if p := (config.Problem{From: path, Message: "is not valid YAML: line 3"}); p.String() != "config file "+path+": is not valid YAML: line 3" {
		t.Errorf("a problem of the file itself renders as %q", p.String())
	}
}

// The snapshot carries what validation parsed, in the types its users
// need: nothing downstream parses the configuration again.
func TestSnapshot_CarriesTypedDerivedValues(t *testing.T) {
	s := mustSnapshot(t, config.Options{File: writeConfig(t, `
upstream:
  api: https://api.example.com/
mask: hash
mask_key: k3y
gateway:
  api_prefixes: [/api, /gw]
  login_prefixes: [/login]
server:
  trusted_proxies: [10.1.2.3/8]
`)})
	if s.API.String() != "https://api.example.com" || s.Login.String() != "https://login.mypurecloud.com" {
		t.Errorf("API, Login = %s, %s", s.API, s.Login)
	}
	if got := s.APIPrefixes; len(got) != 2 || string(got[0]) != "/api" || string(got[1]) != "/gw" {
		t.Errorf("APIPrefixes = %q", got)
	}
	if got := s.LoginPrefixes; len(got) != 1 || string(got[0]) != "/login" {
		t.Errorf("LoginPrefixes = %q", got)
	}
	if s.Mask.Mode != "hash" || s.Mask.Key.Value() != "k3y" {
		t.Errorf("Mask = %+v", s.Mask)
	}
	if got := s.TrustedProxies(); len(got) != 1 || got[0].String() != "10.0.0.0/8" {
		t.Errorf("TrustedProxies = %v", got)
	}
	if s.Engine == nil || s.Engine.Match("POST", "/api/v2/conversations/calls") == nil {
		t.Errorf("Engine does not match the built-in call rule")
	}
}

// Everything about a key is in its field's tags: the restart-only keys
// are exactly these.
func TestKeys_RestartOnlyFromTags(t *testing.T) {
	want := []string{"listen", "admin_listen", "server.read_timeout", "server.write_timeout", "server.idle_timeout", "server.max_conns",
		"server.max_header_bytes", "tls.cert_file", "tls.key_file", "tracing.endpoint", "tracing.protocol",
		"tracing.headers", "tracing.sample_ratio", "audit.enabled", "audit.file", "audit.flush_interval",
		"audit.buffer_bytes", "identity.token_key", "identity.max_tokens", "metrics.max_clients"}
	var got []string
	for _, k := range config.Keys() {
		if !k.Reloadable {
			got = append(got, k.Name)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("restart-only keys = %q, want %q", got, want)
	}
}
