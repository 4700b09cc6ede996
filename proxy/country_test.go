package proxy_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/otlptest"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
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

// orgUpstream answers GET /api/v2/organizations/me with the organisation of
// the bearer token (answer(token)), and everything else with OK.
func orgUpstream(answer func(token string) upstreamtest.Response) upstreamtest.Handler {
	return func(q *upstreamtest.Request) upstreamtest.Response {
		if q.Method == "GET" && q.Target == "/api/v2/organizations/me" {
			auth := q.Get("Authorization")
			tok := ""
			if len(auth) == 1 {
				tok = strings.TrimPrefix(auth[0], "Bearer ")
			}
			return answer(tok)
		}
		return upstreamtest.OK(q)
	}
}

func orgOf(country string) upstreamtest.Response {
	return upstreamtest.Response{Status: 200, Header: []upstreamtest.Header{{Name: "Content-Type", Value: "application/json"}},
		Body: []byte(`{"id":"6f3b9c1e-0000-4000-8000-000000000001","name":"Example","defaultCountryCode":"` + country + `","defaultLanguage":"en-gb"}`)}
}

// lookups returns the organisation lookups and the POSTs the API upstream
// received.
func lookups(u *upstreamtest.Upstream) (orgs, posts []upstreamtest.Request) {
	for _, q := range u.Requests() {
		switch {
		case q.Method == "GET" && q.Target == "/api/v2/organizations/me":
			orgs = append(orgs, q)
		case q.Method == "POST":
			posts = append(posts, q)
		}
	}
	return orgs, posts
}

