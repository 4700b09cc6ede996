package rewrite

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxNesting is the deepest nesting of arrays and objects accepted, the same
// as encoding/json's, so that "valid JSON" means the same thing to both. A
// deeper body is skipped with SkipTooDeep.
const MaxNesting = 10000

// Skip says why a body was not inspected.
type Skip uint8

const (
	// SkipNone: the body was a JSON object and was inspected.
	SkipNone Skip = iota
	// SkipEmpty: the body was empty or only whitespace.
	SkipEmpty
	// SkipNotJSON: the body is not valid JSON (and none of the more
	// specific reasons below says why).
	SkipNotJSON
	// SkipTruncated: the body is the start of a JSON document that ends too early.
	SkipTruncated
	// SkipNotObject: the body is valid JSON but not an object.
	SkipNotObject
	// SkipTrailingData: the body is one JSON value with more after it
	// (another value, or anything but whitespace). Some JSON readers,
	// Genesys's among them, read the first value and ignore the rest.
	SkipTrailingData
	// SkipNotUTF8: the body is UTF-16 or UTF-32 (a byte-order mark, or NUL
	// bytes where JSON text in UTF-8 has none), which some JSON readers,
	// Genesys's among them, detect and read (RFC 4627 section 3).
	SkipNotUTF8
	// SkipTooDeep: arrays and objects nest deeper than MaxNesting.
	SkipTooDeep
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
	case SkipTrailingData:
		return "trailing data"
	case SkipNotUTF8:
		return "not UTF-8"
	case SkipTooDeep:
		return "nested too deeply"
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
	depth int
	idx   [maxArrayDepth]int32
	nidx  int
	hits  []hit
	fail  Skip
}

// utf8BOM is the UTF-8 byte-order mark. RFC 8259 section 8.1 lets a
// parser ignore one; Genesys's does, so callfix reads the body after it
// and keeps it (it is outside every value, so splicing never touches it).
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// walk inspects the whole document. It returns SkipNone for an object
// (after an optional UTF-8 byte-order mark).
func (w *walker) walk(root *node) Skip {
	data := w.data
	if notUTF8(data) {
		return SkipNotUTF8
	}
	i := 0
	if len(data) >= 3 && data[0] == utf8BOM[0] && data[1] == utf8BOM[1] && data[2] == utf8BOM[2] {
		i = 3
	}
	i = skipWS(data, i)
	if i == len(data) {
		return SkipEmpty
	}
	isObject := data[i] == '{'
	if !isObject {
		root = nil
	}
	if i = w.value(root, i); i < 0 {
		return w.fail
	}
	if i = skipWS(data, i); i != len(data) {
		return SkipTrailingData
	}
	if !isObject {
		return SkipNotObject
	}
	return SkipNone
}

// notUTF8 reports whether data starts as JSON text in UTF-16 or UTF-32
// does, the way JSON readers that take those (Jackson, Genesys's) detect
// them: a UTF-16 or UTF-32 byte-order mark, or a NUL in one of the first
// two bytes (RFC 4627 section 3: JSON text starts with an ASCII character,
// which UTF-16 and UTF-32 write with NUL bytes beside it). JSON text in
// UTF-8 has no NUL anywhere, and starts with neither byte FE nor FF.
func notUTF8(data []byte) bool {
	switch {
	case len(data) == 0:
		return false
	case data[0] == 0:
		return true
	case len(data) == 1:
		return false
	}
	return data[1] == 0 || data[0] == 0xfe && data[1] == 0xff || data[0] == 0xff && data[1] == 0xfe
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func skipWS(data []byte, i int) int {
	for i < len(data) && isSpace[data[i]] {
		i++
	}
	return i
}

// bad records why the document is not JSON, truncated when the error is
// running out of input at i, and returns -1.
func (w *walker) bad(i int) int {
	if i >= len(w.data) {
		w.fail = SkipTruncated
	} else {
		w.fail = SkipNotJSON
	}
	return -1
}

// The parsing methods take the position of what they parse and return the
// position after it, or -1 when the document is not JSON (w.fail says why).
// Positions live in registers rather than in the walker: this is the hot
// loop of every intercepted request.

func (w *walker) value(n *node, i int) int {
	data := w.data
	if i >= len(data) {
		return w.bad(i)
	}
	switch c := data[i]; c {
	case '"':
		j, esc := w.str(i)
		if j >= 0 && n != nil && n.field != nil {
			w.record(n.field, i, j, false, esc)
		}
		return j
	case '{':
		return w.object(n, i)
	case '[':
		return w.array(n, i)
	case 't':
		return w.literal(i, "true")
	case 'f':
		return w.literal(i, "false")
	case 'n':
		return w.literal(i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			j := w.number(i)
			if j >= 0 && n != nil && n.field != nil {
				w.record(n.field, i, j, true, false)
			}
			return j
		}
	}
	return w.bad(i)
}

func (w *walker) record(f *field, start, end int, number, esc bool) {
	w.hits = append(w.hits, hit{start: start, end: end, field: f, idx: w.idx, number: number, escaped: esc})
}

func (w *walker) literal(i int, lit string) int {
	data := w.data
	for k := 0; k < len(lit); k++ {
		if i >= len(data) || data[i] != lit[k] {
			return w.bad(i)
		}
		i++
	}
	return i
}

func (w *walker) object(n *node, i int) int {
	if w.depth++; w.depth > MaxNesting {
		w.fail = SkipTooDeep
		return -1
	}
	data := w.data
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		w.depth--
		return i + 1
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return w.bad(i)
		}
		ks := i
		j, esc := w.str(i)
		if j < 0 {
			return -1
		}
		var child *node
		if n != nil {
			key := data[ks+1 : j-1]
			if esc {
				key = unescape(nil, key)
			}
			child = n.child(key)
		}
		i = skipWS(data, j)
		if i >= len(data) || data[i] != ':' {
			return w.bad(i)
		}
		if i = w.value(child, skipWS(data, i+1)); i < 0 {
			return -1
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return w.bad(i)
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			w.depth--
			return i + 1
		default:
			return w.bad(i)
		}
	}
}

