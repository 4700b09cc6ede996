package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/v2"
)

var (
	configType = reflect.TypeOf(Config{})
	ruleType   = reflect.TypeOf(RuleConfig{})
	fieldType  = reflect.TypeOf(FieldConfig{})
	clientType = reflect.TypeOf(ClientConfig{})
)

// decode unmarshals the merged layers of k into c with koanf's own
// unmarshalling (mapstructure): unknown keys are errors (ErrorUnused),
// keys match exactly (mapstructure would otherwise take Mode for mode),
// durations and sizes are parsed by mapstructure's hooks
// (StringToTimeDurationHookFunc; ByteSize.UnmarshalText through
// TextUnmarshallerHookFunc). WeaklyTypedInput stays off: it would take 1
// for true, a map for a list and "0x10" for 16; accept, the one hook of
// callfix's own, takes what callfix has always taken beyond strict
// decoding. Every error comes back as a Problem naming its key: names
// that are not keys (unknown keys, a section that is not a map) first,
// in the order of the file, then values, in the order of the keys.
func decode(k *koanf.Koanf, c *Config) (names, values Problems) {
	err := k.UnmarshalWithConf("", c, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		TagName:     "koanf",
		ErrorUnused: true,
		MatchName:   func(mapKey, fieldName string) bool { return mapKey == fieldName },
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			func(from, to reflect.Value) (any, error) { return accept(from.Interface(), to.Type()) },
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.TextUnmarshallerHookFunc(),
		),
	}})
	// mapstructure wraps the errors it joined in one of its own.
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		err = joined.(error)
	}
	var raw map[string]any
	if err != nil {
		raw = k.Raw()
	}
	for _, e := range leaves(err) {
		var de *mapstructure.DecodeError
		if !errors.As(e, &de) {
			values = append(values, Problem{Message: e.Error()})
			continue
		}
		path, t, v := locate(de.Name(), raw)
		var ve *valueError
		switch {
		case errors.As(de, &ve):
			for _, e := range leaves(de.Unwrap()) {
				if errors.As(e, &ve) {
					values = append(values, Problem{Key: path + ve.at, Message: ve.msg})
				}
			}
		case t == durationType:
			values = append(values, Problem{Key: path, Message: fmt.Sprintf("%q is not a duration: write one with a unit, such as 5s or 2m", v)})
		case t != nil && t.Kind() == reflect.Struct:
			// ErrorUnused: the keys of v that are not fields of t.
			values = append(values, unknownKeys(path, v, t)...)
		default:
			values = append(values, Problem{Key: path, Message: errors.Unwrap(de).Error()})
		}
	}
	// A key that is not inside a setting is a name of the file that is not
	// a key.
	i := 0
	for _, p := range values {
		if owner(p.Key) == nil {
			names = append(names, p)
			continue
		}
		values[i] = p
		i++
	}
	values = values[:i]
	slices.SortStableFunc(names, func(a, b Problem) int { return comparePaths(a.Key, b.Key) })
	slices.SortStableFunc(values, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(owner(a.Key).pos, owner(b.Key).pos), comparePaths(a.Key, b.Key))
	})
	return names, values
}

// leaves returns the errors joined in err, depth first.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

// locate follows a mapstructure field name (upstream.timeout,
// rules[0].fields[1], clients[crm].mode) from the root of raw and of
// Config: it returns the name as callfix writes keys (clients.crm.mode),
// the type decoded into there and the raw value.
func locate(name string, raw map[string]any) (string, reflect.Type, any) {
	var b strings.Builder
	t, v := configType, any(raw)
	if name == configType.String() { // the root, as ErrorUnused names it
		name = ""
	}
	for rest := name; rest != "" && t != nil; {
		var seg string
		if rest[0] == '[' {
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				break
			}
			seg, rest = rest[1:j], rest[j+1:]
			if t.Kind() == reflect.Slice {
				b.WriteString("[" + seg + "]")
				list, _ := v.([]any)
				n, _ := strconv.Atoi(seg)
				v = nil
				if n >= 0 && n < len(list) {
					v = list[n]
				}
				t = t.Elem()
				continue
			}
		} else {
			rest = strings.TrimPrefix(rest, ".")
			j := strings.IndexAny(rest, ".[")
			if j < 0 {
				j = len(rest)
			}
			seg, rest = rest[:j], rest[j:]
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
		m, _ := v.(map[string]any)
		v = m[seg]
		t = fieldOf(t, seg)
	}
	return b.String(), t, v
}