func autoFlags(extra map[string]string) map[string]string {
	m := map[string]string{"region": "us-east-1", "country": "auto", "validation": "valid"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func callWith(body, token string, extra ...string) string {
	return request("POST", callsPath, []byte(body), append([]string{jsonCT, "Authorization: Bearer " + token}, extra...)...)
}

// With country: auto, a London number written nationally reaches a callfix
// of region us-east-1 and is read in the organisation's country (GB): one
// GET /api/v2/organizations/me with the client's Authorization, then the
// call POST, forwarded once and repaired.
func TestCountry_Auto_LearntCountryReadsNationalNumbers(t *testing.T) {
	obs := &recorder{}
	r := startRig(t, rigOptions{observer: obs, flags: autoFlags(nil), api: orgUpstream(func(string) upstreamtest.Response { return orgOf("GB") })})
	resp := r.do(callWith(`{"phoneNumber":"020 7946 0958"}`, "tok-GB-1"))
	if resp.Status != 200 {
		t.Fatalf("status = %d, want 200: %s", resp.Status, resp.Body)
	}
	orgs, posts := lookups(r.api)
	if len(orgs) != 1 || len(posts) != 1 {
		t.Fatalf("the API upstream got %d lookups and %d POSTs, want 1 and 1: %s", len(orgs), len(posts), targets(r.api.Requests()))
	}
	if a := orgs[0].Get("Authorization"); len(a) != 1 || a[0] != "Bearer tok-GB-1" {
		t.Errorf("lookup Authorization = %q, want the client's", a)
	}
	if h := orgs[0].Get("Host"); len(h) != 1 || h[0] != r.api.Addr {
		t.Errorf("lookup Host = %q, want %s", h, r.api.Addr)
	}
	if orgs[0].BodyLen != 0 || orgs[0].At.After(posts[0].At) {
		t.Errorf("the lookup has a body (%d bytes) or came after the call", orgs[0].BodyLen)
	}
	if string(posts[0].Body) != `{"phoneNumber":"tel:+442079460958"}` {
		t.Errorf("call body = %s, want the number read in GB", posts[0].Body)
	}
	if a := posts[0].Get("Authorization"); len(a) != 1 || a[0] != "Bearer tok-GB-1" {
		t.Errorf("call Authorization = %q, want it forwarded as sent", a)
	}
	if recs := obs.records(); len(recs) != 1 || recs[0].Country != "GB" {
		t.Errorf("records = %+v, want country GB", recs)
	}

	// A number valid in the US but not in GB is then a problem, whose
	// message says the country was learnt.
	resp = r.do(callWith(`{"phoneNumber":"(317) 555-0100"}`, "tok-GB-1"))
	b := wantAPIError(t, "learnt country", resp, 400, "callfix.invalid.address")
	if !strings.Contains(b.Message, "is not a valid number in GB (read in GB, the default country of the organisation in Genesys Cloud (country: auto)") {
		t.Errorf("message = %q, want it to say GB was learnt", b.Message)
	}

	// X-Callfix-Country wins over the learnt country, and asks nothing.
	resp = r.do(callWith(`{"phoneNumber":"(317) 555-0100"}`, "tok-never-seen", "X-Callfix-Country: US"))
	if resp.Status != 200 {
		t.Errorf("with X-Callfix-Country: status = %d, want 200: %s", resp.Status, resp.Body)
	}
	if orgs, _ := lookups(r.api); len(orgs) != 1 {
		t.Errorf("%d lookups, want still 1: a request with X-Callfix-Country needs none", len(orgs))
	}
	// Without a bearer token there is nothing to ask with: the fallback.
	resp = r.do(request("POST", callsPath, []byte(`{"phoneNumber":"(317) 555-0100"}`), jsonCT, "Authorization: Basic dXNlcjpwYXNz"))
	if resp.Status != 200 {
		t.Errorf("without a bearer token: status = %d, want 200 (read in US): %s", resp.Status, resp.Body)
	}
	if orgs, _ := lookups(r.api); len(orgs) != 1 {
		t.Errorf("%d lookups, want still 1: no bearer token, no lookup", len(orgs))
	}
}

// One lookup per token: later requests with it use the cache, concurrent
// first requests share one lookup, and a slow lookup for one token never
// delays a request with another.
func TestCountry_Auto_CacheAndSharedLookup(t *testing.T) {
	r := startRig(t, rigOptions{flags: autoFlags(nil), api: orgUpstream(func(tok string) upstreamtest.Response {
		if tok == "tok-slow" {
			resp := orgOf("GB")
			resp.Delay = 700 * time.Millisecond
			return resp
		}
		return orgOf("GB")
	})})
	for i := range 5 {
		if resp := r.do(callWith(`{"phoneNumber":"020 7946 0958"}`, "tok-A")); resp.Status != 200 {
			t.Fatalf("request %d: status = %d: %s", i, resp.Status, resp.Body)
		}
	}
	if orgs, posts := lookups(r.api); len(orgs) != 1 || len(posts) != 5 {
		t.Errorf("%d lookups and %d POSTs for 5 requests with one token, want 1 and 5", len(orgs), len(posts))
	}

	// Eight first requests at once with a token whose lookup is slow.
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialRaw(t, r.addr)
			defer c.Close()
			c.send(callWith(`{"phoneNumber":"020 7946 0958"}`, "tok-slow"))
			resp, err := c.readErr()
			if err == nil {
				statuses[i] = resp.Status
			}
		}()
	}
	// Meanwhile a request with a known token, and one with a new token
	// whose lookup is fast, are not held up.
	time.Sleep(100 * time.Millisecond)
	for _, tok := range []string{"tok-A", "tok-B"} {
		start := time.Now()
		if resp := r.do(callWith(`{"phoneNumber":"020 7946 0958"}`, tok)); resp.Status != 200 {
			t.Errorf("%s during the slow lookup: status = %d", tok, resp.Status)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Errorf("%s waited %s during another token's lookup, want no wait", tok, d)
		}
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("concurrent request %d: status %d, want 200", i, s)
		}
	}
	orgs, posts := lookups(r.api)
	slowLookups := 0
	for _, q := range orgs {
		if q.Get("Authorization")[0] == "Bearer tok-slow" {
			slowLookups++
		}
	}
	if slowLookups != 1 || len(orgs) != 3 || len(posts) != 5+n+2 {
		t.Errorf("%d lookups for tok-slow (want 1), %d in all (want 3), %d POSTs (want %d)", slowLookups, len(orgs), len(posts), 5+n+2)
	}
}

