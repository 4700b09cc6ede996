package rewrite

import (
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting is the deepest nesting of arrays and objects accepted, the same
// as encoding/json's, so that "valid JSON" means the same thing to both.
const maxNesting = 10000

// Skip says why a body was not inspected.
type Skip uint8

const (
	// SkipNone: the body was a JSON object and was inspected.
	SkipNone Skip = iota
	// SkipEmpty: the body was empty or only whitespace.
	SkipEmpty
	// SkipNotJSON: the body is not valid JSON.
	SkipNotJSON
	// SkipTruncated: the body is the start of a JSON document that ends too early.
	SkipTruncated
	// SkipNotObject: the body is valid JSON but not an object.
	SkipNotObject
)

// String returns a short phrase such as "not JSON".
func (s Skip) String() string {
	switch s {
	case SkipNone:
		return ""
	case SkipEmpty:
		return "empty body"
	case SkipNotJSON:
		return "not JSON"
	case SkipTruncated:
		return "truncated JSON"
	case SkipNotObject:
		return "not a JSON object"
	}
	return "unknown"
}

// node is a step in the compiled tree of a route's JSON paths. A node may be
// both a field (when the value there is a string or number) and have
// children (when it is an object): "to" and "to.to" share a node.
type node struct {
	keys  []string
	kids  []*node
	elem  *node // every element of an array
	field *field
}

type field struct {
	path   string // the template, such as participants[].address
	format Format
	arrays int
}

func (n *node) child(key []byte) *node {
	for i, k := range n.keys {
		if k == string(key) {
			return n.kids[i]
		}
	}
	return nil
}

func (n *node) add(segs []pathSeg, f *field) {
	for _, s := range segs {
		c := n.child([]byte(s.key))
		if c == nil {
			c = &node{}
			n.keys = append(n.keys, s.key)
			n.kids = append(n.kids, c)
		}
		n = c
		for i := 0; i < s.arrays; i++ {
			if n.elem == nil {
				n.elem = &node{}
			}
			n = n.elem
		}
	}
	n.field = f
}

// hit is a value found at a configured path.
type hit struct {
	start, end int // the value's bytes, with quotes for a string
	field      *field
	idx        [maxArrayDepth]int32
	number     bool // a JSON number rather than a string
	escaped    bool // a string holding backslash escapes
}

// walker validates a JSON document exactly as encoding/json.Valid does and,
// on the way, records the values at the paths of a compiled tree.
type walker struct {
	data  []byte
	pos   int
	depth int
	idx   [maxArrayDepth]int32
	nidx  int
	hits  []hit
	fail  Skip
}

// walk inspects the whole document. It returns SkipNone for an object.
func (w *walker) walk(root *node) Skip {
	w.ws()
	if w.pos == len(w.data) {
		return SkipEmpty
	}
	isObject := w.data[w.pos] == '{'
	if !isObject {
		root = nil
	}
	if !w.value(root) {
		return w.fail
	}
	w.ws()
	if w.pos != len(w.data) {
		return SkipNotJSON
	}
	if !isObject {
		return SkipNotObject
	}
	return SkipNone
}

func (w *walker) ws() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// bad records why the document is not JSON: truncated when the error is
// running out of input.
func (w *walker) bad() bool {
	if w.pos >= len(w.data) {
		w.fail = SkipTruncated
	} else {
		w.fail = SkipNotJSON
	}
	return false
}

func (w *walker) value(n *node) bool {
	if w.pos >= len(w.data) {
		return w.bad()
	}
	switch c := w.data[w.pos]; {
	case c == '{':
		return w.object(n)
	case c == '[':
		return w.array(n)
	case c == '"':
		start := w.pos
		esc, ok := w.str()
		if ok && n != nil && n.field != nil {
			w.record(n.field, start, false, esc)
		}
		return ok
	case c == '-' || c >= '0' && c <= '9':
		start := w.pos
		ok := w.number()
		if ok && n != nil && n.field != nil {
			w.record(n.field, start, true, false)
		}
		return ok
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	}
	return w.bad()
}

func (w *walker) record(f *field, start int, number, esc bool) {
	w.hits = append(w.hits, hit{start: start, end: w.pos, field: f, idx: w.idx, number: number, escaped: esc})
}

func (w *walker) literal(lit string) bool {
	for i := 0; i < len(lit); i++ {
		if w.pos >= len(w.data) || w.data[w.pos] != lit[i] {
			return w.bad()
		}
		w.pos++
	}
	return true
}

func (w *walker) object(n *node) bool {
	if w.depth++; w.depth > maxNesting {
		w.fail = SkipNotJSON
		return false
	}
	w.pos++ // {
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		w.depth--
		return true
	}
	for {
		if w.pos >= len(w.data) || w.data[w.pos] != '"' {
			return w.bad()
		}
		ks := w.pos
		esc, ok := w.str()
		if !ok {
			return false
		}
		var child *node
		if n != nil {
			key := w.data[ks+1 : w.pos-1]
			if esc {
				key = unescape(nil, key)
			}
			child = n.child(key)
		}
		w.ws()
		if w.pos >= len(w.data) || w.data[w.pos] != ':' {
			return w.bad()
		}
		w.pos++
		w.ws()
		if !w.value(child) {
			return false
		}
		w.ws()
		if w.pos >= len(w.data) {
			return w.bad()
		}
		switch w.data[w.pos] {
		case ',':
			w.pos++
			w.ws()
		case '}':
			w.pos++
			w.depth--
			return true
		default:
			return w.bad()
		}
	}
}

