package report

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/callfix/callfix/internal/telemetry"
)

// Aggregator folds audit records into a report, one line at a time. Its
// memory is bounded by Options' bounds: distinct clients, reasons and
// hours, never by the number of lines.
type Aggregator struct {
	opts   Options
	inputs []string
	lines  Lines
	totals Counts
	first  time.Time
	last   time.Time

	clients map[clientKey]*clientAgg
	other   *clientAgg // clients beyond MaxClients
	// tokenClient maps a token ID to the client ID a record gave with it, so
	// that records of replicas that saw only the token are attributed to
	// the client at the end.
	tokenClient map[string]string
	fields      map[fieldKey]*fieldAgg
	hours       map[int64]*Counts
	trunc       Truncated
	rec         record
}

type clientKey struct{ kind, id string }

type fieldKey struct{ category, field, reason string }

type blockerKey struct{ route, field, reason string }

type clientAgg struct {
	key         clientKey
	tokens      map[string]struct{} // token IDs seen, bounded by MaxClients overall
	userAgents  []string
	addresses   []string
	first, last time.Time
	counts      Counts
	blockers    map[blockerKey]*fieldAgg
}

type fieldAgg struct {
	count    int64
	examples []string
}

// NewAggregator returns an empty Aggregator.
func NewAggregator(opts Options) *Aggregator {
	if opts.MaxClients <= 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.MaxReasons <= 0 {
		opts.MaxReasons = DefaultMaxReasons
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = DefaultMaxBuckets
	}
	return &Aggregator{opts: opts, clients: map[clientKey]*clientAgg{}, tokenClient: map[string]string{},
		fields: map[fieldKey]*fieldAgg{}, hours: map[int64]*Counts{}}
}

// Read adds every line of r, named name in the report. It fails only when
// r cannot be read.
func (a *Aggregator) Read(name string, r io.Reader) error {
	a.inputs = append(a.inputs, name)
	var n int64
	return lines(r, func(line []byte, tooLong bool) {
		n++
		a.lines.Read++
		if tooLong {
			a.malformed(name, n, fmt.Errorf("longer than %d bytes", maxLine))
			return
		}
		a.Line(name, n, line)
	})
}

// Line adds one line: an audit record, another log line (skipped) or a
// malformed record (counted). name and n say where it is.
func (a *Aggregator) Line(name string, n int64, line []byte) {
	kind, err := parseLine(line, &a.rec)
	switch kind {
	case lineOther:
		a.lines.Other++
		return
	case lineMalformed:
		a.malformed(name, n, err)
		return
	}
	r := &a.rec
	if (!a.opts.Since.IsZero() && r.Time.Before(a.opts.Since)) || (!a.opts.Until.IsZero() && !r.Time.Before(a.opts.Until)) {
		a.lines.OutsideRange++
		return
	}
	a.lines.Records++
	a.add(r)
}

func (a *Aggregator) malformed(name string, n int64, err error) {
	a.lines.Malformed++
	if len(a.lines.MalformedAt) < maxMalformed {
		a.lines.MalformedAt = append(a.lines.MalformedAt, Malformed{Input: name, Line: n, Error: err.Error()})
	}
}

func (a *Aggregator) add(r *record) {
	t := r.Time.UTC()
	if a.first.IsZero() || t.Before(a.first) {
		a.first = t
	}
	if t.After(a.last) {
		a.last = t
	}
	a.totals.add(r)

	c := a.client(r)
	c.counts.add(r)
	if c.first.IsZero() || t.Before(c.first) {
		c.first = t
	}
	if t.After(c.last) {
		c.last = t
	}
	if r.UserAgent != "" {
		c.userAgents = addBounded(c.userAgents, r.UserAgent, maxUserAgents)
	}
	if r.ClientAddress != "" {
		c.addresses = addBounded(c.addresses, r.ClientAddress, maxAddresses)
	}
	if r.TokenID != "" && len(c.tokens) < a.opts.MaxClients {
		c.tokens[r.TokenID] = struct{}{}
	}
	for i := range r.Problems {
		p := &r.Problems[i]
		field := telemetry.FieldTemplate(p.Field)
		a.field(fieldKey{"problem", field, p.Reason}, p.Value, "", false)
		if c.blockers == nil {
			c.blockers = map[blockerKey]*fieldAgg{}
		}
		k := blockerKey{r.Route, field, p.Reason}
		if _, ok := c.blockers[k]; !ok && len(c.blockers) >= a.opts.MaxReasons {
			k = blockerKey{"(other)", "(other)", "(other)"}
			a.trunc.ReasonValues++
		}
		b := c.blockers[k]
		if b == nil {
			b = &fieldAgg{}
			c.blockers[k] = b
		}
		b.add(p.Value, "", false)
	}
	for i := range r.Kept {
		k := &r.Kept[i]
		a.field(fieldKey{"kept", telemetry.FieldTemplate(k.Field), k.Reason}, k.Value, "", false)
	}
	for i := range r.Changes {
		ch := &r.Changes[i]
		a.field(fieldKey{"change", telemetry.FieldTemplate(ch.Field), ch.Kind}, ch.From, ch.To, true)
	}

	h := t.Unix() / 3600
	p := a.hours[h]
	if p == nil {
		if len(a.hours) >= a.opts.MaxBuckets {
			a.trunc.TimelineRecords++
			return
		}
		p = &Counts{}
		a.hours[h] = p
	}
	p.add(r)
}

