package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
)

// writeConfig writes body to a config.yaml in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustSnapshot loads opts and fails the test on any problem.
func mustSnapshot(t *testing.T, opts config.Options) *config.Snapshot {
	t.Helper()
	s, err := config.LoadSnapshot(opts)
	if err != nil {
		t.Fatalf("LoadSnapshot(%+v) failed:\n%v", opts, err)
	}
	return s
}

// loadProblems loads opts and returns its problems: none when it loads, for
// the caller to report against what it wants.
func loadProblems(t *testing.T, opts config.Options) []string {
	t.Helper()
	_, err := config.LoadSnapshot(opts)
	if err == nil {
		return nil
	}
	return problemsOf(t, err)
}

// The settings of the CLI contract (docs/ARCHITECTURE.md), each set differently in every layer. mode has only
// three values, so its flag value equals the default and the Source tells
// the layers apart.
const layeredFile = `
listen: ":1001"
admin_listen: "127.0.0.1:1002"
region: eu-west-1
mode: rewrite
country: GB
upstream:
  api: https://api.file.example
  login: https://login.file.example
`

var layeredEnv = []string{
	"CALLFIX_LISTEN=:2001",
	"CALLFIX_ADMIN_LISTEN=127.0.0.1:2002",
	"CALLFIX_REGION=eu-central-1",
	"CALLFIX_MODE=audit",
	"CALLFIX_COUNTRY=FR",
	"CALLFIX_UPSTREAM_API=https://api.env.example",
	"CALLFIX_UPSTREAM_LOGIN=https://login.env.example",
}

var layeredFlags = map[string]string{
	"listen":         ":3001",
	"admin_listen":   "127.0.0.1:3002",
	"region":         "ap-northeast-1",
	"mode":           "enforce",
	"country":        "DE",
	"upstream.api":   "https://api.flag.example",
	"upstream.login": "https://login.flag.example",
}

// valueOf returns the effective value of one of the contract's settings.
func valueOf(t *testing.T, c *config.Config, key string) string {
	t.Helper()
	switch key {
	case "listen":
		return c.Listen
	case "admin_listen":
		return c.AdminListen
	case "region":
		return c.Region
	case "mode":
		return c.Mode
	case "country":
		return c.Country
	case "upstream.api":
		return c.Upstream.API
	case "upstream.login":
		return c.Upstream.Login
	}
	t.Fatalf("valueOf: no accessor for %q", key)
	return ""
}

