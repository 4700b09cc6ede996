package rewrite

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Route is one compiled rule. It is immutable.
type Route struct {
	method string
	path   string
	name   string
	pat    pattern
	root   *node
	fields []Field
}

// Name returns the method and path template, such as
// "POST /api/v2/conversations/calls/user/{userId}". It never contains a raw
// request path, so it is fit for span names and metric labels.
func (r *Route) Name() string { return r.name }

// Method returns the route's HTTP method.
func (r *Route) Method() string { return r.method }

// Pattern returns the route's path pattern.
func (r *Route) Pattern() string { return r.path }

// Fields returns a copy of the route's fields.
func (r *Route) Fields() []Field { return append([]Field(nil), r.fields...) }

// Options tune an Engine. The zero value checks numbers at LevelPossible
// and keeps no extensions; DefaultOptions is what callfix runs with.
type Options struct {
	// Level is how strictly phone numbers are checked. Zero: LevelPossible.
	Level Level
	// ExtensionDigits is the Extension number plan: digit-only values with
	// this many digits are kept as sent. Zero: none.
	ExtensionDigits DigitRange
	// Keep are RE2 patterns, each matched against a whole value as sent;
	// a value that matches one is kept as sent (a site's own number plans).
	Keep []string
}

// DefaultOptions are the configuration's defaults: level valid and
// Genesys's default Extension plan.
func DefaultOptions() Options {
	return Options{Level: LevelValid, ExtensionDigits: DefaultExtensionDigits}
}

// Engine is a compiled rule set. It is immutable and safe for concurrent
// use; to change rules, build a new Engine and swap it in.
type Engine struct {
	routes []*Route
	pol    policy
}

// New compiles rules and options. It returns every problem with them at
// once (see ValidateRules and CompileKeepPatterns).
func New(rules []Rule, opts Options) (*Engine, error) {
	keep, kerr := CompileKeepPatterns(opts.Keep)
	if err := errors.Join(ValidateRules(rules), kerr); err != nil {
		return nil, err
	}
	possibleOnce.Do(buildPossibleLengths)
	e := &Engine{pol: policy{level: opts.Level, ext: opts.ExtensionDigits, keep: keep}}
	for _, r := range rules {
		pat, _ := compilePattern(r.Path)
		rt := &Route{method: r.Method, path: r.Path, name: r.Method + " " + r.Path, pat: pat, root: &node{},
			fields: append([]Field(nil), r.Fields...)}
		for _, f := range r.Fields {
			segs, _ := parseJSONPath(f.Path)
			arrays := 0
			for _, s := range segs {
				arrays += s.arrays
			}
			rt.root.add(segs, &field{path: f.Path, format: f.Format, arrays: arrays})
		}
		e.routes = append(e.routes, rt)
	}
	return e, nil
}

// Default returns an Engine with DefaultRules and DefaultOptions.
func Default() *Engine {
	e, err := New(DefaultRules(), DefaultOptions())
	if err != nil {
		panic("rewrite: default rules do not compile: " + err.Error())
	}
	return e
}

// Level returns the engine's validation level.
func (e *Engine) Level() Level { return e.pol.level }

// Match returns the first route for method and path, or nil. Anything from
// the first '?' or '#' of path on is ignored. It does not allocate.
func (e *Engine) Match(method, path string) *Route {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for _, r := range e.routes {
		if r.method == method && r.pat.match(path) {
			return r
		}
	}
	return nil
}

// Result is what Rewrite found and made.
type Result struct {
	// Body is the body with every repairable value repaired. When nothing
	// changed it is the input slice itself. Strings in Changes and Problems
	// do not refer to the input, so they stay valid after it is reused.
	Body []byte
	// Changes lists the values repaired, in document order.
	Changes []Change
	// Problems lists the values that could not be repaired, in document order.
	Problems []Problem
	// Kept lists the values kept on purpose (forwarded as sent, never a
	// problem), in document order.
	Kept []Kept
	// Skipped says why the body was not inspected (SkipNone when it was).
	Skipped Skip
}

// Change is one repaired value.
type Change struct {
	// Path is the field's path with array indexes, such as participants[1].address.
	Path string
	// Kind is phone or user.
	Kind Kind
	// From is the value as the client sent it (a JSON number's digits, or a
	// string's decoded value); To is the value forwarded.
	From, To string
	// Country is the region the number was read in; empty for a user ID.
	Country string
}

