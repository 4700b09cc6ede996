package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
)

// The secrets of these tests: none of them may appear in any output.
const (
	secretMaskKey = "mask-key-5ecret-8d1f"
	secretToken   = "Bearer tracing-5ecret-41c2"
	secretAPIKey  = "api-key-5ecret-9b7e"
)

var secrets = []string{secretMaskKey, secretToken, secretAPIKey, "5ecret"}

const secretFile = `
mask: hash
mask_key: "` + secretMaskKey + `"
tracing:
  endpoint: http://otel-collector:4318
  headers:
    Authorization: "` + secretToken + `"
    X-Api-Key: "` + secretAPIKey + `"
`

// checkNoSecret fails when out shows any of the secrets.
func checkNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s shows the secret %q:\n%s", what, s, out)
			return
		}
	}
}

// secretSnapshot loads the secrets from the file, the environment or flags.
func secretSnapshots(t *testing.T) map[string]*config.Snapshot {
	t.Helper()
	return map[string]*config.Snapshot{
		"file": mustSnapshot(t, config.Options{File: writeConfig(t, secretFile)}),
		"env": mustSnapshot(t, config.Options{Env: []string{
			"CALLFIX_MASK=hash", "CALLFIX_MASK_KEY=" + secretMaskKey,
			"CALLFIX_TRACING_HEADERS=Authorization=" + secretToken + ",X-Api-Key=" + secretAPIKey,
		}}),
		"flag": mustSnapshot(t, config.Options{Flags: map[string]string{
			"mask": "hash", "mask_key": secretMaskKey,
			"tracing.headers": "Authorization=" + secretToken + ",X-Api-Key=" + secretAPIKey,
		}}),
	}
}

func TestRedact_SecretsAreLoaded(t *testing.T) {
	for layer, s := range secretSnapshots(t) {
		if got := s.Config.MaskKey.Value(); got != secretMaskKey {
			t.Errorf("%s: MaskKey.Value() = %q, want %q", layer, got, secretMaskKey)
		}
		if got := s.Config.Tracing.Headers["Authorization"].Value(); got != secretToken {
			t.Errorf("%s: Tracing.Headers[Authorization].Value() = %q, want %q", layer, got, secretToken)
		}
		if got := s.Config.Tracing.Headers["X-Api-Key"].Value(); got != secretAPIKey {
			t.Errorf("%s: Tracing.Headers[X-Api-Key].Value() = %q, want %q", layer, got, secretAPIKey)
		}
	}
}

func TestRedact_SecretsAbsentFromRenderAndFmt(t *testing.T) {
	for layer, s := range secretSnapshots(t) {
		c := s.Config
		f := func(what, out string) {
			t.Helper()
			checkNoSecret(t, layer+": "+what, out)
		}
		f("Render", string(config.Render(s)))
		f("Config.String()", c.String())
		f("Config.GoString()", c.GoString())
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			f("Config "+verb, fmt.Sprintf(verb, c))
			f("*Config "+verb, fmt.Sprintf(verb, &c))
			f("*Snapshot "+verb, fmt.Sprintf(verb, s))
			f("Snapshot "+verb, fmt.Sprintf(verb, *s))
			f("TracingConfig "+verb, fmt.Sprintf(verb, c.Tracing))
			f("Tracing.Headers "+verb, fmt.Sprintf(verb, c.Tracing.Headers))
			f("MaskKey "+verb, fmt.Sprintf(verb, c.MaskKey))
		}
		f("fmt.Sprint", fmt.Sprint(c, s))
		f("fmt.Sprintln", fmt.Sprintln(c, s))
		// Render marks the secrets as set, without showing them.
		if r := string(config.Render(s)); !strings.Contains(r, `mask_key: "[redacted]"`) ||
			!strings.Contains(r, `headers: {"Authorization": "[redacted]", "X-Api-Key": "[redacted]"}`) {
			t.Errorf("%s: Render does not show the secrets as set and redacted:\n%s", layer, r)
		}
	}
}

func TestRedact_SecretStringForms(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f(config.Secret("x").String(), "[redacted]")
	f(config.Secret("").String(), "")
	f(config.Secret("x").GoString(), `"[redacted]"`)
	f(fmt.Sprintf("%v|%s|%q|%#v", config.Secret("x"), config.Secret("x"), config.Secret("x"), config.Secret("x")),
		`[redacted]|[redacted]|"[redacted]"|"[redacted]"`)
	f(config.Secret("x").Value(), "x")
}

// Logging a configuration with log/slog must not leak it either: callfix
// logs with slog, and its JSON handler does not use fmt.
func TestRedact_SecretsAbsentFromSlog(t *testing.T) {
	s := mustSnapshot(t, config.Options{File: writeConfig(t, secretFile)})
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("config", "config", s.Config, "tracing", s.Config.Tracing, "mask_key", s.Config.MaskKey)
		checkNoSecret(t, "slog "+name+" handler", b.String())
	}
}

// Problems name keys and describe values, but never repeat a secret value,
// even one that does not parse.
func TestRedact_SecretsAbsentFromProblems(t *testing.T) {
	f := func(opts config.Options) {
		t.Helper()
		_, err := config.LoadSnapshot(opts)
		if err == nil {
			t.Fatalf("LoadSnapshot(%+v) succeeded, want problems", opts)
		}
		checkNoSecret(t, "problems", err.Error())
	}
	// Secrets alongside other problems.
	f(config.Options{File: writeConfig(t, secretFile+"mode: block\nregoin: x\ncountry: XX\n")})
	f(config.Options{Env: []string{"CALLFIX_MASK_KEY=" + secretMaskKey, "CALLFIX_MASK=hsah"}})
	// A mask_key of the wrong YAML type.
	f(config.Options{File: writeConfig(t, "mask_key: ["+secretMaskKey+"]\n")})
	f(config.Options{File: writeConfig(t, "mask_key: {"+secretMaskKey+": x}\n")})
	// Headers that are not a map of strings.
	f(config.Options{File: writeConfig(t, "tracing:\n  headers: {Authorization: ["+secretToken+"]}\n")})
	f(config.Options{File: writeConfig(t, "tracing:\n  headers: ["+secretToken+"]\n")})
	// Headers as a string that is not name=value pairs: the value is the
	// secret itself, such as a token pasted without its header name.
	f(config.Options{Env: []string{"CALLFIX_TRACING_HEADERS=" + secretToken}})
	f(config.Options{Env: []string{"CALLFIX_TRACING_HEADERS=Authorization: " + secretToken}})
	f(config.Options{Flags: map[string]string{"tracing.headers": secretToken}})
	f(config.Options{File: writeConfig(t, "tracing:\n  headers: \""+secretToken+"\"\n")})
	// A secret in a misspelt variable name's value.
	f(config.Options{Env: []string{"CALLFIX_MASK_KY=" + secretMaskKey}})
}
