package config_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/rewrite"
)

const precedenceFile = `
mode: audit
country: US
rules:
  - method: POST
    path: /api/v2/conversations/calls
    mode: rewrite
    country: GB
    fields: [{path: phoneNumber, format: address}]
  - method: POST
    path: /api/v2/conversations/calls/user/{userId}
    fields: [{path: phoneNumber, format: address}]
clients:
  enforced: {mode: enforce}
  german: {country: de}
  both: {mode: enforce, country: FR}
  tok-00000000000000aa: {mode: enforce, country: IE}
`

// The precedence table of docs/CONFIG.md: X-Callfix-Country > client >
// rule > global for the country; client > rule > global for the mode.
func TestOverrides_PrecedenceTable(t *testing.T) {
	s := mustSnapshot(t, config.Options{File: writeConfig(t, precedenceFile)})
	const withRule, withoutRule = "POST /api/v2/conversations/calls", "POST /api/v2/conversations/calls/user/{userId}"
	f := func(route, client, token, header string, wantMode rewrite.Mode, wantCountry string, modeFrom, countryFrom config.Origin) {
		t.Helper()
		got := s.Overrides.Resolve(route, client, token, header)
		want := config.Resolution{Mode: wantMode, Country: wantCountry, ModeOrigin: modeFrom, CountryOrigin: countryFrom}
		if got != want {
			t.Errorf("Resolve(%q, client %q, token %q, header %q) = %+v, want %+v", route, client, token, header, got, want)
		}
	}
	// No override at all: global.
	f(withoutRule, "", "", "", rewrite.ModeAudit, "US", config.OriginGlobal, config.OriginGlobal)
	f(withoutRule, "unknown-client", "tok-ffffffffffffffff", "", rewrite.ModeAudit, "US", config.OriginGlobal, config.OriginGlobal)
	// The rule over global.
	f(withRule, "", "", "", rewrite.ModeRewrite, "GB", config.OriginRule, config.OriginRule)
	// The client over the rule, each value on its own.
	f(withRule, "enforced", "", "", rewrite.ModeEnforce, "GB", config.OriginClient, config.OriginRule)
	f(withRule, "german", "", "", rewrite.ModeRewrite, "DE", config.OriginRule, config.OriginClient)
	f(withoutRule, "german", "", "", rewrite.ModeAudit, "DE", config.OriginGlobal, config.OriginClient)
	f(withRule, "both", "", "", rewrite.ModeEnforce, "FR", config.OriginClient, config.OriginClient)
	// The header over everything, for the country only.
	f(withRule, "both", "", "SE", rewrite.ModeEnforce, "SE", config.OriginClient, config.OriginHeader)
	f(withoutRule, "", "", "SE", rewrite.ModeAudit, "SE", config.OriginGlobal, config.OriginHeader)
	// A token ID entry applies when the client ID has none...
	f(withRule, "", "tok-00000000000000aa", "", rewrite.ModeEnforce, "IE", config.OriginClient, config.OriginClient)
	f(withRule, "unknown-client", "tok-00000000000000aa", "", rewrite.ModeEnforce, "IE", config.OriginClient, config.OriginClient)
	// ...and the client ID's entry wins over it.
	f(withRule, "german", "tok-00000000000000aa", "", rewrite.ModeRewrite, "DE", config.OriginRule, config.OriginClient)
}

func TestOverrides_ResolveDoesNotAllocate(t *testing.T) {
	s := mustSnapshot(t, config.Options{File: writeConfig(t, precedenceFile)})
	if n := testing.AllocsPerRun(100, func() {
		s.Overrides.Resolve("POST /api/v2/conversations/calls", "both", "tok-00000000000000aa", "SE")
	}); n != 0 {
		t.Errorf("Resolve allocates %v times", n)
	}
}