// country_lookup.max_entries tokens are cached; one more evicts the least
// recently used. country_lookup.max_age bounds an entry's life.
func TestCountry_Auto_CacheBounds(t *testing.T) {
	r := startRig(t, rigOptions{flags: autoFlags(map[string]string{"country_lookup.max_entries": "2"}),
		api: orgUpstream(func(string) upstreamtest.Response { return orgOf("GB") })})
	call := func(tok string) {
		t.Helper()
		if resp := r.do(callWith(`{"phoneNumber":"020 7946 0958"}`, tok)); resp.Status != 200 {
			t.Fatalf("%s: status = %d: %s", tok, resp.Status, resp.Body)
		}
	}
	count := func() int { orgs, _ := lookups(r.api); return len(orgs) }
	call("tok-1")
	call("tok-2")
	call("tok-1")
	call("tok-2")
	if n := count(); n != 2 {
		t.Errorf("%d lookups for 2 tokens (max_entries 2), want 2", n)
	}
	call("tok-3") // one over: evicts tok-1, the least recently used
	call("tok-2")
	if n := count(); n != 3 {
		t.Errorf("%d lookups after a third token, want 3 (tok-2 still cached)", n)
	}
	call("tok-1")
	if n := count(); n != 4 {
		t.Errorf("%d lookups after tok-1 again, want 4: it was evicted", n)
	}

	r = startRig(t, rigOptions{flags: autoFlags(map[string]string{"country_lookup.max_age": "300ms"}),
		api: orgUpstream(func(string) upstreamtest.Response { return orgOf("GB") })})
	call("tok-1")
	call("tok-1")
	if n := count(); n != 1 {
		t.Errorf("%d lookups within max_age, want 1", n)
	}
	time.Sleep(400 * time.Millisecond)
	call("tok-1")
	if n := count(); n != 2 {
		t.Errorf("%d lookups after max_age, want 2", n)
	}
}