// client returns the entry r counts in: by client ID, else by token ID,
// else the anonymous one; "(other)" past MaxClients.
func (a *Aggregator) client(r *record) *clientAgg {
	k := clientKey{"none", ""}
	switch {
	case r.ClientID != "":
		k = clientKey{"client_id", r.ClientID}
		if r.TokenID != "" {
			if _, ok := a.tokenClient[r.TokenID]; ok || len(a.tokenClient) < a.opts.MaxClients {
				a.tokenClient[r.TokenID] = r.ClientID
			}
		}
	case r.TokenID != "":
		k = clientKey{"token_id", r.TokenID}
	}
	if c := a.clients[k]; c != nil {
		return c
	}
	if len(a.clients) >= a.opts.MaxClients {
		a.trunc.ClientRecords++
		if a.other == nil {
			a.other = &clientAgg{key: clientKey{"other", "(other)"}, tokens: map[string]struct{}{}}
		}
		return a.other
	}
	c := &clientAgg{key: k, tokens: map[string]struct{}{}}
	a.clients[k] = c
	return c
}

func (a *Aggregator) field(k fieldKey, v, to string, isChange bool) {
	f := a.fields[k]
	if f == nil {
		if len(a.fields) >= a.opts.MaxReasons {
			a.trunc.ReasonValues++
			k = fieldKey{k.category, "(other)", "(other)"}
			if f = a.fields[k]; f == nil {
				f = &fieldAgg{}
				a.fields[k] = f
			}
			f.count++
			return
		}
		f = &fieldAgg{}
		a.fields[k] = f
	}
	f.add(v, to, isChange)
}

// add counts a value and keeps it, masked, as an example while there are
// fewer than maxExamples; a change's example is "from → to".
func (f *fieldAgg) add(v, to string, isChange bool) {
	f.count++
	if len(f.examples) < maxExamples {
		e := mask(v)
		if isChange {
			e += " → " + mask(to)
		}
		f.examples = addBounded(f.examples, e, maxExamples)
	}
}