// Problem is one value that could not be repaired.
type Problem struct {
	// Path is the field's path with array indexes.
	Path string
	// Value is the value as the client sent it. It may be a phone number:
	// mask it before it leaves the process.
	Value string
	// Reason says why.
	Reason Reason
	// Country is the default country national numbers were read in.
	Country string
}

// Message returns a sentence for a person, such as "phoneNumber has too
// few digits to be a phone number (read as a number of US)". It never
// contains the value.
func (p Problem) Message() string { return p.MessageFrom("") }

// MessageFrom is Message, saying where the country a national number was
// read in came from (origin, such as "the default country of region
// eu-west-1; set `country` or send `X-Callfix-Country`"), for the reasons
// that depend on it.
func (p Problem) MessageFrom(origin string) string {
	if p.Reason == ReasonNotValidInCountry && p.Country != "" {
		msg := p.Path + " is not a valid number in " + p.Country + " (read in " + p.Country
		if origin != "" {
			msg += ", " + origin
		}
		return msg + ")"
	}
	msg := p.Path + " " + p.Reason.Message()
	switch p.Reason {
	case ReasonTooShort, ReasonTooLong, ReasonInvalidLength, ReasonLocalOnly, ReasonNotValid, ReasonNotValidInCountry:
		if p.Country != "" {
			msg += " (read as a number of " + p.Country + ")"
		}
	}
	return msg
}

// Kept is one value forwarded as sent on purpose.
type Kept struct {
	// Path is the field's path with array indexes.
	Path string
	// Value is the value as the client sent it. It may be a phone number:
	// mask it before it leaves the process.
	Value string
	// Reason says why it was kept.
	Reason KeepReason
	// Country is the country it was read in, for emergency numbers and
	// short codes; empty otherwise.
	Country string
}

type scratch struct {
	w    walker
	vals []byte // normalised values, then decoded inputs
	dec  []byte
	pend []pending
}