func TestLoad_LaterLayersWin(t *testing.T) {
	path := writeConfig(t, layeredFile)
	// layers names the layers applied, such as "file+env"; the file is named
	// by CALLFIX_CONFIG, as a container would.
	f := func(layers, key, want string, wantSrc config.Source) {
		t.Helper()
		var opts config.Options
		for _, l := range strings.Split(layers, "+") {
			switch l {
			case "":
			case "file":
				opts.Env = append(opts.Env, "CALLFIX_CONFIG="+path)
			case "env":
				opts.Env = append(opts.Env, layeredEnv...)
			case "flag":
				opts.Flags = layeredFlags
			default:
				t.Fatalf("unknown layer %q", l)
			}
		}
		s := mustSnapshot(t, opts)
		if got := valueOf(t, &s.Config, key); got != want {
			t.Errorf("with %q: %s = %q, want %q", layers, key, got, want)
		}
		if got := s.Sources[key]; got != wantSrc {
			t.Errorf("with %q: Sources[%q] = %q, want %q", layers, key, got, wantSrc)
		}
	}
	f("", "listen", ":8080", config.SourceDefault)
	f("file", "listen", ":1001", config.SourceFile)
	f("file+env", "listen", ":2001", config.SourceEnv)
	f("file+env+flag", "listen", ":3001", config.SourceFlag)
	f("file+flag", "listen", ":3001", config.SourceFlag)
	f("env+flag", "listen", ":3001", config.SourceFlag)

	f("", "admin_listen", "127.0.0.1:9090", config.SourceDefault)
	f("file", "admin_listen", "127.0.0.1:1002", config.SourceFile)
	f("file+env", "admin_listen", "127.0.0.1:2002", config.SourceEnv)
	f("file+env+flag", "admin_listen", "127.0.0.1:3002", config.SourceFlag)

	f("", "region", "us-east-1", config.SourceDefault)
	f("file", "region", "eu-west-1", config.SourceFile)
	f("file+env", "region", "eu-central-1", config.SourceEnv)
	f("file+env+flag", "region", "ap-northeast-1", config.SourceFlag)
	f("env", "region", "eu-central-1", config.SourceEnv)

	f("", "mode", "enforce", config.SourceDefault)
	f("file", "mode", "rewrite", config.SourceFile)
	f("file+env", "mode", "audit", config.SourceEnv)
	f("file+env+flag", "mode", "enforce", config.SourceFlag)
	f("flag", "mode", "enforce", config.SourceFlag)

	f("", "country", "US", config.SourceRegion)
	f("file", "country", "GB", config.SourceFile)
	f("file+env", "country", "FR", config.SourceEnv)
	f("file+env+flag", "country", "DE", config.SourceFlag)

	f("", "upstream.api", "https://api.mypurecloud.com", config.SourceRegion)
	f("file", "upstream.api", "https://api.file.example", config.SourceFile)
	f("file+env", "upstream.api", "https://api.env.example", config.SourceEnv)
	f("file+env+flag", "upstream.api", "https://api.flag.example", config.SourceFlag)

	f("", "upstream.login", "https://login.mypurecloud.com", config.SourceRegion)
	f("file", "upstream.login", "https://login.file.example", config.SourceFile)
	f("file+env", "upstream.login", "https://login.env.example", config.SourceEnv)
	f("file+env+flag", "upstream.login", "https://login.flag.example", config.SourceFlag)
	f("file+flag", "upstream.login", "https://login.flag.example", config.SourceFlag)
}

// The region-derived values follow whichever layer's region won, and say so.
func TestLoad_RegionDerivedValuesFollowTheWinningRegion(t *testing.T) {
	path := writeConfig(t, "region: eu-west-1\n")
	f := func(opts config.Options, wantAPI, wantLogin, wantCountry string) {
		t.Helper()
		s := mustSnapshot(t, opts)
		if got := s.Config.Upstream.API; got != wantAPI {
			t.Errorf("%+v: Upstream.API = %q, want %q", opts, got, wantAPI)
		}
		if got := s.API.String(); got != wantAPI {
			t.Errorf("%+v: API = %q, want %q", opts, got, wantAPI)
		}
		if got := s.Config.Upstream.Login; got != wantLogin {
			t.Errorf("%+v: Upstream.Login = %q, want %q", opts, got, wantLogin)
		}
		if got := s.Login.String(); got != wantLogin {
			t.Errorf("%+v: Login = %q, want %q", opts, got, wantLogin)
		}
		if got := s.Country; got != wantCountry {
			t.Errorf("%+v: Country = %q, want %q", opts, got, wantCountry)
		}
		for _, key := range []string{"upstream.api", "upstream.login", "country"} {
			if got := s.Sources[key]; got != config.SourceRegion {
				t.Errorf("%+v: Sources[%q] = %q, want %q", opts, key, got, config.SourceRegion)
			}
		}
	}
	f(config.Options{}, "https://api.mypurecloud.com", "https://login.mypurecloud.com", "US")
	f(config.Options{File: path}, "https://api.mypurecloud.ie", "https://login.mypurecloud.ie", "IE")
	f(config.Options{File: path, Env: []string{"CALLFIX_REGION=eu-west-2"}}, "https://api.euw2.pure.cloud", "https://login.euw2.pure.cloud", "GB")
	f(config.Options{File: path, Env: []string{"CALLFIX_REGION=eu-west-2"}, Flags: map[string]string{"region": "ap-southeast-2"}},
		"https://api.mypurecloud.com.au", "https://login.mypurecloud.com.au", "AU")
	// An empty country from a layer means "the region's".
	f(config.Options{Env: []string{"CALLFIX_COUNTRY="}}, "https://api.mypurecloud.com", "https://login.mypurecloud.com", "US")
}