// The first rule of a route name decides its overrides, as it decides the
// match.
func TestOverrides_FirstRuleOfARouteWins(t *testing.T) {
	s := mustSnapshot(t, config.Options{File: writeConfig(t, `
rules:
  - method: POST
    path: /api/v2/x
    fields: [{path: a, format: address}]
  - method: POST
    path: /api/v2/x
    mode: audit
    fields: [{path: b, format: address}]
`)})
	if got := s.Overrides.Resolve("POST /api/v2/x", "", "", ""); got.ModeOrigin != config.OriginGlobal {
		t.Errorf("the second rule's mode applied: %+v", got)
	}
}

func TestOverrides_Problems(t *testing.T) {
	f := func(yaml string, want ...string) {
		t.Helper()
		got := strings.Join(loadProblems(t, config.Options{File: writeConfig(t, yaml)}), "\n")
		got = inFile.ReplaceAllString(got, "")
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("problems of\n%s\n= %s\nwant one containing %q", yaml, got, w)
			}
		}
		if len(want) == 0 && got != "" {
			t.Errorf("problems of\n%s\n= %s, want none", yaml, got)
		}
	}
	f("clients: {a: {mode: loud}}", `clients.a.mode: "loud" is not a mode`)
	f("clients: {a: {country: XX}}", `clients.a.country: "XX" is not an ISO 3166`)
	f("clients: {a: {}}", "clients.a: sets neither mode nor country")
	f("clients: {a: {mod: enforce}}", "clients.a.mod: unknown key: use mode or country")
	f("clients: {a: enforce}", `clients.a: is "enforce": expected {mode, country}`)
	f("clients: [a]", "expected a map of client IDs")
	f("clients: {a: {mode: 3}}", "clients.a.mode: is 3: expected a string")
	f("rules: [{method: POST, path: /api/v2/x, mode: strict, fields: [{path: a, format: address}]}]", `rules[0].mode: "strict" is not a mode`)
	f("rules: [{method: POST, path: /api/v2/x, country: ZZ, fields: [{path: a, format: address}]}]", `rules[0].country: "ZZ" is not`)
	f("rules: [{method: POST, path: /api/v2/x, mdoe: audit, fields: [{path: a, format: address}]}]", "rules[0].mdoe: unknown key: did you mean mode?")
	f("server: {trusted_proxies: [10.0.0.0/8, 192.0.2.7, '2001:db8::/32', '::1']}")
	f("server: {trusted_proxies: [10.0.0.0/33]}", `server.trusted_proxies[0]: "10.0.0.0/33" is not an IP address or network`)
	f("server: {trusted_proxies: [lb.internal]}", `server.trusted_proxies[0]: "lb.internal" is not an IP address`)
	// The bounds at their edges.
	f("identity: {max_tokens: 1}")
	f("identity: {max_tokens: 0}", "identity.max_tokens: 0: give at least 1")
	f("identity: {max_user_agent_bytes: 0}")
	f("identity: {max_user_agent_bytes: -1}", "identity.max_user_agent_bytes: -1 is negative")
	f("metrics: {max_clients: 0}")
	f("metrics: {max_clients: -1}", "metrics.max_clients: -1 is negative")
}

var inFile = regexp.MustCompile(` \(in [^)]*\)`)

func TestOverrides_ClientsAreFileOnly(t *testing.T) {
	got := strings.Join(loadProblems(t, config.Options{Env: []string{"CALLFIX_CLIENTS=a"}}), "\n")
	if !strings.Contains(got, "CALLFIX_CLIENTS: clients cannot be set from the environment") {
		t.Errorf("problems = %s", got)
	}
	got = strings.Join(loadProblems(t, config.Options{Flags: map[string]string{"clients": "a"}}), "\n")
	if !strings.Contains(got, "--set clients: clients cannot be set from flags") {
		t.Errorf("problems = %s", got)
	}
}

func TestTrustedProxies_AreNetworks(t *testing.T) {
	s := mustSnapshot(t, config.Options{Flags: map[string]string{"server.trusted_proxies": "10.1.2.3/8, 192.0.2.7, ::ffff:198.51.100.1"}})
	var got []string
	for _, p := range s.TrustedProxies() {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 198.51.100.1/32" {
		t.Errorf("TrustedProxies = %v", got)
	}
}