type pending struct {
	h                  *hit
	from               string // valid until the scratch is reused
	valStart, valEnd   int
	n                  Normalized
	reason             Reason
	fromDec            bool
	decStart, decEnd   int
	pathLen, quotedNew int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledScratch bounds what a pooled scratch may keep between requests.
const maxPooledScratch = 64 << 10

// Rewrite repairs the values at r's fields in body, reading national numbers
// as numbers of country. It never modifies body. A body that is not a JSON
// object is returned as it is, with Skipped saying why. A nil route changes
// nothing. It walks the body (walker.walk), judges each value found
// (scratch.judge), and builds the result in one allocation
// (scratch.result).
func (e *Engine) Rewrite(r *Route, body []byte, country string) Result {
	if r == nil {
		return Result{Body: body}
	}
	s := scratchPool.Get().(*scratch)
	defer s.release()
	s.w = walker{data: body, hits: s.w.hits[:0]}
	if skip := s.w.walk(r.root); skip != SkipNone {
		return Result{Body: body, Skipped: skip}
	}
	if len(s.w.hits) == 0 {
		return Result{Body: body}
	}
	n := s.judge(&e.pol, body, country)
	if len(s.pend) == 0 {
		return Result{Body: body}
	}
	return s.result(body, n)
}

// release returns s to the pool, unless it grew too large to keep.
func (s *scratch) release() {
	s.w.data = nil
	if cap(s.vals)+cap(s.dec) <= maxPooledScratch && cap(s.w.hits) <= 1024 {
		s.pend = s.pend[:0]
		scratchPool.Put(s)
	}
}

// tally counts what judge found.
type tally struct{ changes, problems, kept int }

// judge normalises the value of every hit the walk found and keeps, in
// s.pend, those that are repaired, kept on purpose or a problem (a value
// already canonical is dropped).
func (s *scratch) judge(pol *policy, body []byte, country string) tally {
	var n tally
	s.vals, s.dec, s.pend = s.vals[:0], s.dec[:0], s.pend[:0]
	for i := range s.w.hits {
		h := &s.w.hits[i]
		p := pending{h: h}
		raw := body[h.start:h.end]
		switch {
		case h.number:
			p.from = b2s(raw)
		case h.escaped:
			p.decStart = len(s.dec)
			s.dec = unescape(s.dec, raw[1:len(raw)-1])
			p.decEnd = len(s.dec)
			p.fromDec = true
			p.from = b2s(s.dec[p.decStart:p.decEnd])
		default:
			p.from = b2s(raw[1 : len(raw)-1])
		}
		if h.number && !isDigits(p.from, 1, len(p.from)) {
			p.reason = ReasonNotNumber
		} else {
			p.valStart = len(s.vals)
			s.vals, p.n = normalize(s.vals, pol, h.field.format, p.from, country)
			p.valEnd = len(s.vals)
			p.reason = p.n.Reason
		}
		if p.n.Keep != keepNone {
			n.kept++
		} else if p.reason != reasonNone {
			if p.n.Country == "" && !strings.HasPrefix(p.from, "+") {
				p.n.Country = country
			}
			n.problems++
		} else if p.n.Changed || h.number {
			n.changes++
		} else {
			continue
		}
		p.pathLen = pathLen(h.field, &h.idx)
		s.pend = append(s.pend, p)
	}
	return n
}

// result builds the Result of s.pend over body. One allocation holds the
// new body and every string of the result, so that a request costs two
// allocations (this and the Changes slice) beyond what phonenumbers needs.
func (s *scratch) result(body []byte, n tally) Result {
	bodyLen, strLen := len(body), 0
	if n.changes == 0 {
		bodyLen = 0
	}
	for i := range s.pend {
		p := &s.pend[i]
		if p.reason == reasonNone && p.n.Keep == keepNone {
			p.quotedNew = quotedLen(b2s(s.vals[p.valStart:p.valEnd]))
			bodyLen += p.quotedNew - (p.h.end - p.h.start)
			strLen += p.pathLen + len(p.from) + (p.valEnd - p.valStart)
		} else {
			strLen += p.pathLen + len(p.from)
		}
	}
	arena := make([]byte, bodyLen, bodyLen+strLen)
	strs := arena[bodyLen:bodyLen]
	res := Result{Body: body}
	if n.changes > 0 {
		res.Changes = make([]Change, 0, n.changes)
		out := arena[:0]
		last := 0
		for i := range s.pend {
			p := &s.pend[i]
			if p.reason != reasonNone || p.n.Keep != keepNone {
				continue
			}
			out = append(out, body[last:p.h.start]...)
			out = AppendJSONString(out, b2s(s.vals[p.valStart:p.valEnd]))
			last = p.h.end
		}
		out = append(out, body[last:]...)
		res.Body = out[:len(out):len(out)]
	}
	if n.problems > 0 {
		res.Problems = make([]Problem, 0, n.problems)
	}
	if n.kept > 0 {
		res.Kept = make([]Kept, 0, n.kept)
	}
	for i := range s.pend {
		p := &s.pend[i]
		var path string
		strs, path = appendPath(strs, p.h.field, &p.h.idx)
		var from string
		strs, from = appendStr(strs, p.from)
		if p.n.Keep != keepNone {
			res.Kept = append(res.Kept, Kept{Path: path, Value: from, Reason: p.n.Keep, Country: p.n.Country})
			continue
		}
		if p.reason != reasonNone {
			res.Problems = append(res.Problems, Problem{Path: path, Value: from, Reason: p.reason, Country: p.n.Country})
			continue
		}
		var to string
		strs, to = appendStr(strs, b2s(s.vals[p.valStart:p.valEnd]))
		res.Changes = append(res.Changes, Change{Path: path, Kind: p.n.Kind, From: from, To: to, Country: p.n.Country})
	}
	return res
}

// appendStr appends v to buf, which has the capacity for it, and returns
// the appended bytes as a string. buf's bytes are never written again, and
// never exposed as a []byte, so the string is immutable.
func appendStr(buf []byte, v string) ([]byte, string) {
	if v == "" {
		return buf, ""
	}
	n := len(buf)
	buf = append(buf, v...)
	return buf, unsafe.String(&buf[n], len(v))
}

func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// pathLen returns the length of f's path with idx filled into its []s.
func pathLen(f *field, idx *[maxArrayDepth]int32) int {
	n := len(f.path)
	for i := 0; i < f.arrays; i++ {
		n += digits(idx[i])
	}
	return n
}

func digits(v int32) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// appendPath appends f's path with idx filled into its []s and returns it
// as a string; a path without arrays is f's own string.
func appendPath(buf []byte, f *field, idx *[maxArrayDepth]int32) ([]byte, string) {
	if f.arrays == 0 {
		return buf, f.path
	}
	n := len(buf)
	p := f.path
	k := 0
	for {
		i := strings.Index(p, "[]")
		if i < 0 {
			buf = append(buf, p...)
			break
		}
		buf = append(buf, p[:i+1]...)
		buf = strconv.AppendInt(buf, int64(idx[k]), 10)
		buf = append(buf, ']')
		k++
		p = p[i+2:]
	}
	return buf, unsafe.String(&buf[n], len(buf)-n)
}
