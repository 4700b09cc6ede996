package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callfix/callfix/internal/telemetry"
)

// Options bound and filter a report. The zero value reads everything with
// the default bounds.
type Options struct {
	// Since and Until keep records with Since <= time < Until; a zero time
	// does not filter.
	Since, Until time.Time
	// Bucket is the timeline's step: "hour", "day", or "" (auto: hours when
	// the records span at most three days, else days).
	Bucket string
	// MaxClients is the most distinct clients (client IDs and token IDs)
	// reported one by one; records of later ones count as "(other)".
	// If 0, DefaultMaxClients.
	MaxClients int
	// MaxReasons is the most distinct (category, field, reason) entries in
	// the report, and in each client's list of what enforce would reject;
	// later ones count as field "(other)". If 0, DefaultMaxReasons.
	MaxReasons int
	// MaxBuckets is the most distinct hours on the timeline; records in
	// later hours count everywhere but there. If 0, DefaultMaxBuckets.
	MaxBuckets int
}

// Defaults of Options.
const (
	DefaultMaxClients = 10000
	DefaultMaxReasons = 1000
	DefaultMaxBuckets = 10000 // hours: 416 days
)

// Bounds on what is kept per entry; fixed, as each is tiny.
const (
	maxExamples   = 3 // masked examples per field and reason
	maxUserAgents = 5 // distinct user agents per client
	maxAddresses  = 5 // distinct client addresses per client
	maxMalformed  = 5 // malformed lines quoted (by position, never content)
)

// Version is the version of the JSON report (docs/REPORT.md). It changes
// only when a field changes meaning; fields are only ever added.
const Version = 1

// Report is what `callfix report --format json` writes: docs/REPORT.md
// describes every field.
type Report struct {
	Version   int       `json:"report_version"`
	Inputs    []string  `json:"inputs"`
	Since     string    `json:"since,omitempty"`
	Until     string    `json:"until,omitempty"`
	First     string    `json:"first,omitempty"`
	Last      string    `json:"last,omitempty"`
	Lines     Lines     `json:"lines"`
	Totals    Counts    `json:"totals"`
	Clients   []Client  `json:"clients"`
	Fields    []Field   `json:"fields"`
	Timeline  Timeline  `json:"timeline"`
	Truncated Truncated `json:"truncated"`
}

// Lines counts what was read.
type Lines struct {
	Read         int64       `json:"read"`
	Records      int64       `json:"records"`
	Other        int64       `json:"other"`
	Malformed    int64       `json:"malformed"`
	OutsideRange int64       `json:"outside_range"`
	MalformedAt  []Malformed `json:"malformed_examples"`
}

// Malformed says where a malformed line is and why, without its content.
type Malformed struct {
	Input string `json:"input"`
	Line  int64  `json:"line"`
	Error string `json:"error"`
}

// Counts are request counts by outcome, and value counts.
type Counts struct {
	Requests  int64 `json:"requests"`
	Rewritten int64 `json:"rewritten"`
	Unchanged int64 `json:"unchanged"`
	Rejected  int64 `json:"rejected"`
	Audited   int64 `json:"audited"`
	// Kept counts requests with at least one value kept on purpose.
	Kept int64 `json:"kept"`
	// Skipped counts requests whose body was not inspected.
	Skipped int64 `json:"skipped"`
	// WouldReject counts requests enforce mode rejects or would have
	// rejected: those with at least one problem.
	WouldReject int64 `json:"would_reject"`
	Changes     int64 `json:"changes"`
	Problems    int64 `json:"problems"`
	KeptValues  int64 `json:"kept_values"`
}