// On any failure the request goes on with the configured country (the
// region's: US), the failure is counted by result, logged without the
// token, and not remembered: the next request with the token asks again.
// The call is forwarded exactly once either way.
func TestCountry_Auto_FailureFallsBackAndIsCounted(t *testing.T) {
	f := func(result string, answer upstreamtest.Response, flags map[string]string) {
		t.Helper()
		r := startOtelRig(t, autoFlags(flags), "")
		r.api.SetHandler(orgUpstream(func(string) upstreamtest.Response { return answer }))
		for i := range 2 {
			start := time.Now()
			resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"(317) 555-0100"}`, otelTrace{spanID: result}))
			if resp.Status != 200 {
				t.Errorf("%s: status = %d, want 200 (read in the fallback US): %s", result, resp.Status, resp.Body)
			}
			if d := time.Since(start); answer.Delay > 0 && d >= answer.Delay {
				t.Errorf("%s: answered after %s, want before the lookup's answer at %s", result, d, answer.Delay)
			}
			if i == 0 {
				r.api.Wait(2, ioTimeout)
			}
		}
		r.api.Wait(4, ioTimeout)
		orgs, posts := lookups(r.api)
		if len(orgs) != 2 || len(posts) != 2 {
			t.Errorf("%s: %d lookups and %d POSTs for 2 requests, want 2 and 2 (a failure is not remembered; the call is sent once)", result, len(orgs), len(posts))
		}
		for _, p := range posts {
			if string(p.Body) != `{"phoneNumber":"tel:+13175550100"}` {
				t.Errorf("%s: call body = %s, want the number read in US", result, p.Body)
			}
		}
		metrics := otelScrape(t, r.tel)
		if want := `callfix_country_lookups_total{result="` + result + `"} 2`; !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, otelGrep(metrics, "callfix_country"))
		}
		if !strings.Contains(metrics, `callfix_country_lookups_total{result="success"} 0`) {
			t.Errorf("metrics count a success:\n%s", otelGrep(metrics, "callfix_country"))
		}
		logs := r.logs.String()
		if !strings.Contains(logs, "cannot learn the organisation's country") || !strings.Contains(logs, `"result":"`+result+`"`) {
			t.Errorf("%s: the log does not say the lookup failed:\n%s", result, logs)
		}
		spans := r.flush(0)
		otelNoSecrets(t, spans)
		for name, text := range map[string]string{"log": logs, "audit": r.audit.String()} {
			if strings.Contains(text, "tok-SECRET") || strings.Contains(text, "Bearer") {
				t.Errorf("%s: the %s holds the token:\n%s", result, name, text)
			}
		}
		for _, l := range otelAuditLines(t, r) {
			if l["country"] != "US" {
				t.Errorf("%s: audit country = %v, want the fallback US", result, l["country"])
			}
		}
		r.stop()
	}
	f("status", upstreamtest.Response{Status: 401, Body: []byte(`{"message":"Invalid login credentials.","code":"bad.credentials","status":401}`)}, nil)
	f("invalid", upstreamtest.Response{Status: 200, Body: []byte(`<html>not JSON</html>`)}, nil)
	f("invalid", orgOf("XX"), nil)
	f("invalid", upstreamtest.Response{Status: 200, Body: []byte(`{"name":"no country"}`)}, nil)
	f("error", upstreamtest.Response{Reset: true}, nil)
	f("timeout", upstreamtest.Response{Delay: 800 * time.Millisecond, Status: 200, Body: orgOf("GB").Body}, map[string]string{"country_lookup.timeout": "200ms"})
}

// The token is never stored, logged, traced or recorded: not on success,
// not in spans (the lookup's client span
// included) nor the audit log.
func TestCountry_Auto_TokenNeverRecorded(t *testing.T) {
	r := startOtelRig(t, autoFlags(nil), "")
	r.api.SetHandler(orgUpstream(func(string) upstreamtest.Response { return orgOf("GB") }))
	tc := newOtelTrace()
	if resp := r.do(otelPost(otelCallsPath, `{"phoneNumber":"020 7946 0958"}`, tc)); resp.Status != 200 {
		t.Fatalf("status = %d: %s", resp.Status, resp.Body)
	}
	orgs, _ := lookups(r.api)
	if len(orgs) != 1 {
		t.Fatalf("%d lookups, want 1", len(orgs))
	}
	spans := r.flush(4)
	otelNoSecrets(t, spans, "2079460958")
	var lookupSpans int
	for _, s := range spans {
		if s.Kind == otlptest.KindClient && s.Attrs.Str("url.path") == "/api/v2/organizations/me" {
			lookupSpans++
			if s.TraceID != tc.traceID {
				t.Errorf("the lookup's span is in trace %s, want the request's %s", s.TraceID, tc.traceID)
			}
		}
	}
	if lookupSpans != 1 {
		t.Errorf("%d client spans for the lookup, want 1:%s", lookupSpans, otelDescribe(spans))
	}
	if tp := orgs[0].Get("traceparent"); len(tp) != 1 || !strings.HasPrefix(tp[0], "00-"+tc.traceID+"-") {
		t.Errorf("lookup traceparent = %q, want the request's trace", tp)
	}
	for name, text := range map[string]string{"log": r.logs.String(), "audit": r.audit.String()} {
		if strings.Contains(text, "tok-SECRET") || strings.Contains(text, "Bearer") {
			t.Errorf("the %s holds the token:\n%s", name, text)
		}
	}
	if lines := otelAuditLines(t, r); len(lines) != 1 || lines[0]["country"] != "GB" {
		t.Errorf("audit = %v, want one record with country GB", lines)
	}
}