// fieldOf returns the type of the field koanf-tagged name of struct t, or
// the element type of map t.
func fieldOf(t reflect.Type, name string) reflect.Type {
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).Tag.Get("koanf") == name {
				return t.Field(i).Type
			}
		}
	}
	return nil
}

// tags returns the koanf keys of struct t, in order.
func tags(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("koanf"); tag != "" {
			out = append(out, tag)
		}
	}
	return out
}

// unknownKeys reports the keys of raw, decoded into struct t at path, that
// t does not have: with the closest known key, or the keys it has.
func unknownKeys(path string, raw any, t reflect.Type) Problems {
	m, _ := raw.(map[string]any)
	known := tags(t)
	var out Problems
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if slices.Contains(known, name) {
			continue
		}
		full := name
		if path != "" {
			full = path + "." + name
		}
		msg := "unknown key"
		switch s := ""; t {
		case ruleType, fieldType:
			if s = closest(name, known); s != "" {
				msg += ": did you mean " + s + "?"
			} else {
				msg += ": use " + strings.Join(known, ", ")
			}
		case clientType:
			// A client ID with a dot is split into a nested map by the
			// loader: it shows here as an unknown key.
			msg += ": use mode or country (client IDs cannot contain dots)"
		default:
			if s = suggest(full); s != "" {
				msg += ": did you mean " + s + "?"
			} else {
				msg += ": see docs/CONFIG.md for the keys callfix reads"
			}
		}
		out = append(out, Problem{Key: full, Message: msg})
	}
	return out
}

// valueError is a value accept refuses, in callfix's words; at is the part
// of the value it is about (".mode" of a client), or "".
type valueError struct{ at, msg string }

func (e *valueError) Error() string { return e.msg }

func wrongf(format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...)}
}

// accept is the decode hook of callfix's own, run before mapstructure's:
// it takes what callfix has always taken and strict decoding does not
// (text from the environment and flags for every type, with spaces around
// it or not, numbers and booleans where text is expected, integral floats
// where whole numbers are, comma-separated lists and name=value maps), and
// refuses in callfix's words what it refuses, such as 5 for a duration
// (strict decoding would read 5ns) or 1.5 for a count (it would read 1).
// The rest it hands on unchanged.
func accept(raw any, t reflect.Type) (any, error) {
	s, isText := raw.(string)
	switch t {
	case durationType:
		if !isText {
			return nil, wrongf("%v is not a duration: write one with a unit, such as 5s or 2m", raw)
		}
		return strings.TrimSpace(s), nil
	case byteSizeType:
		if n, ok := asInt(raw); ok {
			return n, nil
		}
		if !isText {
			return nil, wrongf("%v is not a byte size: write a number of bytes or a size such as 512KiB or 1MiB", raw)
		}
		return raw, nil // ByteSize.UnmarshalText
	}
	switch t.Kind() {
	case reflect.String:
		switch raw.(type) {
		case string:
			return raw, nil
		case int, int64, uint64, float64, bool:
			return fmt.Sprint(raw), nil
		}
		return nil, wrongf("expected a string, got %s", describe(raw))
	case reflect.Bool:
		if isText {
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return nil, wrongf("%q is not a boolean: write true or false", s)
			}
			return b, nil
		}
		if _, ok := raw.(bool); !ok {
			return nil, wrongf("expected true or false, got %s", describe(raw))
		}
	case reflect.Int, reflect.Int64:
		n, ok := asInt(raw)
		if isText {
			var err error
			n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			ok = err == nil
		}
		if !ok {
			return nil, wrongf("%s is not a whole number", describe(raw))
		}
		return n, nil
	case reflect.Float64:
		switch raw.(type) {
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, wrongf("%q is not a number", s)
			}
			return f, nil
		case float64, int, int64, uint64:
			return raw, nil
		}
		return nil, wrongf("%s is not a number", describe(raw))
	case reflect.Slice:
		if isText && t.Elem().Kind() == reflect.String {
			return commaList(s), nil
		}
		return raw, acceptList(raw, t)
	case reflect.Map:
		if isText && t.Elem().Kind() == reflect.String {
			return namedValues(s)
		}
		return acceptMap(raw, t)
	case reflect.Struct:
		return raw, acceptSection(raw, t)
	}
	return raw, nil
}

