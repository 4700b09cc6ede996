package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Formats of Write.
var Formats = []string{"text", "json", "html"}

// Write writes r in format (text, json or html).
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "text":
		return writeText(w, r)
	case "json":
		return WriteJSON(w, r)
	case "html":
		return writeHTML(w, r)
	}
	return fmt.Errorf("unknown format %q: use %s", format, strings.Join(Formats, ", "))
}

// WriteJSON writes the stable JSON report of docs/REPORT.md.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// num writes n with thousands separators: 1234567 → 1,234,567.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return num(n) + " " + one
	}
	return num(n) + " " + many
}

// clientName is how text and HTML name a client.
func clientName(c *Client) string {
	switch c.IDKind {
	case "client_id":
		return c.ID
	case "token_id":
		return "token " + c.ID
	case "other":
		return "(other clients)"
	}
	return "(no client identity)"
}

func writeText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "callfix report of %s: %s read, %s, %s skipped, %s, %s outside --since/--until\n",
		strings.Join(r.Inputs, ", "), plural(r.Lines.Read, "line", "lines"), plural(r.Lines.Records, "audit record", "audit records"),
		plural(r.Lines.Other, "other line", "other lines"), plural(r.Lines.Malformed, "malformed line", "malformed lines"), num(r.Lines.OutsideRange))
	for _, m := range r.Lines.MalformedAt {
		fmt.Fprintf(ew, "  malformed: %s:%d: %s\n", m.Input, m.Line, m.Error)
	}
	if r.First != "" {
		fmt.Fprintf(ew, "records from %s to %s\n", r.First, r.Last)
	}
	if t := r.Truncated; t.ClientRecords+t.ReasonValues+t.TimelineRecords > 0 {
		fmt.Fprintf(ew, "bounds reached: %s of clients past --max-clients counted as (other clients); %s past --max-reasons counted as (other); %s past --max-buckets left out of the timeline\n",
			plural(t.ClientRecords, "record", "records"), plural(t.ReasonValues, "value", "values"), plural(t.TimelineRecords, "record", "records"))
	}

	fmt.Fprintf(ew, "\nTOTALS\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, countsHeader+"\tchanges\tproblems\tkept values\t")
	fmt.Fprintln(tw, countsRow(&r.Totals)+"\t"+num(r.Totals.Changes)+"\t"+num(r.Totals.Problems)+"\t"+num(r.Totals.KeptValues)+"\t")
	tw.Flush()

	fmt.Fprintf(ew, "\nCLIENTS (most requests enforce would reject first)\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "client\t"+countsHeader+"\tuser agents")
	for i := range r.Clients {
		c := &r.Clients[i]
		uas := strings.Join(c.UserAgents, "; ")
		if uas == "" {
			uas = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", clientName(c), countsRow(&c.Counts), uas)
	}
	tw.Flush()

	fmt.Fprintf(ew, "\nFIELDS AND REASONS (examples masked)\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "category\tfield\treason\tcount\texamples")
	for _, f := range r.Fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Category, f.Field, f.Reason, num(f.Count), strings.Join(f.Examples, ", "))
	}
	tw.Flush()

	fmt.Fprintf(ew, "\nOVER TIME (by %s, UTC)\n", r.Timeline.Bucket)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "start\t"+countsHeader)
	for i := range r.Timeline.Points {
		p := &r.Timeline.Points[i]
		fmt.Fprintf(tw, "%s\t%s\n", p.Start, countsRow(&p.Counts))
	}
	tw.Flush()

	fmt.Fprintf(ew, "\nTURN ENFORCE ON, ONE CLIENT AT A TIME\n")
	for i := range r.Clients {
		c := &r.Clients[i]
		if c.EnforceSnippet == "" {
			fmt.Fprintf(ew, "\n%s: %s; enforce would reject %s. It has no client or token ID to key a clients: entry by: only the global mode applies to it.\n",
				clientName(c), plural(c.Requests, "request", "requests"), num(c.WouldReject))
			continue
		}
		if c.WouldReject == 0 {
			fmt.Fprintf(ew, "\n%s: ready: enforce would have rejected none of its %s. Add to the config:\n", clientName(c), plural(c.Requests, "request", "requests"))
		} else {
			fmt.Fprintf(ew, "\n%s: enforce would reject %s of %s; fix these first, or enforce answers them 400:\n", clientName(c), num(c.WouldReject), plural(c.Requests, "request", "requests"))
			tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			for _, b := range c.EnforceBlockers {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", b.Route, b.Field, b.Reason, num(b.Count), strings.Join(b.Examples, ", "))
			}
			tw.Flush()
			fmt.Fprintf(ew, "then add to the config:\n")
		}
		for _, l := range strings.SplitAfter(strings.TrimSuffix(c.EnforceSnippet, "\n"), "\n") {
			fmt.Fprintf(ew, "  %s", l)
		}
		fmt.Fprintln(ew)
		if c.IDKind == "token_id" {
			fmt.Fprintf(ew, "  (a token ID matches only while that token lives: prefer the client ID, which a replica learns when it sees the token exchange)\n")
		}
	}
	return ew.err
}

const countsHeader = "requests\trewritten\tunchanged\trejected\taudited\tkept\tskipped\twould reject"

func countsRow(c *Counts) string {
	return strings.Join([]string{num(c.Requests), num(c.Rewritten), num(c.Unchanged), num(c.Rejected), num(c.Audited), num(c.Kept), num(c.Skipped), num(c.WouldReject)}, "\t")
}

// errWriter keeps the first write error, so the renderers check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}
