package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// What cjson's decode and encode make of the probe (lua-cjson 2.1: keys in
// hash order, "/" escaped, an empty table encoded as an object, numbers
// as doubles with 14 significant digits): each loss is named.
func TestFidelityLosses_CjsonLike(t *testing.T) {
	got := `{"routingSkillsIds":{},"uuiData":"https:\/\/crm.example\/tickets\/42","label":"bench probe","priority":9.007199254741e+15,` +
		`"phoneNumber":"tel:+13175550100","callerIdName":"Front desk","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","callerId":"+13175550101"}`
	losses := fidelityLosses([]byte(probeBody), []byte(probeWant), []byte(got))
	all := strings.Join(losses, "\n")
	for _, want := range []string{
		"key order lost: sent phoneNumber,callerId,callerIdName,callFromQueueId,routingSkillsIds,uuiData,priority,label, received routingSkillsIds,",
		`"/" escaped as "\/"`,
		"routingSkillsIds: [] became {}",
		"priority: 9007199254740993 became 9.007199254741e+15",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("losses lack %q:\n%s", want, all)
		}
	}
	if len(losses) != 4 {
		t.Errorf("%d losses, want 4:\n%s", len(losses), all)
	}
}

func TestFidelityLosses(t *testing.T) {
	f := func(got string, want ...string) {
		t.Helper()
		losses := fidelityLosses([]byte(probeBody), []byte(probeWant), []byte(got))
		if strings.Join(losses, "\n") != strings.Join(want, "\n") {
			t.Errorf("fidelityLosses(%s) = %q, want %q", got, losses, want)
		}
	}
	// callfix's answer: the same bytes but for the two numbers.
	f(probeWant)
	// Nothing rewritten.
	f(probeBody, "phoneNumber not rewritten", "callerId not rewritten")
	// The same values with other spacing.
	f(strings.Replace(probeWant, `,"label"`, `, "label"`, 1), "same values, other bytes (spacing or escaping)")
	// A key dropped, one added.
	f(strings.Replace(probeWant, `,"label":"bench probe"`, `,"labels":"bench probe"`, 1), "label dropped", "labels added")
	f(`[1]`, "the body received is not a JSON object: not an object")
}

func TestProbe_WantsOnlyTheTwoNumbersChanged(t *testing.T) {
	if strings.Count(probeWant, "tel:+13175550100") != 1 || strings.Count(probeWant, `"callerId":"+13175550101"`) != 1 || len(probeWant) != len(probeBody)-2*len("(317) 555-0100")+len("tel:+13175550100")+len("+13175550101") {
		t.Errorf("probeWant = %s", probeWant)
	}
	if m := maskProbe.Replace(probeWant + probeBody); strings.Contains(m, "3175550100") || strings.Contains(m, "555-0101") {
		t.Errorf("masked: %s", m)
	}
}

// The upstream counts a body as exact only when it is the canonical call
// body byte for byte.
func TestIsCanonicalCallBody(t *testing.T) {
	for _, k := range []int{0, 1, 49999, 50000, 99999} {
		if !isCanonicalCallBody(callBody(k, true)) {
			t.Errorf("callBody(%d, canonical) not recognised", k)
		}
		if isCanonicalCallBody(callBody(k, false)) {
			t.Errorf("callBody(%d, national) taken for canonical", k)
		}
	}
	b := callBody(7, true)
	for name, bad := range map[string][]byte{
		"caller of another k": []byte(strings.Replace(string(b), e164Number(callerOf(7)), e164Number(callerOf(8)), 1)),
		"slash escaped":       []byte(strings.Replace(string(b), `user:`, `user\/:`, 1)),
		"keys reordered":      []byte(`{"callerId":"` + e164Number(callerOf(7)) + `","phoneNumber":"tel:` + e164Number(7) + callBodySuffix[2:]),
		"short":               b[:40],
	} {
		if isCanonicalCallBody(bad) {
			t.Errorf("%s: taken for canonical", name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { isCanonicalCallBody(b) }); n != 0 {
		t.Errorf("%v allocations per check", n)
	}
}

// The upstream over TLS: a client that keeps its connection makes one
// handshake for many requests; a new connection with the same session
// cache resumes.
func TestUpstreamTLS_CountsHandshakes(t *testing.T) {
	up, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	dir := t.TempDir()
	ca, err := newBenchCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := up.startTLS(ca)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	cache := tls.NewLRUClientSessionCache(4)
	client := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tlsServerName, ClientSessionCache: cache}}}
	}
	get := func(c *http.Client) {
		t.Helper()
		resp, err := c.Get("https://" + addr + "/api/v2/users/me")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	c1 := client()
	for range 20 {
		get(c1)
	}
	c1.CloseIdleConnections()
	got := up.counts()
	if got.TLSConns != 1 || got.TLSHandshakes != 1 || got.TLSResumed != 0 {
		t.Errorf("20 requests on one connection: %d conns, %d handshakes, %d resumed; want 1, 1, 0", got.TLSConns, got.TLSHandshakes, got.TLSResumed)
	}
	c2 := client()
	get(c2)
	get(c2) // TLS 1.3 tickets arrive after the handshake: the second connection may still be full
	c2.CloseIdleConnections()
	c3 := client()
	get(c3)
	c3.CloseIdleConnections()
	got = up.counts()
	if got.TLSConns != 3 || got.TLSHandshakes != 3 || got.TLSResumed < 1 {
		t.Errorf("three connections sharing a session cache: %d conns, %d handshakes, %d resumed; want 3, 3, ≥1", got.TLSConns, got.TLSHandshakes, got.TLSResumed)
	}
}

func TestParseVariant(t *testing.T) {
	f := func(in string, sets, env []string) {
		t.Helper()
		v, err := parseVariant(in)
		if err != nil {
			t.Fatalf("parseVariant(%q): %v", in, err)
		}
		if strings.Join(v.Sets, "|") != strings.Join(sets, "|") || strings.Join(v.Env, "|") != strings.Join(env, "|") {
			t.Errorf("parseVariant(%q) = %+v, want sets %q env %q", in, v, sets, env)
		}
	}
	f("noaudit:audit.enabled=false", []string{"audit.enabled=false"}, nil)
	f("gogc200:env:GOGC=200", nil, []string{"GOGC=200"})
	f("both:audit.flush_interval=0s; env:GOMEMLIMIT=64MiB;gateway.api_prefixes=/a,/b", []string{"audit.flush_interval=0s", "gateway.api_prefixes=/a,/b"}, []string{"GOMEMLIMIT=64MiB"})
}

func TestParseVariant_Errors(t *testing.T) {
	for _, in := range []string{"", "noaudit", ":audit.enabled=false", "No:audit.enabled=false", "x:", "x:audit", "x:env:=1", "x:env:GOGC"} {
		if _, err := parseVariant(in); err == nil {
			t.Errorf("parseVariant(%q) accepted", in)
		}
	}
}