// acceptList checks a list; a string is a comma-separated one.
func acceptList(raw any, t reflect.Type) error {
	list, isList := raw.([]any)
	switch {
	case t.Elem().Kind() == reflect.String:
		if !isList {
			return wrongf("expected a list of strings, got %s", describe(raw))
		}
		for i, e := range list {
			if _, ok := e.(string); !ok {
				return wrongf("item %d is %s: expected a string", i, describe(e))
			}
		}
	case isList:
	case t.Elem() == ruleType:
		return wrongf("expected a list of rules (- method: POST, path: ..., fields: [...]), got %s", describe(raw))
	default:
		return wrongf("is %s: expected a list of {path, format}", describe(raw))
	}
	return nil
}

// nothing stands for a value written as nothing where mapstructure would
// skip it.
type nothing struct{}

// acceptMap checks the clients map and a map of names to strings.
func acceptMap(raw any, t reflect.Type) (any, error) {
	m, ok := raw.(map[string]any)
	switch {
	case t.Elem() == clientType && !ok:
		return nil, wrongf("expected a map of client IDs to {mode, country}, got %s", describe(raw))
	case t.Elem() == clientType:
		// mapstructure skips a nil entry (id: ~); it is a client without
		// settings, refused as such.
		for id, v := range m {
			if v == nil {
				m = maps.Clone(m)
				m[id] = nothing{}
			}
		}
		return m, nil
	case !ok:
		return nil, wrongf("expected a map of names to strings, got %s", describe(raw))
	case t.Elem().Kind() == reflect.String:
		for _, name := range slices.Sorted(maps.Keys(m)) {
			switch m[name].(type) {
			case string, int, int64, float64, bool:
			default:
				return nil, wrongf("%s is %s: expected a string", name, describe(m[name]))
			}
		}
	}
	return raw, nil
}

// acceptSection checks that a section, a rule, a field or a client is a
// map; a client's values must be strings.
func acceptSection(raw any, t reflect.Type) error {
	m, ok := raw.(map[string]any)
	switch {
	case ok && t == clientType:
		var errs []error
		for _, name := range []string{"country", "mode"} {
			if v, set := m[name]; set {
				if _, isText := v.(string); !isText {
					errs = append(errs, &valueError{at: "." + name, msg: fmt.Sprintf("is %s: expected a string", describe(v))})
				}
			}
		}
		return errors.Join(errs...)
	case ok:
		return nil
	case t == ruleType:
		return wrongf("is %s: expected a map with method, path and fields", describe(raw))
	case t == fieldType:
		return wrongf("is %s: expected {path, format}", describe(raw))
	case t == clientType:
		return wrongf("is %s: expected {mode, country}", describe(raw))
	}
	return wrongf("is %s: expected a map of settings", describe(raw))
}

// namedValues reads name=value pairs separated by commas (a map from the
// environment or a flag).
func namedValues(s string) (map[string]string, error) {
	out := map[string]string{}
	for i, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, val, ok := strings.Cut(p, "=")
		if !ok {
			// The value may be a secret: name its position, not its text.
			return nil, wrongf("item %d is not name=value: write Name=value pairs separated by commas", i+1)
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(val)
	}
	return out, nil
}

// commaList reads a comma-separated list, dropping spaces and empty items.
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func asInt(raw any) (int64, bool) {
	switch r := raw.(type) {
	case int:
		return int64(r), true
	case int64:
		return r, true
	case uint64:
		if r <= math.MaxInt64 {
			return int64(r), true
		}
	case float64:
		if r == math.Trunc(r) && math.Abs(r) < 1<<53 {
			return int64(r), true
		}
	}
	return 0, false
}

func describe(raw any) string {
	switch raw.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case nil, nothing:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", raw)
	}
	return fmt.Sprint(raw)
}
