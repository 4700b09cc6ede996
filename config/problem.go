package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is what the problem is about: a key (upstream.timeout), an item or
	// part of one (addresses.keep[1], rules[0].fields[1].format,
	// clients.crm.mode), a section (tls), or, for a name that is not a key,
	// the name as given (CALLFIX_REGOIN, --set regoin). It is "" for a
	// problem of the config file itself (missing, not YAML).
	Key string
	// Source is the layer the value came from; "" when the problem is not
	// about a value of one layer (such as a default that is not valid with
	// another key).
	Source Source
	// From is where in that layer: the file's path, the variable
	// (CALLFIX_MODE) or the flag (--mode, --set).
	From string
	// Message says what is wrong and how to fix it.
	Message string
}

// String renders the problem as callfix prints it: "key (in FILE): what is
// wrong: how to fix it", "key (from CALLFIX_X): …", "key: …", or "config
// file FILE: …" for the file itself.
func (p Problem) String() string {
	switch {
	case p.Key == "":
		return "config file " + p.From + ": " + p.Message
	case p.From == "":
		return p.Key + ": " + p.Message
	case p.Source == SourceFile:
		return p.Key + " (in " + p.From + "): " + p.Message
	}
	return p.Key + " (from " + p.From + "): " + p.Message
}

// Problems is every problem found. It is returned as an error, one problem
// a line.
type Problems []Problem

func (p Problems) Error() string { return strings.Join(p.Strings(), "\n") }

// Strings returns each problem rendered, in order.
func (p Problems) Strings() []string {
	out := make([]string, len(p))
	for i, q := range p {
		out[i] = q.String()
	}
	return out
}

// mentions reports whether a problem is already about key or a part of it:
// a value that failed to load shows as its default, which must not draw a
// second, misleading problem. A rule counts as a whole: its missing path
// or format is the misspelt key already reported.
func (p Problems) mentions(key string) bool {
	if strings.HasPrefix(key, "rules[") {
		if i := strings.IndexByte(key, ']'); i > 0 {
			key = key[:i+1]
		}
	}
	return slices.ContainsFunc(p, func(q Problem) bool {
		return q.Key == key || strings.HasPrefix(q.Key, key+"[") || strings.HasPrefix(q.Key, key+".")
	})
}

// keyOf returns the setting a problem's key belongs to (addresses.keep for
// addresses.keep[1]), or nil for a section or a name that is not a key.
func keyOf(path string) *Key {
	base, _, _ := strings.Cut(path, "[")
	return keyByName[base]
}

// owner returns the setting path is inside of (clients for clients.a.mode),
// or nil.
func owner(path string) *Key {
	for p := path; p != ""; {
		if k := keyOf(p); k != nil {
			return k
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil
}

// comparePaths orders key paths as the YAML file is read with its keys
// sorted: segment by segment, item indices by number.
func comparePaths(a, b string) int {
	as, bs := pathSegments(a), pathSegments(b)
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errX := strconv.Atoi(as[i])
		y, errY := strconv.Atoi(bs[i])
		c := cmp.Compare(as[i], bs[i])
		if errX == nil && errY == nil {
			c = cmp.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

func pathSegments(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
}
