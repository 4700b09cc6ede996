package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// row is one line of the campaign's table: a figure, and the promise it
// is held to. A row without a promise is reported, not judged.
type row struct {
	scenario, figure, value, promise string
	judged, ok                       bool
}

// report collects the rows of every scenario.
type report struct {
	rows  []row
	spent []string // scenario durations, in order
}

// check adds a judged row.
func (r *report) check(scenario, figure string, value any, promise string, ok bool) {
	r.rows = append(r.rows, row{scenario: scenario, figure: figure, value: format(value), promise: promise, judged: true, ok: ok})
}

// zero adds a row whose value must be 0.
func (r *report) zero(scenario, figure string, n int) {
	r.check(scenario, figure, n, "0", n == 0)
}

// info adds a figure without a promise.
func (r *report) info(scenario, figure string, value any) {
	r.rows = append(r.rows, row{scenario: scenario, figure: figure, value: format(value)})
}

// fail adds a breach for a scenario that could not run.
func (r *report) fail(scenario string, err error) {
	r.check(scenario, "the scenario ran", strings.ReplaceAll(err.Error(), "\n", " "), "it runs", false)
}

// took notes a scenario's duration.
func (r *report) took(scenario string, d time.Duration) {
	r.spent = append(r.spent, fmt.Sprintf("%s %s", scenario, d.Round(100*time.Millisecond)))
}

// breaches returns the judged rows that failed.
func (r *report) breaches() []row {
	var out []row
	for _, x := range r.rows {
		if x.judged && !x.ok {
			out = append(out, x)
		}
	}
	return out
}

// write prints the table in Markdown, then the verdict.
func (r *report) write(w io.Writer) {
	fmt.Fprintln(w, "| scenario | figure | value | promise | |")
	fmt.Fprintln(w, "|---|---|--:|---|---|")
	for _, x := range r.rows {
		verdict := ""
		if x.judged {
			verdict = "ok"
			if !x.ok {
				verdict = "**BREACH**"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", x.scenario, x.figure, x.value, x.promise, verdict)
	}
	if len(r.spent) > 0 {
		fmt.Fprintf(w, "\ntime: %s\n", strings.Join(r.spent, ", "))
	}
	if b := r.breaches(); len(b) > 0 {
		fmt.Fprintf(w, "\n%d breach(es):\n", len(b))
		for _, x := range b {
			fmt.Fprintf(w, "- %s: %s = %s, promise %s\n", x.scenario, x.figure, x.value, x.promise)
		}
	} else {
		fmt.Fprintln(w, "\nno breach")
	}
}

// format writes counts with thousands separators, durations rounded, and
// sizes in MiB.
func format(v any) string {
	switch x := v.(type) {
	case int:
		return thousands(int64(x))
	case int64:
		return thousands(x)
	case time.Duration:
		switch {
		case x >= time.Second:
			return x.Round(10 * time.Millisecond).String()
		case x >= time.Millisecond:
			return x.Round(10 * time.Microsecond).String()
		}
		return x.Round(time.Microsecond).String()
	case mib:
		return fmt.Sprintf("%.1f MiB", float64(x)/(1<<20))
	case float64:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprint(v)
}

// mib is a byte count shown in MiB.
type mib int64

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// counts tallies outcomes (a status, or "no answer") in first-seen order.
type counts struct {
	keys []string
	n    map[string]int
}

func (c *counts) add(key string) {
	if c.n == nil {
		c.n = map[string]int{}
	}
	if _, ok := c.n[key]; !ok {
		c.keys = append(c.keys, key)
	}
	c.n[key]++
}

func (c *counts) total() int {
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

// only reports whether every outcome is one of want.
func (c *counts) only(want ...string) bool {
	for k := range c.n {
		found := false
		for _, w := range want {
			found = found || k == w
		}
		if !found {
			return false
		}
	}
	return true
}

// String is "502 ×1,203, 504 ×3" in first-seen order, or "none".
func (c *counts) String() string {
	if len(c.keys) == 0 {
		return "none"
	}
	parts := make([]string, len(c.keys))
	for i, k := range c.keys {
		parts[i] = k + " ×" + thousands(int64(c.n[k]))
	}
	return strings.Join(parts, ", ")
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