func (w *walker) array(n *node) bool {
	if w.depth++; w.depth > maxNesting {
		w.fail = SkipNotJSON
		return false
	}
	w.pos++ // [
	var elem *node
	if n != nil {
		elem = n.elem
	}
	if elem != nil {
		w.idx[w.nidx] = 0
		w.nidx++
	}
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
	} else {
		for i := int32(0); ; i++ {
			if elem != nil {
				w.idx[w.nidx-1] = i
			}
			if !w.value(elem) {
				return false
			}
			w.ws()
			if w.pos >= len(w.data) {
				return w.bad()
			}
			if c := w.data[w.pos]; c == ',' {
				w.pos++
				w.ws()
				continue
			} else if c == ']' {
				w.pos++
				break
			}
			return w.bad()
		}
	}
	if elem != nil {
		w.nidx--
		w.idx[w.nidx] = 0
	}
	w.depth--
	return true
}

// str consumes a string starting at its opening quote and reports whether
// it holds escapes.
func (w *walker) str() (escaped, ok bool) {
	w.pos++
	for w.pos < len(w.data) {
		c := w.data[w.pos]
		switch {
		case c == '"':
			w.pos++
			return escaped, true
		case c == '\\':
			escaped = true
			w.pos++
			if w.pos >= len(w.data) {
				return escaped, w.bad()
			}
			switch w.data[w.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				w.pos++
			case 'u':
				w.pos++
				for i := 0; i < 4; i++ {
					if w.pos >= len(w.data) {
						return escaped, w.bad()
					}
					if !isHex(w.data[w.pos]) {
						return escaped, w.bad()
					}
					w.pos++
				}
			default:
				return escaped, w.bad()
			}
		case c < 0x20:
			return escaped, w.bad()
		default:
			w.pos++
		}
	}
	return escaped, w.bad()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

func (w *walker) digits() int {
	n := 0
	for w.pos < len(w.data) && w.data[w.pos] >= '0' && w.data[w.pos] <= '9' {
		w.pos++
		n++
	}
	return n
}

func (w *walker) number() bool {
	if w.data[w.pos] == '-' {
		w.pos++
	}
	if w.pos >= len(w.data) {
		return w.bad()
	}
	switch c := w.data[w.pos]; {
	case c == '0':
		w.pos++
	case c >= '1' && c <= '9':
		w.digits()
	default:
		return w.bad()
	}
	if w.pos < len(w.data) && w.data[w.pos] == '.' {
		w.pos++
		if w.digits() == 0 {
			return w.bad()
		}
	}
	if w.pos < len(w.data) && w.data[w.pos]|0x20 == 'e' {
		w.pos++
		if w.pos < len(w.data) && (w.data[w.pos] == '+' || w.data[w.pos] == '-') {
			w.pos++
		}
		if w.digits() == 0 {
			return w.bad()
		}
	}
	return true
}

// unescape appends the value of the JSON string content s (no quotes) to
// dst, the way encoding/json decodes it: invalid surrogates and invalid
// UTF-8 become U+FFFD.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				dst = append(dst, c)
				i++
				continue
			}
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2 = hex4(s[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // " \ /
			dst = append(dst, s[i])
		}
		i++
	}
	return dst
}

func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendQuoted appends s as a JSON string. It escapes what JSON requires
// (quote, backslash, control characters) and nothing else.
func appendQuoted(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			switch c {
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}
