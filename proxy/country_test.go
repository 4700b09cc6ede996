package proxy_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// countryLines returns the log lines that say where the default country
// comes from.
func countryLines(t testing.TB, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, "default country of the region") || strings.HasPrefix(msg, "country is auto") {
			out = append(out, m)
		}
	}
	return out
}

// At start-up, and again on every reload, one line says when national
// numbers are read in the region's default country, and how to set one;
// none when country is set.
func TestCountry_FromRegion_OneLogLineAtStartAndReload(t *testing.T) {
	r := startRig(t, rigOptions{file: func(api, login string) string {
		return "upstream:\n  api: " + api + "\n  login: " + login + "\nregion: eu-west-1\nvalidation: possible\n"
	}})
	lines := countryLines(t, r.logs.String())
	if len(lines) != 1 {
		t.Fatalf("%d lines about the country at start-up, want 1:\n%s", len(lines), r.logs.String())
	}
	l := lines[0]
	msg, _ := l["msg"].(string)
	if l["country"] != "IE" || l["region"] != "eu-west-1" || l["level"] != "INFO" ||
		!strings.Contains(msg, "set country") || !strings.Contains(msg, "X-Callfix-Country") {
		t.Errorf("line = %v, want country IE, region eu-west-1, and how to set it", l)
	}

	// country set: no line on that reload.
	r.writeFile("upstream:\n  api: " + r.api.URL + "\n  login: " + r.login.URL + "\nregion: eu-west-1\ncountry: GB\nvalidation: possible\n")
	if err := r.mgr.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if n := len(countryLines(t, r.logs.String())); n != 1 {
		t.Errorf("%d lines after a reload with country set, want still 1:\n%s", n, r.logs.String())
	}
	// Back to the region's: one more line.
	r.writeFile("upstream:\n  api: " + r.api.URL + "\n  login: " + r.login.URL + "\nregion: eu-west-1\nvalidation: possible\n")
	if err := r.mgr.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if n := len(countryLines(t, r.logs.String())); n != 2 {
		t.Errorf("%d lines after a reload back to the region's country, want 2:\n%s", n, r.logs.String())
	}
}

func TestCountry_Configured_NoLogLine(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"region": "eu-west-1", "country": "GB"}})
	if lines := countryLines(t, r.logs.String()); len(lines) != 0 {
		t.Errorf("lines about the country = %v, want none with country set", lines)
	}
}

// country: auto says so once, with the fallback.
func TestCountry_Auto_OneLogLine(t *testing.T) {
	r := startRig(t, rigOptions{flags: map[string]string{"region": "us-east-1", "country": "auto"}})
	lines := countryLines(t, r.logs.String())
	if len(lines) != 1 || lines[0]["fallback_country"] != "US" || !strings.Contains(lines[0]["msg"].(string), "/api/v2/organizations/me") {
		t.Errorf("lines about the country = %v, want one naming the lookup and the fallback US", lines)
	}
}