func TestLoad_ConfigFileOption(t *testing.T) {
	fromEnv := writeConfig(t, "mode: audit\n")
	fromOpt := writeConfig(t, "mode: rewrite\n")
	f := func(opts config.Options, wantFile, wantMode string) {
		t.Helper()
		s := mustSnapshot(t, opts)
		if s.File != wantFile {
			t.Errorf("%+v: File = %q, want %q", opts, s.File, wantFile)
		}
		if s.Config.Mode != wantMode {
			t.Errorf("%+v: Mode = %q, want %q", opts, s.Config.Mode, wantMode)
		}
	}
	f(config.Options{}, "", "enforce")
	f(config.Options{Env: []string{"CALLFIX_CONFIG=" + fromEnv}}, fromEnv, "audit")
	f(config.Options{File: fromOpt}, fromOpt, "rewrite")
	// --config beats CALLFIX_CONFIG.
	f(config.Options{File: fromOpt, Env: []string{"CALLFIX_CONFIG=" + fromEnv}}, fromOpt, "rewrite")
}

func TestLoad_MissingFileIsAProblem(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	f := func(opts config.Options) {
		t.Helper()
		got := loadProblems(t, opts)
		want := []string{"config file " + missing + ": does not exist: check the path given to --config or CALLFIX_CONFIG"}
		if !slices.Equal(got, want) {
			t.Errorf("problems = %q, want %q", got, want)
		}
	}
	f(config.Options{File: missing})
	f(config.Options{Env: []string{"CALLFIX_CONFIG=" + missing}})
}

func TestLoad_RejectsUnknownEnvWithSuggestion(t *testing.T) {
	f := func(env, want string) {
		t.Helper()
		got := loadProblems(t, config.Options{Env: []string{env}})
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%s: problems = %q, want [%q]", env, got, want)
		}
	}
	f("CALLFIX_REGOIN=eu-west-1", "CALLFIX_REGOIN: unknown environment variable: did you mean CALLFIX_REGION?")
	f("CALLFIX_UPSTREAM_APII=https://api.mypurecloud.ie", "CALLFIX_UPSTREAM_APII: unknown environment variable: did you mean CALLFIX_UPSTREAM_API?")
	f("CALLFIX_MOD=audit", "CALLFIX_MOD: unknown environment variable: did you mean CALLFIX_MODE?")
	f("CALLFIX_ADMIN_LISTN=:9191", "CALLFIX_ADMIN_LISTN: unknown environment variable: did you mean CALLFIX_ADMIN_LISTEN?")
	f("CALLFIX_ZZZZZZZZZZZZ=1", "CALLFIX_ZZZZZZZZZZZZ: unknown environment variable: see docs/CONFIG.md for the variables callfix reads")
	f("CALLFIX_RULES=x", "CALLFIX_RULES: rules cannot be set from the environment: put them in the config file")
}

func TestLoad_IgnoresOtherEnv(t *testing.T) {
	env := []string{
		"PATH=/usr/bin", "HOME=/root", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
		"CALLFIXREGION=nowhere", "callfix_region=nowhere", "NOT_CALLFIX_MODE=block", "CALLFIX_MODE_NO_EQUALS",
	}
	s := mustSnapshot(t, config.Options{Env: env})
	if s.Config.Region != "us-east-1" {
		t.Errorf("Region = %q, want %q", s.Config.Region, "us-east-1")
	}
	if s.Config.Mode != "enforce" {
		t.Errorf("Mode = %q, want %q", s.Config.Mode, "enforce")
	}
}