// Client is one integration, by OAuth client ID or, when no replica saw its
// token exchange, by token ID.
type Client struct {
	ID         string   `json:"id"`
	IDKind     string   `json:"id_kind"` // client_id, token_id, none, other
	TokenIDs   int      `json:"token_ids"`
	UserAgents []string `json:"user_agents"`
	Addresses  []string `json:"addresses"`
	First      string   `json:"first"`
	Last       string   `json:"last"`
	Counts
	// EnforceBlockers is what enforce mode would reject for this client, the
	// list to work through before turning enforce on for it.
	EnforceBlockers []Blocker `json:"enforce_blockers"`
	// EnforceSnippet is the clients: configuration that turns enforce on
	// for this client; empty when it has no ID to key it by.
	EnforceSnippet string `json:"enforce_snippet"`
}

// Blocker is one route, field and reason enforce mode would reject.
type Blocker struct {
	Route    string   `json:"route"`
	Field    string   `json:"field"`
	Reason   string   `json:"reason"`
	Count    int64    `json:"count"`
	Examples []string `json:"examples"`
}

// Field is one category, field template and reason (for changes: kind).
type Field struct {
	Category string   `json:"category"` // problem, kept, change
	Field    string   `json:"field"`
	Reason   string   `json:"reason"`
	Count    int64    `json:"count"`
	Examples []string `json:"examples"`
}

// Timeline is counts over time.
type Timeline struct {
	Bucket string  `json:"bucket"` // hour or day
	Points []Point `json:"points"`
}

// Point is one bucket of the timeline.
type Point struct {
	Start string `json:"start"`
	Counts
}

// Truncated says how much the bounds folded away.
type Truncated struct {
	// ClientRecords are records of clients beyond MaxClients, counted as
	// "(other)".
	ClientRecords int64 `json:"client_records"`
	// ReasonValues are values beyond MaxReasons entries, counted as field
	// "(other)".
	ReasonValues int64 `json:"reason_values"`
	// TimelineRecords are records in hours beyond MaxBuckets, left out of
	// the timeline only.
	TimelineRecords int64 `json:"timeline_records"`
}

// Build reads every input in order and returns the report. A malformed
// line is counted, never an error; an input that cannot be read is.
func Build(inputs []Input, opts Options) (*Report, error) {
	a := NewAggregator(opts)
	for _, in := range inputs {
		if err := a.Read(in.Name, in.R); err != nil {
			return nil, fmt.Errorf("reading %s: %w", in.Name, err)
		}
	}
	return a.Report(), nil
}

// Input is one log to read.
type Input struct {
	Name string // as the user named it; "-" for standard input
	R    io.Reader
}

// mask shows a value from a record as a report may: values are masked
// again (partial) whatever the proxy's mask setting was, so a log written
// with mask: full yields a report without full numbers; hash values
// (hmac:…) and user IDs are shown as they are.
func mask(v string) string {
	if strings.HasPrefix(v, "hmac:") {
		return v
	}
	return telemetry.Masker{Mode: telemetry.MaskPartial}.Mask(v)
}

// Snippet returns the clients: configuration that turns enforce on for id.
func Snippet(id, kind string) string {
	if id == "" || (kind != "client_id" && kind != "token_id") {
		return ""
	}
	var b strings.Builder
	b.WriteString("clients:\n  ")
	b.WriteString(strconv.Quote(id))
	b.WriteString(":\n    mode: enforce\n")
	return b.String()
}

func sortClients(cs []Client) {
	slices.SortFunc(cs, func(a, b Client) int {
		if a.IDKind == "other" || b.IDKind == "other" {
			return cmp.Compare(boolInt(a.IDKind == "other"), boolInt(b.IDKind == "other"))
		}
		return cmp.Or(cmp.Compare(b.WouldReject, a.WouldReject), cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.ID, b.ID))
	})
}

var categoryOrder = map[string]int{"problem": 0, "kept": 1, "change": 2}

func sortFields(fs []Field) {
	slices.SortFunc(fs, func(a, b Field) int {
		return cmp.Or(cmp.Compare(categoryOrder[a.Category], categoryOrder[b.Category]),
			cmp.Compare(b.Count, a.Count), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Reason, b.Reason))
	})
}

func sortBlockers(bs []Blocker) {
	slices.SortFunc(bs, func(a, b Blocker) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Reason, b.Reason))
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