// addBounded appends v to list unless it is there or the list is full.
func addBounded(list []string, v string, max int) []string {
	if len(list) >= max || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

func (c *Counts) add(r *record) {
	c.Requests++
	switch r.Outcome {
	case "rewritten":
		c.Rewritten++
	case "unchanged":
		c.Unchanged++
	case "rejected":
		c.Rejected++
	case "audited":
		c.Audited++
	}
	if len(r.Kept) > 0 {
		c.Kept++
	}
	if r.Skipped != "" {
		c.Skipped++
	}
	if len(r.Problems) > 0 || r.Outcome == "rejected" {
		c.WouldReject++
	}
	c.Changes += int64(len(r.Changes))
	c.Problems += int64(len(r.Problems))
	c.KeptValues += int64(len(r.Kept))
}

func (c *Counts) merge(o *Counts) {
	c.Requests += o.Requests
	c.Rewritten += o.Rewritten
	c.Unchanged += o.Unchanged
	c.Rejected += o.Rejected
	c.Audited += o.Audited
	c.Kept += o.Kept
	c.Skipped += o.Skipped
	c.WouldReject += o.WouldReject
	c.Changes += o.Changes
	c.Problems += o.Problems
	c.KeptValues += o.KeptValues
}

// Report returns the report of everything read so far.
func (a *Aggregator) Report() *Report {
	r := &Report{Version: Version, Inputs: slices.Clone(a.inputs), Lines: a.lines, Totals: a.totals,
		Clients: []Client{}, Fields: []Field{}, Truncated: a.trunc}
	if r.Inputs == nil {
		r.Inputs = []string{}
	}
	if r.Lines.MalformedAt == nil {
		r.Lines.MalformedAt = []Malformed{}
	}
	if !a.opts.Since.IsZero() {
		r.Since = a.opts.Since.UTC().Format(time.RFC3339)
	}
	if !a.opts.Until.IsZero() {
		r.Until = a.opts.Until.UTC().Format(time.RFC3339)
	}
	if !a.first.IsZero() {
		r.First, r.Last = a.first.Format(time.RFC3339Nano), a.last.Format(time.RFC3339Nano)
	}

	// Records of replicas that saw only a token go to the client whose ID
	// another record gave with the same token.
	merged := map[clientKey]*clientAgg{}
	for k, c := range a.clients {
		if k.kind == "token_id" {
			if id, ok := a.tokenClient[k.id]; ok {
				if into := a.clients[clientKey{"client_id", id}]; into != nil {
					into.merge(c)
					continue
				}
			}
		}
		merged[k] = c
	}
	for _, k := range slices.SortedFunc(maps.Keys(merged), func(x, y clientKey) int {
		if x.kind != y.kind {
			return cmp.Compare(x.kind, y.kind)
		}
		return cmp.Compare(x.id, y.id)
	}) {
		r.Clients = append(r.Clients, merged[k].out())
	}
	if a.other != nil {
		r.Clients = append(r.Clients, a.other.out())
	}
	sortClients(r.Clients)

	for k, f := range a.fields {
		r.Fields = append(r.Fields, Field{Category: k.category, Field: k.field, Reason: k.reason, Count: f.count, Examples: nonNil(slices.Clone(f.examples))})
	}
	sortFields(r.Fields)

	r.Timeline = a.timeline()
	return r
}

func (a *Aggregator) timeline() Timeline {
	bucket := a.opts.Bucket
	if bucket == "" {
		bucket = "hour"
		if a.last.Sub(a.first) > 72*time.Hour {
			bucket = "day"
		}
	}
	tl := Timeline{Bucket: bucket, Points: []Point{}}
	step := int64(1)
	if bucket == "day" {
		step = 24
	}
	byStart := map[int64]*Counts{}
	for h, c := range a.hours {
		s := h - h%step // days start at 00:00 UTC
		if h < 0 && h%step != 0 {
			s -= step
		}
		p := byStart[s]
		if p == nil {
			p = &Counts{}
			byStart[s] = p
		}
		p.merge(c)
	}
	for _, s := range slices.Sorted(maps.Keys(byStart)) {
		tl.Points = append(tl.Points, Point{Start: time.Unix(s*3600, 0).UTC().Format(time.RFC3339), Counts: *byStart[s]})
	}
	return tl
}

func (c *clientAgg) merge(o *clientAgg) {
	c.counts.merge(&o.counts)
	for t := range o.tokens {
		c.tokens[t] = struct{}{}
	}
	for _, ua := range o.userAgents {
		c.userAgents = addBounded(c.userAgents, ua, maxUserAgents)
	}
	for _, ad := range o.addresses {
		c.addresses = addBounded(c.addresses, ad, maxAddresses)
	}
	if !o.first.IsZero() && (c.first.IsZero() || o.first.Before(c.first)) {
		c.first = o.first
	}
	if o.last.After(c.last) {
		c.last = o.last
	}
	for k, b := range o.blockers {
		if c.blockers == nil {
			c.blockers = map[blockerKey]*fieldAgg{}
		}
		into := c.blockers[k]
		if into == nil {
			into = &fieldAgg{}
			c.blockers[k] = into
		}
		into.count += b.count
		for _, e := range b.examples {
			into.examples = addBounded(into.examples, e, maxExamples)
		}
	}
}

func (c *clientAgg) out() Client {
	uas := slices.Clone(c.userAgents)
	addrs := slices.Clone(c.addresses)
	slices.Sort(uas)
	slices.Sort(addrs)
	out := Client{ID: c.key.id, IDKind: c.key.kind, TokenIDs: len(c.tokens), UserAgents: nonNil(uas), Addresses: nonNil(addrs),
		Counts: c.counts, EnforceBlockers: []Blocker{}, EnforceSnippet: Snippet(c.key.id, c.key.kind)}
	if !c.first.IsZero() {
		out.First, out.Last = c.first.Format(time.RFC3339Nano), c.last.Format(time.RFC3339Nano)
	}
	for k, b := range c.blockers {
		out.EnforceBlockers = append(out.EnforceBlockers, Blocker{Route: k.route, Field: k.field, Reason: k.reason, Count: b.count, Examples: nonNil(slices.Clone(b.examples))})
	}
	sortBlockers(out.EnforceBlockers)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
