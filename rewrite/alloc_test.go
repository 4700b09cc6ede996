package rewrite

import "testing"

// A body with nothing to fix costs no allocation beyond scanning, and a
// typical CreateCallRequest with two numbers to repair costs the engine two
// (the new body with the result's strings, and the Changes slice) beyond
// what phonenumbers needs. `make test` runs these without -race, which
// defeats sync.Pool on purpose.
func TestRewrite_ZeroAllocations_Canonical(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this without -race")
	}
	e := Default()
	r := e.Match("POST", "/api/v2/conversations/calls")
	body := []byte(benchCanonical)
	if res := e.Rewrite(r, body, "US"); len(res.Changes)+len(res.Problems) != 0 {
		t.Fatalf("canonical body: %d changes, %d problems, want none", len(res.Changes), len(res.Problems))
	}
	if n := testing.AllocsPerRun(1000, func() { e.Rewrite(r, body, "US") }); n != 0 {
		t.Errorf("allocations for a canonical body = %v, want 0", n)
	}
}

func TestRewrite_ZeroAllocations_EngineOwnCostIsTwo(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this without -race")
	}
	answers := map[string]string{"5551234567": "+15551234567", "3175550100": "+13175550100"}
	defer func(p func([]byte, bool, string, Level) (string, string, Reason)) { parse = p }(parse)
	parse = func(d []byte, plus bool, country string, level Level) (string, string, Reason) {
		return answers[string(d)], country, reasonNone
	}
	e := Default()
	r := e.Match("POST", "/api/v2/conversations/calls")
	body := []byte(benchTwoFields)
	if res := e.Rewrite(r, body, "US"); len(res.Changes) != 2 {
		t.Fatalf("changes = %d, want 2", len(res.Changes))
	}
	if n := testing.AllocsPerRun(1000, func() { e.Rewrite(r, body, "US") }); n > 2 {
		t.Errorf("engine allocations for two repairs = %v, want at most 2", n)
	}
}