func (w *walker) array(n *node, i int) int {
	if w.depth++; w.depth > MaxNesting {
		w.fail = SkipTooDeep
		return -1
	}
	data := w.data
	var elem *node
	if n != nil {
		elem = n.elem
	}
	if elem != nil {
		w.idx[w.nidx] = 0
		w.nidx++
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for k := int32(0); ; k++ {
			if elem != nil {
				w.idx[w.nidx-1] = k
			}
			if i = w.value(elem, i); i < 0 {
				return -1
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return w.bad(i)
			}
			if c := data[i]; c == ',' {
				i = skipWS(data, i+1)
				continue
			} else if c == ']' {
				i++
				break
			}
			return w.bad(i)
		}
	}
	if elem != nil {
		w.nidx--
		w.idx[w.nidx] = 0
	}
	w.depth--
	return i
}

// str consumes the string whose opening quote is at i and reports whether
// it holds escapes.
func (w *walker) str(i int) (int, bool) {
	data := w.data
	escaped := false
	i++
	for {
		// Skip 8 plain bytes at a time: much of a body is string content.
		for i+8 <= len(data) && !specialIn(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i >= len(data) {
			return w.bad(i), escaped
		}
		switch data[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
			if i >= len(data) {
				return w.bad(i), escaped
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for k := 0; k < 4; k++ {
					if i >= len(data) || !isHex(data[i]) {
						return w.bad(i), escaped
					}
					i++
				}
			default:
				return w.bad(i), escaped
			}
		default: // a control character
			return w.bad(i), escaped
		}
	}
}

// plain[c] is true for the bytes a JSON string holds with no attention:
// not a quote, not a backslash, not a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialIn reports whether any of the 8 bytes in x is a quote, a backslash
// or below 0x20 (the classic SWAR tests: a byte is zero after XOR with the
// character it is compared to; a byte is below n when subtracting n borrows).
func specialIn(x uint64) bool {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((q-lsb)&^q|(b-lsb)&^b|(x-lsb*0x20)&^x)&msb != 0
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

func digitsAt(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func (w *walker) number(i int) int {
	data := w.data
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return w.bad(i)
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i = digitsAt(data, i)
	default:
		return w.bad(i)
	}
	if i < len(data) && data[i] == '.' {
		j := digitsAt(data, i+1)
		if j == i+1 {
			return w.bad(j)
		}
		i = j
	}
	if i < len(data) && data[i]|0x20 == 'e' {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digitsAt(data, i)
		if j == i {
			return w.bad(j)
		}
		i = j
	}
	return i
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

// AppendJSONString appends s to dst as a JSON string, byte for byte as
// log/slog's JSON handler writes it: a quote, a backslash and the control
// characters escaped (\n, \r, \t, else \u00XX), invalid UTF-8 as \ufffd,
// U+2028 and U+2029 escaped (JSONP), everything else as it is (no HTML
// escaping). The rewritten body and the audit record both use it.
func AppendJSONString(dst []byte, s string) []byte {
	if quotedLen(s) == len(s)+2 {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// quotedLen returns the length of AppendJSONString's output for s.
func quotedLen(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !plain[c] {
				if c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' {
					n++
				} else {
					n += 5
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 5 // one byte as \ufffd
		} else if r == '\u2028' || r == '\u2029' {
			n += 3 // three bytes as \u202X
		}
		i += size
	}
	return n
}
