package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/")

const goldenLog = "testdata/golden.log"

func build(t *testing.T, opts Options, inputs ...Input) *Report {
	t.Helper()
	r, err := Build(inputs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fileInput(t *testing.T, name string) Input {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return Input{Name: name, R: f}
}

func render(t *testing.T, r *Report, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, format); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGolden_EveryFormat holds the three formats of the golden log: a log
// with every kind of line (records with and without client identity and
// kept values, a replica that saw only the token, values written with
// mask: full and hash, other log lines, docker compose prefixes, malformed
// records). Run with -update after a deliberate change, and read the diff.
func TestGolden_EveryFormat(t *testing.T) {
	r := build(t, Options{}, fileInput(t, goldenLog))
	for _, format := range Formats {
		got := render(t, r, format)
		want := filepath.Join("testdata", "golden."+map[string]string{"text": "txt", "json": "json", "html": "html"}[format])
		if *update {
			if err := os.WriteFile(want, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s report differs from %s (go test ./internal/report -run Golden -update, then read the diff):\n%s", format, want, got)
		}
	}
}

// The golden log's facts, independent of the golden files: what a reader
// of the report relies on.
func TestGolden_Facts(t *testing.T) {
	r := build(t, Options{}, fileInput(t, goldenLog))
	if r.Lines.Read != 35 || r.Lines.Records != 28 || r.Lines.Other != 4 || r.Lines.Malformed != 3 {
		t.Errorf("lines = %+v, want 35 read, 28 records, 4 other, 3 malformed", r.Lines)
	}
	byID := map[string]Client{}
	for _, c := range r.Clients {
		byID[c.IDKind+":"+c.ID] = c
	}
	// The replica that saw only the token: its 2 records join crm-legacy.
	crm := byID["client_id:crm-legacy"]
	if crm.Requests != 11 || crm.TokenIDs != 1 || len(crm.Addresses) != 2 {
		t.Errorf("crm-legacy = %d requests, %d token IDs, addresses %v; want 11, 1, two addresses", crm.Requests, crm.TokenIDs, crm.Addresses)
	}
	if _, ok := byID["token_id:tok-1a2b3c4d5e6f7081"]; ok {
		t.Error("the token crm-legacy exchanged is reported as a client of its own")
	}
	if c := byID["token_id:tok-0f0e0d0c0b0a0908"]; c.WouldReject != 4 || c.EnforceSnippet != "clients:\n  \"tok-0f0e0d0c0b0a0908\":\n    mode: enforce\n" {
		t.Errorf("token client = %+v", c)
	}
	if c := byID["none:"]; c.Requests != 2 || c.EnforceSnippet != "" {
		t.Errorf("records without identity = %+v, want 2 requests and no snippet", c)
	}
	if r.Clients[0].ID != "tok-0f0e0d0c0b0a0908" {
		t.Errorf("first client = %q, want the one with most requests enforce would reject", r.Clients[0].ID)
	}
	var sum Counts
	for _, c := range r.Clients {
		sum.merge(&c.Counts)
	}
	if sum != r.Totals {
		t.Errorf("clients add up to %+v, totals are %+v", sum, r.Totals)
	}
	sum = Counts{}
	for _, p := range r.Timeline.Points {
		sum.merge(&p.Counts)
	}
	if sum != r.Totals || r.Timeline.Bucket != "hour" {
		t.Errorf("timeline (%s) adds up to %+v, totals are %+v", r.Timeline.Bucket, sum, r.Totals)
	}
}

// No full phone number reaches a report, whatever mask the proxy wrote
// the log with: the golden log has a record written with mask: full.
func TestGolden_NoFullNumber(t *testing.T) {
	r := build(t, Options{}, fileInput(t, goldenLog))
	for _, format := range Formats {
		out := string(render(t, r, format))
		for _, full := range []string{"5551234", "(555) 123-4567", "+15551234567"} {
			if strings.Contains(out, full) {
				t.Errorf("%s report shows %q", format, full)
			}
		}
		if !strings.Contains(out, "hmac:1122334455667788") {
			t.Errorf("%s report lost a hash value", format)
		}
	}
}

func TestMask(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
		if again := mask(mask(in)); again != want {
			t.Errorf("mask(mask(%q)) = %q, want %q: masking a masked value changes it", in, again, want)
		}
	}
	f("(555) 123-4567", "(***) ***-**67")
	f("tel:+15551234567", "tel:+1********67")
	f("hmac:0a1b2c3d4e5f6071", "hmac:0a1b2c3d4e5f6071")
	f("user:2ca3b6e8-0000-4000-8000-000000000001", "user:2ca3b6e8-0000-4000-8000-000000000001")
	f("", "")
}

// A gzip file, several files, and standard input give the report of the
// one plain file.
func TestInputs_GzipSeveralFilesStdin(t *testing.T) {
	raw, err := os.ReadFile(goldenLog)
	if err != nil {
		t.Fatal(err)
	}
	want := build(t, Options{}, Input{Name: "x", R: bytes.NewReader(raw)})

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	// Rotated logs concatenate gzip members.
	half := bytes.Index(raw[len(raw)/2:], []byte("\n")) + len(raw)/2 + 1
	var multi bytes.Buffer
	for _, part := range [][]byte{raw[:half], raw[half:]} {
		zw := gzip.NewWriter(&multi)
		zw.Write(part)
		zw.Close()
	}
	f := func(name string, inputs ...Input) {
		t.Helper()
		got := build(t, Options{}, inputs...)
		got.Inputs, got.Lines.MalformedAt = want.Inputs, want.Lines.MalformedAt
		g, w := render(t, got, "json"), render(t, want, "json")
		if !bytes.Equal(g, w) {
			t.Errorf("%s: report differs from the plain file's:\n%s", name, g)
		}
	}
	f("gzip", Input{Name: "x.gz", R: bytes.NewReader(gz.Bytes())})
	f("gzip members", Input{Name: "x.gz", R: bytes.NewReader(multi.Bytes())})
	f("two files", Input{Name: "a", R: bytes.NewReader(raw[:half])}, Input{Name: "b", R: bytes.NewReader(raw[half:])})
	f("no final newline", Input{Name: "x", R: bytes.NewReader(bytes.TrimSuffix(raw, []byte("\n")))})
	f("CRLF", Input{Name: "x", R: bytes.NewReader(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")))})
}

func TestInputs_BrokenGzipIsAnError(t *testing.T) {
	_, err := Build([]Input{{Name: "x.gz", R: bytes.NewReader([]byte{0x1f, 0x8b, 8, 0, 0})}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "x.gz") {
		t.Errorf("err = %v, want one naming the input", err)
	}
}

func line(ts time.Time, client, outcome string) string {
	return fmt.Sprintf(`{"time":%q,"msg":"callfix.audit","route":"POST /r","outcome":%q,"client_id":%q,"changes":[],"problems":[{"field":"f","reason":"r","value":"1"}]}`,
		ts.Format(time.RFC3339Nano), outcome, client)
}

// A line of exactly maxLine bytes is read; one byte more is malformed and
// skipped without being buffered, and the next line is read.
func TestLines_LongLineAtTheBound(t *testing.T) {
	rec := line(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "c", "rejected")
	pad := func(n int) string { // the record, padded with spaces to n bytes
		return rec[:len(rec)-1] + strings.Repeat(" ", n-len(rec)) + "}"
	}
	in := pad(maxLine) + "\n" + pad(maxLine+1) + "\n" + rec + "\n"
	r := build(t, Options{}, Input{Name: "x", R: strings.NewReader(in)})
	if r.Lines.Read != 3 || r.Lines.Records != 2 || r.Lines.Malformed != 1 {
		t.Errorf("lines = %+v, want 3 read, 2 records, 1 malformed", r.Lines)
	}
	if m := r.Lines.MalformedAt; len(m) != 1 || m[0].Line != 2 || !strings.Contains(m[0].Error, "longer than") {
		t.Errorf("malformed = %+v, want line 2, too long", m)
	}
	// The same at the end of the input, without a final newline.
	r = build(t, Options{}, Input{Name: "x", R: strings.NewReader(rec + "\n" + pad(maxLine))})
	if r.Lines.Records != 2 {
		t.Errorf("last line of %d bytes without newline: lines = %+v, want 2 records", maxLine, r.Lines)
	}
	r = build(t, Options{}, Input{Name: "x", R: strings.NewReader(rec + "\n" + pad(maxLine+1))})
	if r.Lines.Records != 1 || r.Lines.Malformed != 1 {
		t.Errorf("last line of %d bytes without newline: lines = %+v, want 1 record, 1 malformed", maxLine+1, r.Lines)
	}
}

func TestLines_MalformedExamplesAreBounded(t *testing.T) {
	in := strings.Repeat(`{"msg":"callfix.audit",`+"\n", maxMalformed+3)
	r := build(t, Options{}, Input{Name: "x", R: strings.NewReader(in)})
	if r.Lines.Malformed != maxMalformed+3 || len(r.Lines.MalformedAt) != maxMalformed {
		t.Errorf("malformed = %d with %d examples, want %d with %d", r.Lines.Malformed, len(r.Lines.MalformedAt), maxMalformed+3, maxMalformed)
	}
	for _, m := range r.Lines.MalformedAt {
		if strings.Contains(m.Error, "callfix.audit") {
			t.Errorf("a malformed line's content reached the report: %q", m.Error)
		}
	}
}

// --since is inclusive and --until exclusive, to the nanosecond.
func TestOptions_SinceUntilEdges(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var in strings.Builder
	for _, d := range []time.Duration{-1, 0, time.Hour - 1, time.Hour} {
		in.WriteString(line(t0.Add(d), "c", "unchanged") + "\n")
	}
	r := build(t, Options{Since: t0, Until: t0.Add(time.Hour)}, Input{Name: "x", R: strings.NewReader(in.String())})
	if r.Lines.Records != 2 || r.Lines.OutsideRange != 2 {
		t.Errorf("lines = %+v, want 2 records and 2 outside the range", r.Lines)
	}
	if r.First != t0.Format(time.RFC3339Nano) || r.Last != t0.Add(time.Hour-1).Format(time.RFC3339Nano) {
		t.Errorf("first %s, last %s", r.First, r.Last)
	}
}

func manyClients(n int) string {
	var b strings.Builder
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b.WriteString(line(t0, fmt.Sprintf("client-%03d", i), "rejected") + "\n")
	}
	return b.String()
}

func TestOptions_MaxClientsEdge(t *testing.T) {
	f := func(clients, max, wantListed int, wantFolded int64) {
		t.Helper()
		r := build(t, Options{MaxClients: max}, Input{Name: "x", R: strings.NewReader(manyClients(clients))})
		listed, other := 0, false
		for _, c := range r.Clients {
			if c.IDKind == "other" {
				other = true
				if c.Requests != wantFolded {
					t.Errorf("%d clients, max %d: (other) has %d requests, want %d", clients, max, c.Requests, wantFolded)
				}
			} else {
				listed++
			}
		}
		if listed != wantListed || r.Truncated.ClientRecords != wantFolded || other != (wantFolded > 0) {
			t.Errorf("%d clients, max %d: %d listed, %d folded (other %v); want %d, %d", clients, max, listed, r.Truncated.ClientRecords, other, wantListed, wantFolded)
		}
		if last := r.Clients[len(r.Clients)-1]; wantFolded > 0 && last.IDKind != "other" {
			t.Errorf("(other) is not last: %+v", last)
		}
	}
	f(5, 5, 5, 0)
	f(6, 5, 5, 1)
	f(1, 1, 1, 0)
	f(3, 1, 1, 2)
}

func TestOptions_MaxReasonsEdge(t *testing.T) {
	var b strings.Builder
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		fmt.Fprintf(&b, `{"time":%q,"msg":"callfix.audit","route":"POST /r","outcome":"rejected","client_id":"c","problems":[{"field":"f%d","reason":"r","value":"1"}]}`+"\n", t0.Format(time.RFC3339), i)
	}
	f := func(max int, wantFields int, wantFolded int64) {
		t.Helper()
		r := build(t, Options{MaxReasons: max}, Input{Name: "x", R: strings.NewReader(b.String())})
		named := 0
		for _, f := range r.Fields {
			if f.Field != "(other)" {
				named++
			}
		}
		if named != wantFields || r.Truncated.ReasonValues != wantFolded {
			t.Errorf("max %d: %d fields, %d folded; want %d, %d", max, named, r.Truncated.ReasonValues, wantFields, wantFolded)
		}
		if bl := r.Clients[0].EnforceBlockers; len(bl) != min(4, max+1) && wantFolded > 0 || len(bl) != 4 && wantFolded == 0 {
			t.Errorf("max %d: client has %d blockers", max, len(bl))
		}
		var total int64
		for _, f := range r.Fields {
			total += f.Count
		}
		if total != 4 {
			t.Errorf("max %d: fields count %d values, want all 4", max, total)
		}
	}
	f(4, 4, 0)
	// Past the bound, the overall list and the client's list both fold.
	f(3, 3, 2)
}

func TestOptions_MaxBucketsEdge(t *testing.T) {
	var b strings.Builder
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for h := range 4 {
		b.WriteString(line(t0.Add(time.Duration(h)*time.Hour), "c", "unchanged") + "\n")
	}
	f := func(max, wantPoints int, wantLeft int64) {
		t.Helper()
		r := build(t, Options{MaxBuckets: max, Bucket: "hour"}, Input{Name: "x", R: strings.NewReader(b.String())})
		if len(r.Timeline.Points) != wantPoints || r.Truncated.TimelineRecords != wantLeft || r.Totals.Requests != 4 {
			t.Errorf("max %d: %d points, %d left out, %d requests; want %d, %d, 4", max, len(r.Timeline.Points), r.Truncated.TimelineRecords, r.Totals.Requests, wantPoints, wantLeft)
		}
	}
	f(4, 4, 0)
	f(3, 3, 1)
}

func TestTimeline_AutoBucket(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)
	f := func(span time.Duration, want string, points int) {
		t.Helper()
		in := line(t0, "c", "unchanged") + "\n" + line(t0.Add(span), "c", "unchanged") + "\n"
		r := build(t, Options{}, Input{Name: "x", R: strings.NewReader(in)})
		if r.Timeline.Bucket != want || len(r.Timeline.Points) != points {
			t.Errorf("span %v: bucket %s with %d points, want %s with %d", span, r.Timeline.Bucket, len(r.Timeline.Points), want, points)
		}
	}
	f(72*time.Hour, "hour", 2)
	f(72*time.Hour+time.Second, "day", 2)
	f(time.Minute, "hour", 1) // 23:30 and 23:31: one hour
	f(30*time.Minute, "hour", 2)
}

func TestJSON_IsStable(t *testing.T) {
	// Empty input: every list is [] (never null), so consumers need no
	// special case.
	r := build(t, Options{}, Input{Name: "-", R: strings.NewReader("")})
	var m map[string]any
	if err := json.Unmarshal(render(t, r, "json"), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"inputs", "clients", "fields"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %v, want a list", k, m[k])
		}
	}
	if pts, ok := m["timeline"].(map[string]any)["points"].([]any); !ok || len(pts) != 0 {
		t.Errorf("timeline.points = %v", m["timeline"])
	}
	if m["report_version"] != float64(Version) {
		t.Errorf("report_version = %v", m["report_version"])
	}
}