func TestLoad_EnvListsAreCommaSeparated(t *testing.T) {
	f := func(env string, get func(*config.Config) []string, want []string) {
		t.Helper()
		s := mustSnapshot(t, config.Options{Env: []string{env}})
		if got := get(&s.Config); !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", env, got, want)
		}
	}
	api := func(c *config.Config) []string { return c.Gateway.APIPrefixes }
	login := func(c *config.Config) []string { return c.Gateway.LoginPrefixes }
	f("CALLFIX_GATEWAY_API_PREFIXES=/api,/x", api, []string{"/api", "/x"})
	f("CALLFIX_GATEWAY_API_PREFIXES=/api", api, []string{"/api"})
	f("CALLFIX_GATEWAY_API_PREFIXES= /api , /x ,", api, []string{"/api", "/x"})
	f("CALLFIX_GATEWAY_API_PREFIXES=", api, nil)
	f("CALLFIX_GATEWAY_LOGIN_PREFIXES=/login,/auth", login, []string{"/login", "/auth"})
}

// An env value replaces the file's list whole; it does not append to it.
func TestLoad_EnvListReplacesFileList(t *testing.T) {
	path := writeConfig(t, "gateway:\n  api_prefixes: [/a, /b, /c]\n")
	s := mustSnapshot(t, config.Options{File: path, Env: []string{"CALLFIX_GATEWAY_API_PREFIXES=/api,/x"}})
	if got, want := s.Config.Gateway.APIPrefixes, []string{"/api", "/x"}; !slices.Equal(got, want) {
		t.Errorf("APIPrefixes = %q, want %q", got, want)
	}
	if got := s.Sources["gateway.api_prefixes"]; got != config.SourceEnv {
		t.Errorf("Sources[gateway.api_prefixes] = %q, want %q", got, config.SourceEnv)
	}
}

func TestLoad_EnvValuesOfEveryType(t *testing.T) {
	f := func(env string, get func(*config.Config) any, want any) {
		t.Helper()
		s := mustSnapshot(t, config.Options{Env: []string{env}})
		if got := get(&s.Config); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", env, got, want)
		}
	}
	f("CALLFIX_UPSTREAM_ALLOW_INSECURE_HTTP=true", func(c *config.Config) any { return c.Upstream.AllowInsecureHTTP }, true)
	f("CALLFIX_AUDIT_ENABLED=false", func(c *config.Config) any { return c.Audit.Enabled }, false)
	f("CALLFIX_UPSTREAM_MAX_CONNS=64", func(c *config.Config) any { return c.Upstream.MaxConns }, 64)
	f("CALLFIX_UPSTREAM_TIMEOUT=5s", func(c *config.Config) any { return c.Upstream.Timeout }, 5*time.Second)
	f("CALLFIX_SERVER_SHUTDOWN_GRACE=1m30s", func(c *config.Config) any { return c.Server.ShutdownGrace }, 90*time.Second)
	f("CALLFIX_LIMITS_MAX_BODY_BYTES=2MiB", func(c *config.Config) any { return c.Limits.MaxBodyBytes }, config.ByteSize(2<<20))
	f("CALLFIX_LIMITS_MAX_BODY_BYTES=65536", func(c *config.Config) any { return c.Limits.MaxBodyBytes }, config.ByteSize(65536))
	f("CALLFIX_SERVER_MAX_HEADER_BYTES=8KiB", func(c *config.Config) any { return c.Server.MaxHeaderBytes }, config.ByteSize(8<<10))
	f("CALLFIX_TRACING_SAMPLE_RATIO=0.5", func(c *config.Config) any { return c.Tracing.SampleRatio }, 0.5)
	f("CALLFIX_TRACING_HEADERS=Authorization=Bearer abc, X-Key = k1",
		func(c *config.Config) any { return c.Tracing.Headers }, map[string]config.Secret{"Authorization": "Bearer abc", "X-Key": "k1"})
	f("CALLFIX_MASK_KEY=k3y", func(c *config.Config) any { return c.MaskKey.Value() }, "k3y")
	f("CALLFIX_COUNTRY=gb", func(c *config.Config) any { return c.Country }, "GB")
	f("CALLFIX_REGION=mypurecloud.de", func(c *config.Config) any { return c.Region }, "eu-central-1")
}

