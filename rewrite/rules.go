package rewrite

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is one route of a rule set as written in configuration: requests with
// Method whose path matches Path have the values at Fields repaired.
type Rule struct {
	// Method is the HTTP method, such as POST. Matched exactly.
	Method string
	// Path is a path pattern such as /api/v2/conversations/calls/user/{userId}:
	// {name} matches exactly one non-empty segment; the query string of a
	// request is ignored, and so is one trailing slash.
	Path string
	// Fields are the values to repair.
	Fields []Field
}

// Field is a JSON path and the format of the value found there.
type Field struct {
	// Path is a JSON path: keys separated by dots, with [] after a key for
	// every element of an array: phoneNumber, to.to, participants[].address,
	// callbackNumbers[]. Keys cannot contain '.', '[' or ']'.
	Path string
	// Format is what the value must become.
	Format Format
}

// DefaultRules returns the built-in rules (README, "What gets rewritten"): the call-creating
// endpoints, with every field Genesys reads as an address. callUserId,
// callQueueId, userId and all other fields are left alone: Genesys documents
// them as raw IDs.
func DefaultRules() []Rule {
	fields := func() []Field {
		return []Field{
			{Path: "phoneNumber", Format: FormatAddress},
			{Path: "participants[].address", Format: FormatAddress},
			{Path: "to", Format: FormatAddress},
			{Path: "to.to", Format: FormatAddress},
			{Path: "to.address", Format: FormatAddress},
			{Path: "from", Format: FormatAddress},
			{Path: "from.from", Format: FormatAddress},
			{Path: "from.address", Format: FormatAddress},
			{Path: "callerId", Format: FormatE164},
		}
	}
	return []Rule{
		{Method: "POST", Path: "/api/v2/conversations/calls", Fields: fields()},
		{Method: "POST", Path: "/api/v2/conversations/calls/user/{userId}", Fields: fields()},
	}
}

// RuleError is one thing wrong with a rule. Field is -1 when the problem is
// with the rule itself.
type RuleError struct {
	Rule, Field int
	// Key names the setting: method, path, fields, or for a field path or format.
	Key string
	Err error
}

func (e *RuleError) Error() string {
	if e.Field < 0 {
		return fmt.Sprintf("rules[%d].%s: %v", e.Rule, e.Key, e.Err)
	}
	return fmt.Sprintf("rules[%d].fields[%d].%s: %v", e.Rule, e.Field, e.Key, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// ValidateRules checks every rule and returns one *RuleError per problem,
// all of them, joined; nil when the rules compile.
func ValidateRules(rules []Rule) error {
	var errs []error
	for i, r := range rules {
		if r.Method == "" || strings.IndexFunc(r.Method, func(c rune) bool { return c < 'A' || c > 'Z' }) >= 0 {
			errs = append(errs, &RuleError{i, -1, "method", fmt.Errorf("%q is not an HTTP method: use upper case, such as POST", r.Method)})
		}
		if _, err := compilePattern(r.Path); err != nil {
			errs = append(errs, &RuleError{i, -1, "path", err})
		}
		if len(r.Fields) == 0 {
			errs = append(errs, &RuleError{i, -1, "fields", errors.New("a rule needs at least one field: add one, such as {path: phoneNumber, format: address}")})
		}
		seen := map[string]bool{}
		for j, f := range r.Fields {
			if _, err := parseJSONPath(f.Path); err != nil {
				errs = append(errs, &RuleError{i, j, "path", err})
			} else if seen[f.Path] {
				errs = append(errs, &RuleError{i, j, "path", fmt.Errorf("%q is listed twice in this rule: remove one", f.Path)})
			}
			seen[f.Path] = true
			if f.Format < FormatAddress || f.Format > FormatUser {
				errs = append(errs, &RuleError{i, j, "format", errors.New("missing or unknown format: use address, tel, e164 or user")})
			}
		}
	}
	return errors.Join(errs...)
}

// pattern is a compiled path pattern: literal segments, and "" for {name}.
type pattern struct {
	segs []string
	wild []bool
}

func compilePattern(p string) (pattern, error) {
	if p == "" || p[0] != '/' {
		return pattern{}, fmt.Errorf("%q is not a path pattern: start it with /, such as /api/v2/conversations/calls", p)
	}
	if strings.ContainsAny(p, "?#") {
		return pattern{}, fmt.Errorf("%q contains a query or fragment: patterns match the path only; remove it", p)
	}
	body := strings.TrimSuffix(p[1:], "/")
	var pt pattern
	for _, s := range strings.Split(body, "/") {
		switch {
		case s == "":
			return pattern{}, fmt.Errorf("%q has an empty segment (//): remove it", p)
		case s[0] == '{':
			if len(s) < 3 || s[len(s)-1] != '}' || strings.ContainsAny(s[1:len(s)-1], "{}") {
				return pattern{}, fmt.Errorf("%q has a bad parameter segment %q: write {name} as a whole segment", p, s)
			}
			pt.segs = append(pt.segs, s)
			pt.wild = append(pt.wild, true)
		case strings.ContainsAny(s, "{}"):
			return pattern{}, fmt.Errorf("%q has a bad parameter segment %q: write {name} as a whole segment", p, s)
		default:
			pt.segs = append(pt.segs, s)
			pt.wild = append(pt.wild, false)
		}
	}
	return pt, nil
}

// match reports whether path (query and fragment already removed) matches.
// It does not allocate.
func (pt *pattern) match(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	path = path[1:]
	if len(path) > 0 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	for i, seg := range pt.segs {
		var s string
		if j := strings.IndexByte(path, '/'); j >= 0 {
			s, path = path[:j], path[j+1:]
		} else if i == len(pt.segs)-1 {
			s, path = path, ""
		} else {
			return false
		}
		if pt.wild[i] {
			if s == "" {
				return false
			}
		} else if s != seg {
			return false
		}
	}
	return path == ""
}

// pathSeg is one step of a JSON path: a key, then arrays []s.
type pathSeg struct {
	key    string
	arrays int
}

func parseJSONPath(p string) ([]pathSeg, error) {
	if p == "" {
		return nil, errors.New("empty JSON path: name a key, such as phoneNumber or participants[].address")
	}
	var segs []pathSeg
	total := 0
	for _, part := range strings.Split(p, ".") {
		key := part
		n := 0
		for strings.HasSuffix(key, "[]") {
			key = key[:len(key)-2]
			n++
		}
		switch {
		case key == "":
			return nil, fmt.Errorf("%q is not a JSON path: every segment needs a key (keys are separated by single dots, [] follows a key)", p)
		case strings.ContainsAny(key, "[]"):
			return nil, fmt.Errorf("%q is not a JSON path: only [] (every element) may follow a key, not an index or a lone bracket", p)
		}
		total += n
		segs = append(segs, pathSeg{key, n})
	}
	if total > maxArrayDepth {
		return nil, fmt.Errorf("%q is not a supported JSON path: at most %d [] in one path", p, maxArrayDepth)
	}
	return segs, nil
}

const maxArrayDepth = 4
