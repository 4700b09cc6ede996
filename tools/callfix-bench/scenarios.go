package main

import (
	"fmt"
	"strings"
)

// distinctNumbers is how many different phone numbers the call scenarios
// cycle through, in wrk's Lua script and in the Go generator alike.
const distinctNumbers = 100_000

// putBodySize is the body of put-100k, and bigBodySize the answer to
// get-10m.
const (
	putBodySize = 100 << 10
	bigBodySize = 10 << 20
)

// scenario is one kind of request driven against every target.
type scenario struct {
	Name        string
	Method      string
	Path        string
	ContentType string
	// Script is the wrk Lua script in tools/callfix-bench/assets, ScriptArgs what follows
	// "--" on wrk's command line (the script's init(args)).
	Script     string
	ScriptArgs []string
	// Conns is the connection count for this scenario when it differs
	// from -conns (get-10m uses fewer: each response is 10 MiB).
	Conns int
	// Call is set on the call scenarios: bodies come from callBody with
	// Canonical.
	Call      bool
	Canonical bool
	// TLS: the upstream is reached over TLS (the proxies are still
	// reached over plain HTTP); direct is not driven.
	TLS bool
	// Put is set on put-100k: a fixed 100 KiB body.
	Put bool
	// WantBody is the exact response size a Go generator checks (0: any).
	WantBody int
	// About says what the scenario exercises, for the report.
	About string
}

var allScenarios = []*scenario{
	{Name: "get-small", Method: "GET", Path: "/api/v2/users/me", Script: "get.lua",
		About: "GET, ~100-byte JSON answer: pure pass-through cost per request"},
	{Name: "put-100k", Method: "PUT", Path: "/api/v2/blob", ContentType: "application/octet-stream", Script: "put-100k.lua", Put: true,
		About: "100 KiB uploads streamed through (not intercepted)"},
	{Name: "call-rewrite", Method: "POST", Path: "/api/v2/conversations/calls", ContentType: "application/json", Script: "call.lua",
		ScriptArgs: []string{"national"}, Call: true,
		About: "CreateCallRequest with phoneNumber and callerId national: callfix reads, rewrites (2 numbers) and forwards"},
	{Name: "call-canonical", Method: "POST", Path: "/api/v2/conversations/calls", ContentType: "application/json", Script: "call.lua",
		ScriptArgs: []string{"canonical"}, Call: true, Canonical: true,
		About: "the same request already tel:+E.164 / +E.164: callfix reads and checks, changes nothing"},
	{Name: "get-10m", Method: "GET", Path: "/api/v2/big", Script: "get.lua", Conns: 8, WantBody: bigBodySize,
		About: "10 MiB downloads streamed back: throughput and memory per connection"},
	{Name: "get-small-tls", Method: "GET", Path: "/api/v2/users/me", Script: "get.lua", TLS: true,
		About: "get-small with the upstream over TLS (a CA the harness makes): pooled TLS connections, handshakes counted at the upstream"},
	{Name: "call-rewrite-tls", Method: "POST", Path: "/api/v2/conversations/calls", ContentType: "application/json", Script: "call.lua",
		ScriptArgs: []string{"national"}, Call: true, TLS: true,
		About: "call-rewrite with the upstream over TLS"},
}

// parseScenarios reads the -scenarios list: names separated by commas, or
// "all".
func parseScenarios(list string) ([]*scenario, error) {
	if strings.TrimSpace(list) == "" || list == "all" {
		return allScenarios, nil
	}
	var out []*scenario
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		var sc *scenario
		for _, s := range allScenarios {
			if s.Name == name {
				sc = s
			}
		}
		if sc == nil {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", name, scenarioNames())
		}
		seen[name] = true
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-scenarios: no scenario named (known: %s)", scenarioNames())
	}
	return out, nil
}

func scenarioNames() string {
	var names []string
	for _, s := range allScenarios {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// Call bodies. tools/callfix-bench/assets/call.lua builds exactly these bytes with
// string.format; TestWrk_LuaScripts checks that the two agree.
const (
	callBodyPrefix = `{"phoneNumber":"`
	callBodyMiddle = `","callerId":"`
	callBodySuffix = `","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}]}`
)

// nationalNumber is the k-th of distinctNumbers US numbers in national
// notation: (317) 550-0000 … (317) 559-9999.
func nationalNumber(k int) string {
	return string(appendNational(nil, k))
}

// e164Number is nationalNumber(k) in E.164.
func e164Number(k int) string {
	return string(appendE164(nil, k))
}

func appendNational(b []byte, k int) []byte {
	b = append(b, "(317) 55"...)
	b = append(b, byte('0'+k/10000))
	b = append(b, '-')
	return append4(b, k%10000)
}

func appendE164(b []byte, k int) []byte {
	b = append(b, "+131755"...)
	b = append(b, byte('0'+k/10000))
	return append4(b, k%10000)
}

// append4 appends n (0 <= n < 10000) on four digits.
func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// callerOf is the callerId paired with phone number k: another number of
// the same set, so that both fields vary.
func callerOf(k int) int { return (k + distinctNumbers/2) % distinctNumbers }

// callBody is the k-th call body (k taken modulo distinctNumbers): phoneNumber
// and callerId national, or already canonical (tel:+E.164 and +E.164).
func callBody(k int, canonical bool) []byte {
	k %= distinctNumbers
	if k < 0 {
		k += distinctNumbers
	}
	b := make([]byte, 0, len(callBodyPrefix)+len(callBodyMiddle)+len(callBodySuffix)+40)
	return appendCallBody(b, k, canonical)
}

// appendCallBody appends callBody(k, canonical) to b, for 0 <= k <
// distinctNumbers.
func appendCallBody(b []byte, k int, canonical bool) []byte {
	c := callerOf(k)
	b = append(b, callBodyPrefix...)
	if canonical {
		b = appendE164(append(b, "tel:"...), k)
	} else {
		b = appendNational(b, k)
	}
	b = append(b, callBodyMiddle...)
	if canonical {
		b = appendE164(b, c)
	} else {
		b = appendNational(b, c)
	}
	return append(b, callBodySuffix...)
}

// callBodies precomputes every call body of one form, for the Go
// generator (about 19 MB for the 100,000 of them).
func callBodies(canonical bool) [][]byte {
	out := make([][]byte, distinctNumbers)
	for k := range out {
		out[k] = callBody(k, canonical)
	}
	return out
}

// putBody is the shared, read-only body of put-100k.
func putBody() []byte {
	b := make([]byte, putBodySize)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}