// A value that does not parse names its key and the variable or flag it came
// from.
func TestLoad_BadValuesNameTheirLayer(t *testing.T) {
	f := func(opts config.Options, want string) {
		t.Helper()
		got := loadProblems(t, opts)
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%+v: problems = %q, want [%q]", opts, got, want)
		}
	}
	env := func(kv string) config.Options { return config.Options{Env: []string{kv}} }
	flag := func(k, v string) config.Options { return config.Options{Flags: map[string]string{k: v}} }
	f(env("CALLFIX_UPSTREAM_TIMEOUT=5"), `upstream.timeout (from CALLFIX_UPSTREAM_TIMEOUT): "5" is not a duration: write one with a unit, such as 5s or 2m`)
	f(env("CALLFIX_LIMITS_MAX_BODY_BYTES=lots"), `limits.max_body_bytes (from CALLFIX_LIMITS_MAX_BODY_BYTES): "lots" is not a byte size: write a number of bytes or a size such as 512KiB or 1MiB`)
	f(env("CALLFIX_AUDIT_ENABLED=yes please"), `audit.enabled (from CALLFIX_AUDIT_ENABLED): "yes please" is not a boolean: write true or false`)
	f(env("CALLFIX_MODE=block"), `mode (from CALLFIX_MODE): "block" is not a mode: use enforce, rewrite or audit`)
	f(flag("mode", "block"), `mode (from --mode): "block" is not a mode: use enforce, rewrite or audit`)
	f(flag("upstream.api", "api.mypurecloud.com"), `upstream.api (from --upstream-api): "api.mypurecloud.com" is not a URL with a scheme and host: write one such as https://api.mypurecloud.com`)
	f(flag("upstream.timeout", "soon"), `upstream.timeout (from --set): "soon" is not a duration: write one with a unit, such as 5s or 2m`)
	f(flag("regoin", "eu-west-1"), "--set regoin: unknown key: did you mean region?")
	f(flag("rules", "x"), "--set rules: rules cannot be set from flags: put them in the config file")
}

func TestLoad_SourcesCoverEveryKey(t *testing.T) {
	path := writeConfig(t, "mode: audit\n")
	s := mustSnapshot(t, config.Options{File: path, Env: []string{"CALLFIX_COUNTRY=GB"}, Flags: map[string]string{"listen": ":9999"}})
	for _, k := range config.Keys() {
		if s.Sources[k.Name] == "" {
			t.Errorf("Sources[%q] is empty, want the layer it came from", k.Name)
		}
	}
	if got := len(s.Sources); got != len(config.Keys()) {
		t.Errorf("len(Sources) = %d, want %d (one per key)", got, len(config.Keys()))
	}
}

// Load keeps its problems for the caller and its Problems error lists them
// one a line.
func TestLoad_ProblemsErrorIsOneALine(t *testing.T) {
	_, err := config.Load(config.Options{Env: []string{"CALLFIX_REGOIN=x", "CALLFIX_MOD=y"}})
	var p config.Problems
	if !errors.As(err, &p) {
		t.Fatalf("Load error %v (%T) is not config.Problems", err, err)
	}
	if got, want := err.Error(), strings.Join(p.Strings(), "\n"); got != want || len(p) != 2 {
		t.Errorf("Error() = %q with %d problems, want the 2 problems joined by newlines", got, len(p))
	}
}

