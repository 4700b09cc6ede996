package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A judged row that fails is a breach; an info row never is; the table
// marks each and ends with the verdict.
func TestReport_BreachesAndTable(t *testing.T) {
	r := &report{}
	r.info("s", "sent", 10000)
	r.zero("s", "duplicates", 0)
	r.zero("s", "no answer", 3)
	r.check("s", "statuses", "200 ×5", "all 200", true)
	r.took("s", 1500*time.Millisecond)
	if b := r.breaches(); len(b) != 1 || b[0].figure != "no answer" {
		t.Fatalf("breaches = %+v, want the one non-zero zero row", b)
	}
	var out bytes.Buffer
	r.write(&out)
	want := []string{
		"| scenario | figure | value | promise | |",
		"| s | sent | 10,000 |  |  |",
		"| s | duplicates | 0 | 0 | ok |",
		"| s | no answer | 3 | 0 | **BREACH** |",
		"| s | statuses | 200 ×5 | all 200 | ok |",
		"time: s 1.5s",
		"1 breach(es):",
		"- s: no answer = 3, promise 0",
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w+"\n") {
			t.Errorf("table lacks the line %q:\n%s", w, out.String())
		}
	}

	ok := &report{}
	ok.zero("s", "duplicates", 0)
	out.Reset()
	ok.write(&out)
	if len(ok.breaches()) != 0 || !strings.HasSuffix(out.String(), "\nno breach\n") {
		t.Errorf("a clean report: %d breaches, table ends %q", len(ok.breaches()), out.String())
	}
}

func TestFormat(t *testing.T) {
	f := func(v any, want string) {
		t.Helper()
		if got := format(v); got != want {
			t.Errorf("format(%v) = %q, want %q", v, got, want)
		}
	}
	f(0, "0")
	f(999, "999")
	f(1000, "1,000")
	f(1234567, "1,234,567")
	f(int64(-4200), "-4,200")
	f(1500*time.Millisecond, "1.5s")
	f(1234567*time.Nanosecond, "1.23ms")
	f(5432*time.Nanosecond, "5µs")
	f(mib(3<<20+1<<19), "3.5 MiB")
	f("x", "x")
}

func TestCounts(t *testing.T) {
	var c counts
	if c.String() != "none" || !c.only("200") || c.total() != 0 {
		t.Errorf("empty counts: %q, only %v, total %d", c.String(), c.only("200"), c.total())
	}
	for _, k := range []string{"502", "504", "502", "no answer"} {
		c.add(k)
	}
	if got := c.String(); got != "502 ×2, 504 ×1, no answer ×1" {
		t.Errorf("String = %q", got)
	}
	if c.total() != 4 || c.only("502", "504") || !c.only("502", "504", "no answer") {
		t.Errorf("total %d, only(502, 504) %v, only(all) %v", c.total(), c.only("502", "504"), c.only("502", "504", "no answer"))
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(ds, p); got != want {
			t.Errorf("p%v = %s, want %s", p, got, want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Errorf("percentile of nothing is not 0")
	}
}

// The fault plan is the seed's: the same seed gives the same plan, and
// over many requests each fault comes about as often as its weight says.
func TestPlanFaults_SeededAndWeighted(t *testing.T) {
	a, b, other := planFaults(7, 10000), planFaults(7, 10000), planFaults(8, 10000)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("two plans with seed 7 differ")
	}
	if strings.Join(a, ",") == strings.Join(other, ",") {
		t.Errorf("seeds 7 and 8 give the same plan")
	}
	n := map[string]int{}
	for _, f := range a {
		n[f]++
	}
	for i, f := range faults {
		want := faultWeights[i] * 100
		if n[f] < want*8/10 || n[f] > want*12/10 {
			t.Errorf("%s: %d of 10000, want about %d", f, n[f], want)
		}
	}
}

func TestExpectedStatus(t *testing.T) {
	want := map[string]string{faultAnswer: "200", faultCloseAfterAnswer: "200", faultStall: "504",
		faultResetBeforeBody: "502", faultResetAfterBody: "502", faultResetMidResponse: "502"}
	for _, f := range faults {
		if got := expectedStatus(f); got != want[f] {
			t.Errorf("expectedStatus(%s) = %s, want %s", f, got, want[f])
		}
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP x\n# TYPE x counter\ncallfix_config_reloads_total{result=\"success\"} 3\ngo_goroutines 17\nbad line\n"))
	if err != nil || m[`callfix_config_reloads_total{result="success"}`] != 3 || m["go_goroutines"] != 17 || len(m) != 2 {
		t.Errorf("parseMetrics = %v, %v", m, err)
	}
}