func TestKeys_EnvNamesAreUnique(t *testing.T) {
	seen := map[string]string{}
	names := map[string]bool{}
	for _, k := range config.Keys() {
		if names[k.Name] {
			t.Errorf("key %q is listed twice", k.Name)
		}
		names[k.Name] = true
		if other, ok := seen[k.Env]; ok {
			t.Errorf("keys %q and %q share the environment variable %s", other, k.Name, k.Env)
		}
		seen[k.Env] = k.Name
		if want := "CALLFIX_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_")); k.Env != want {
			t.Errorf("Keys()[%q].Env = %q, want %q", k.Name, k.Env, want)
		}
		if k.Env == config.EnvConfig {
			t.Errorf("key %q uses %s, the variable naming the config file", k.Name, config.EnvConfig)
		}
	}
}

// The environment variables and flags of the contract (docs/ARCHITECTURE.md).
func TestKeys_DesignNames(t *testing.T) {
	byName := map[string]config.Key{}
	for _, k := range config.Keys() {
		byName[k.Name] = k
	}
	f := func(name, env, flag string) {
		t.Helper()
		k, ok := byName[name]
		if !ok {
			t.Errorf("Keys() has no %q", name)
			return
		}
		if k.Env != env {
			t.Errorf("Keys()[%q].Env = %q, want %q", name, k.Env, env)
		}
		if k.Flag != flag {
			t.Errorf("Keys()[%q].Flag = %q, want %q", name, k.Flag, flag)
		}
	}
	f("listen", "CALLFIX_LISTEN", "listen")
	f("region", "CALLFIX_REGION", "region")
	f("mode", "CALLFIX_MODE", "mode")
	f("country", "CALLFIX_COUNTRY", "country")
	f("upstream.api", "CALLFIX_UPSTREAM_API", "upstream-api")
	f("upstream.login", "CALLFIX_UPSTREAM_LOGIN", "upstream-login")
	f("admin_listen", "CALLFIX_ADMIN_LISTEN", "admin-listen")
	if config.EnvConfig != "CALLFIX_CONFIG" {
		t.Errorf("EnvConfig = %q, want %q", config.EnvConfig, "CALLFIX_CONFIG")
	}
}

func TestKeys_SecretsAndRestartOnly(t *testing.T) {
	byName := map[string]config.Key{}
	for _, k := range config.Keys() {
		byName[k.Name] = k
	}
	f := func(name string, secret, reloadable bool) {
		t.Helper()
		k := byName[name]
		if k.Secret != secret {
			t.Errorf("Keys()[%q].Secret = %v, want %v", name, k.Secret, secret)
		}
		if k.Reloadable != reloadable {
			t.Errorf("Keys()[%q].Reloadable = %v, want %v", name, k.Reloadable, reloadable)
		}
	}
	f("mask_key", true, true)
	f("tracing.headers", true, false)
	f("listen", false, false)
	f("admin_listen", false, false)
	f("tls.cert_file", false, false)
	f("tls.key_file", false, false)
	f("mode", false, true)
	f("region", false, true)
	f("rules", false, true)
	f("upstream.api", false, true)
}

// Every key is named in docs/CONFIG.md. The file is being written alongside
// this package: until it exists the check is skipped; from then on it holds.
func TestKeys_EveryKeyIsInConfigDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "CONFIG.md"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("docs/CONFIG.md does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range config.Keys() {
		if !strings.Contains(doc, k.Name) {
			t.Errorf("docs/CONFIG.md does not mention the key %s", k.Name)
		}
	}
}

// Keys returns a copy: a caller cannot change the registry.
func TestKeys_ReturnsACopy(t *testing.T) {
	k := config.Keys()
	k[0].Name = "changed"
	if got := config.Keys()[0].Name; got == "changed" {
		t.Errorf("Keys()[0].Name = %q after changing a returned slice, want the registry unchanged", got)
	}
}

// Every problem with the rules is its own line naming its own key, and one
// rule's unknown key does not hide the problems of the others.
func TestLoad_RuleProblemsAreEachReported(t *testing.T) {
	path := writeConfig(t, `
rules:
  - method: POST
    pth: /api/v2/conversations/calls/{conversationId}/participants
    fields:
      - {path: "participants[].address", fromat: address}
  - method: POST
    path: /api/v2/conversations/callbacks
    fields:
      - {path: "callbackNumbers[]", format: phone}
`)
	got := loadProblems(t, config.Options{File: path})
	for _, key := range []string{"rules[0].pth", "rules[0].fields[0].fromat", "rules[1].fields[0].format"} {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, key+" ") || strings.HasPrefix(p, key+":") }) {
			t.Errorf("no problem starts with %s; problems:\n%s", key, strings.Join(got, "\n"))
		}
	}
	if len(got) != 3 {
		t.Errorf("%d problems, want 3, one a line:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// A value that fails to load is reported once: the default left in its
// place must not draw a second, misleading problem for the same key.
func TestLoad_AValueThatFailsToLoadIsReportedOnce(t *testing.T) {
	f := func(body, key string) {
		t.Helper()
		got := loadProblems(t, config.Options{File: writeConfig(t, body)})
		if len(got) != 1 || !strings.HasPrefix(got[0], key+" ") {
			t.Errorf("%q: problems =\n%s\nwant one, about %s", body, strings.Join(got, "\n"), key)
		}
	}
	f("upstream:\n  timeout: 5\n", "upstream.timeout")
	f("limits:\n  max_body_bytes: lots\n", "limits.max_body_bytes")
	f("mask: hash\nmask_key: [k3y]\n", "mask_key")
	f("builtin_rules: false\nrules: {method: POST}\n", "rules")
	f("builtin_rules: false\nrules:\n  - {method: POST, pth: /x, fields: [{path: a, format: tel}]}\n", "rules[0].pth")
}

func TestLoad_ByteSizes(t *testing.T) {
	f := func(value string, want config.ByteSize) {
		t.Helper()
		s := mustSnapshot(t, config.Options{File: writeConfig(t, "limits:\n  max_body_bytes: "+value+"\n")})
		if got := s.Config.Limits.MaxBodyBytes; got != want {
			t.Errorf("max_body_bytes: %s = %d, want %d", value, got, want)
		}
	}
	bad := func(value string) {
		t.Helper()
		got := loadProblems(t, config.Options{File: writeConfig(t, "limits:\n  max_body_bytes: "+value+"\n")})
		if len(got) != 1 || !strings.HasPrefix(got[0], "limits.max_body_bytes ") {
			t.Errorf("max_body_bytes: %s: problems = %q, want one about limits.max_body_bytes", value, got)
		}
	}
	f("1048576", 1<<20)
	f("2MiB", 2<<20)
	f("512KiB", 512<<10)
	f("1GiB", 1<<30)
	f("1MB", 1000*1000)
	f("64KB", 64*1000)
	f("100B", 100)
	f("2 MiB", 2<<20)
	f(`"4096"`, 4096)
	bad("0")
	bad("-1")
	bad("-1KiB")
	bad("lots")
	bad("1.5MiB")
	bad("1mib")
	bad("2TiB")
	bad("9007199254740993KiB") // more than an int64 holds
	// A negative size whose product with the unit wraps around an int64 to
	// a huge positive size: still negative, still refused.
	bad("-9007199254740993KiB")
}

func TestByteSize_StringReadsBack(t *testing.T) {
	f := func(b config.ByteSize, want string) {
		t.Helper()
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
		back, err := config.ParseByteSize(want)
		if err != nil || back != b {
			t.Errorf("ParseByteSize(%q) = %d, %v, want %d", want, back, err, int64(b))
		}
	}
	f(0, "0")
	f(1, "1")
	f(1000, "1000")
	f(1023, "1023")
	f(1024, "1KiB")
	f(1536, "1536")
	f(16<<10, "16KiB")
	f(1<<20, "1MiB")
	f(1<<20+1<<10, "1025KiB")
	f(2<<30, "2GiB")
	f(1<<40, "1024GiB")
}

// Plain http to an upstream is allowed on loopback, and elsewhere only with
// upstream.allow_insecure_http.
func TestLoad_PlainHTTPUpstreams(t *testing.T) {
	f := func(url string, allow, wantOK bool) {
		t.Helper()
		flags := map[string]string{"upstream.api": url}
		if allow {
			flags["upstream.allow_insecure_http"] = "true"
		}
		_, err := config.LoadSnapshot(config.Options{Flags: flags})
		if (err == nil) != wantOK {
			t.Errorf("upstream.api %s with allow_insecure_http %v: error %v, want ok %v", url, allow, err, wantOK)
		}
	}
	f("http://127.0.0.1:18081", false, true)
	f("http://127.0.0.2:18081", false, true)
	f("http://localhost:18081", false, true)
	f("http://LOCALHOST:18081", false, true) // host names ignore case
	f("http://[::1]:18081", false, true)
	f("https://api.mypurecloud.com", false, true)
	f("https://127.0.0.1:8443", false, true)
	f("http://api.mypurecloud.com", false, false)
	f("http://localhost.example.com", false, false)
	f("http://10.0.0.5:8080", false, false)
	f("http://0.0.0.0:8080", false, false)
	f("http://api.mypurecloud.com", true, true)
	f("http://10.0.0.5:8080", true, true)
	f("ftp://api.mypurecloud.com", true, false)
}

// The proxy and admin listeners cannot share a port: a wildcard or empty
// host listens on every interface, so it collides with any host's port.
func TestValidate_ListenersNeedTheirOwnPorts(t *testing.T) {
	f := func(listen, admin string, wantOK bool) {
		t.Helper()
		c := config.Defaults()
		c.Listen, c.AdminListen = listen, admin
		err := config.Validate(&c)
		if (err == nil) != wantOK {
			t.Errorf("listen %q, admin_listen %q: Validate = %v, want ok %v", listen, admin, err, wantOK)
		}
	}
	f(":8080", "127.0.0.1:9090", true)
	f("127.0.0.1:8080", "127.0.0.2:8080", true)
	f(":8080", ":8080", false)
	f("0.0.0.0:8080", ":8080", false)
	f(":8080", "127.0.0.1:8080", false)
	f("[::]:8080", "127.0.0.1:8080", false)
	f("127.0.0.1:8080", "127.0.0.1:8080", false)
}

func TestValidate_DefaultsAreValidAndUnchanged(t *testing.T) {
	c := config.Defaults()
	if err := config.Validate(&c); err != nil {
		t.Fatalf("Validate(Defaults()) = %v, want nil", err)
	}
	if got, want := c.String(), config.Defaults().String(); got != want {
		t.Errorf("Validate changed its input:\n%s", lineDiff(want, got))
	}
}

// A section of the file written as something other than a map is a
// problem even when a variable or flag sets a key inside it: the merged
// layers then hold a map there, and the file's mistake must not vanish.
func TestLoad_SectionNotAMap_ReportedEvenWhenALaterLayerSetsAKeyInIt(t *testing.T) {
	path := writeConfig(t, "upstream: 5\nlimits: [1]\nserver:\n  shutdown_delay: 1s\n")
	want := []string{
		"limits (in " + path + "): is a list: expected a map of settings",
		"upstream (in " + path + "): is 5: expected a map of settings",
	}
	for _, opts := range []config.Options{
		{File: path},
		{File: path, Env: []string{"CALLFIX_UPSTREAM_API=https://api.mypurecloud.de", "CALLFIX_LIMITS_MAX_BODY_BYTES=2MiB"}},
		{File: path, Flags: map[string]string{"upstream.api": "https://api.mypurecloud.de", "limits.max_details": "5"}},
	} {
		if got := loadProblems(t, opts); !slices.Equal(got, want) {
			t.Errorf("%+v: problems = %q, want %q", opts, got, want)
		}
	}
}
