package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Key describes one setting: its YAML key, environment variable and flag.
type Key struct {
	// Name is the dotted YAML key, such as upstream.api.
	Name string
	// Env is the environment variable, such as CALLFIX_UPSTREAM_API.
	Env string
	// Flag is the dedicated command-line flag, such as upstream-api, or ""
	// when the key is set with --set NAME=VALUE only.
	Flag string
	// Secret values are redacted wherever configuration is shown.
	Secret bool
	// Reloadable is false for the listen addresses and TLS listener files:
	// changing them needs a restart.
	Reloadable bool

	index []int
	typ   reflect.Type
}

// dedicatedFlags are the flags of the CLI contract (docs/ARCHITECTURE.md).
var dedicatedFlags = map[string]string{
	"listen":         "listen",
	"admin_listen":   "admin-listen",
	"region":         "region",
	"mode":           "mode",
	"country":        "country",
	"upstream.api":   "upstream-api",
	"upstream.login": "upstream-login",
}

// notReloadable are read once at start: the listeners, the server's own
// limits, and the telemetry pipelines.
var notReloadable = map[string]bool{
	"listen": true, "admin_listen": true, "tls.cert_file": true, "tls.key_file": true,
	"server.max_conns": true, "server.max_header_bytes": true, "server.read_timeout": true,
	"server.write_timeout": true, "server.idle_timeout": true,
	"tracing.endpoint": true, "tracing.protocol": true, "tracing.headers": true, "tracing.sample_ratio": true,
	"audit.enabled": true, "audit.file": true, "audit.flush_interval": true, "audit.buffer_bytes": true,
	"identity.token_key": true, "identity.max_tokens": true, "metrics.max_clients": true,
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
	keyList      = buildKeys(reflect.TypeOf(Config{}), "", nil)
	keyByName    = func() map[string]*Key {
		m := make(map[string]*Key, len(keyList))
		for i := range keyList {
			m[keyList[i].Name] = &keyList[i]
		}
		return m
	}()
	sectionNames = func() map[string]bool {
		m := map[string]bool{}
		for _, k := range keyList {
			for i := strings.IndexByte(k.Name, '.'); i >= 0; i = nextDot(k.Name, i) {
				m[k.Name[:i]] = true
			}
		}
		return m
	}()
)

func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func buildKeys(t reflect.Type, prefix string, index []int) []Key {
	var keys []Key
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" {
			continue
		}
		name := prefix + tag
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			keys = append(keys, buildKeys(f.Type, name+".", idx)...)
			continue
		}
		keys = append(keys, Key{
			Name:       name,
			Env:        "CALLFIX_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_")),
			Flag:       dedicatedFlags[name],
			Secret:     f.Tag.Get("secret") == "true",
			Reloadable: !notReloadable[name],
			index:      idx,
			typ:        f.Type,
		})
	}
	return keys
}

// Keys returns every setting, in the order of the Config struct.
func Keys() []Key { return append([]Key(nil), keyList...) }

// field returns the value of k inside c.
func (k *Key) field(c *Config) reflect.Value { return reflect.ValueOf(c).Elem().FieldByIndex(k.index) }

// set stores raw, a value from YAML (string, bool, int, float64, []any,
// map[string]any) or from the environment or a flag (string), into k's
// field of c, converting it to the field's type.
func (k *Key) set(c *Config, raw any) error {
	v := k.field(c)
	s, isString := raw.(string)
	switch {
	case k.typ == durationType:
		if !isString {
			return fmt.Errorf("%v is not a duration: write one with a unit, such as 5s or 2m", raw)
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration: write one with a unit, such as 5s or 2m", s)
		}
		v.SetInt(int64(d))
	case k.typ == byteSizeType:
		var b ByteSize
		var err error
		if isString {
			b, err = ParseByteSize(s)
		} else if n, ok := asInt(raw); ok {
			b = ByteSize(n)
		} else {
			err = fmt.Errorf("%v is not a byte size: write a number of bytes or a size such as 512KiB or 1MiB", raw)
		}
		if err != nil {
			return err
		}
		v.SetInt(int64(b))
	}
	if k.typ == durationType || k.typ == byteSizeType {
		return nil
	}
	switch k.typ.Kind() {
	case reflect.String:
		switch r := raw.(type) {
		case string:
			v.SetString(r)
		case int, int64, uint64, float64, bool:
			v.SetString(fmt.Sprint(r))
		default:
			return fmt.Errorf("expected a string, got %s", describe(raw))
		}
	case reflect.Bool:
		switch r := raw.(type) {
		case bool:
			v.SetBool(r)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(r))
			if err != nil {
				return fmt.Errorf("%q is not a boolean: write true or false", r)
			}
			v.SetBool(b)
		default:
			return fmt.Errorf("expected true or false, got %s", describe(raw))
		}
	case reflect.Int, reflect.Int64:
		n, ok := asInt(raw)
		if !ok && isString {
			var err error
			n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			ok = err == nil
		}
		if !ok {
			return fmt.Errorf("%s is not a whole number", describe(raw))
		}
		v.SetInt(n)
	case reflect.Float64:
		var f float64
		switch r := raw.(type) {
		case float64:
			f = r
		case int:
			f = float64(r)
		case int64:
			f = float64(r)
		case uint64:
			f = float64(r)
		case string:
			var err error
			if f, err = strconv.ParseFloat(strings.TrimSpace(r), 64); err != nil {
				return fmt.Errorf("%q is not a number", r)
			}
		default:
			return fmt.Errorf("%s is not a number", describe(raw))
		}
		v.SetFloat(f)
	case reflect.Slice:
		if k.typ.Elem().Kind() == reflect.String {
			list, err := stringList(raw)
			if err != nil {
				return err
			}
			v.Set(reflect.ValueOf(list))
			return nil
		}
		rules, err := decodeRules(raw)
		v.Set(reflect.ValueOf(rules))
		return err
	case reflect.Map:
		if k.typ.Elem().Kind() == reflect.Struct {
			clients, err := decodeClients(raw)
			v.Set(reflect.ValueOf(clients))
			return err
		}
		m, err := stringMap(raw)
		if err != nil {
			return err
		}
		out := reflect.MakeMapWithSize(k.typ, len(m))
		for name, val := range m {
			out.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(val).Convert(k.typ.Elem()))
		}
		v.Set(out)
	default:
		return fmt.Errorf("unsupported setting type %s", k.typ)
	}
	return nil
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
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q", raw)
	}
	return fmt.Sprint(raw)
}

// stringList reads a YAML list of strings, or a comma-separated string
// (from the environment or a flag).
func stringList(raw any) ([]string, error) {
	switch r := raw.(type) {
	case string:
		var out []string
		for _, p := range strings.Split(r, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(r))
		for i, e := range r {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d is %s: expected a string", i, describe(e))
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("expected a list of strings, got %s", describe(raw))
}

// stringMap reads a YAML map of strings, or name=value pairs separated by
// commas (from the environment or a flag).
func stringMap(raw any) (map[string]string, error) {
	out := map[string]string{}
	switch r := raw.(type) {
	case string:
		for i, p := range strings.Split(r, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			name, val, ok := strings.Cut(p, "=")
			if !ok {
				// The value may be a secret: name its position, not its text.
				return nil, fmt.Errorf("item %d is not name=value: write Name=value pairs separated by commas", i+1)
			}
			out[strings.TrimSpace(name)] = strings.TrimSpace(val)
		}
	case map[string]any:
		for name, v := range r {
			switch s := v.(type) {
			case string:
				out[name] = s
			case int, int64, float64, bool:
				out[name] = fmt.Sprint(s)
			default:
				return nil, fmt.Errorf("%s is %s: expected a string", name, describe(v))
			}
		}
	case nil:
	default:
		return nil, fmt.Errorf("expected a map of names to strings, got %s", describe(raw))
	}
	return out, nil
}

// keyProblems is several problems, each already naming its full key
// (rules[0].fields[1].fromat: ...).
type keyProblems []string

func (k keyProblems) Error() string { return strings.Join(k, "; ") }

// decodeRules reads the rules list. Unknown keys are reported one by one
// with their full path, and the rules are still returned so that
// validation can check the rest.
func decodeRules(raw any) ([]RuleConfig, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("expected a list of rules (- method: POST, path: ..., fields: [...]), got %s", describe(raw))
	}
	var errs keyProblems
	unknown := func(at, name string, known []string) {
		msg := fmt.Sprintf("%s.%s: unknown key", at, name)
		best, bestD := "", 3
		for _, k := range known {
			if d := editDistance(name, k); d < bestD {
				best, bestD = k, d
			}
		}
		if best != "" {
			msg += ": did you mean " + best + "?"
		} else {
			msg += ": use " + strings.Join(known, ", ")
		}
		errs = append(errs, msg)
	}
	rules := make([]RuleConfig, 0, len(list))
	for i, item := range list {
		at := fmt.Sprintf("rules[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: is %s: expected a map with method, path and fields", at, describe(item)))
			continue
		}
		var r RuleConfig
		for _, name := range sortedKeys(m) {
			v := m[name]
			switch name {
			case "method":
				r.Method, _ = v.(string)
			case "path":
				r.Path, _ = v.(string)
			case "mode":
				r.Mode, _ = v.(string)
			case "country":
				r.Country, _ = v.(string)
			case "fields":
				fl, ok := v.([]any)
				if !ok {
					errs = append(errs, fmt.Sprintf("%s.fields: is %s: expected a list of {path, format}", at, describe(v)))
					continue
				}
				for j, fe := range fl {
					fat := fmt.Sprintf("%s.fields[%d]", at, j)
					fm, ok := fe.(map[string]any)
					if !ok {
						errs = append(errs, fmt.Sprintf("%s: is %s: expected {path, format}", fat, describe(fe)))
						continue
					}
					var f FieldConfig
					for _, fname := range sortedKeys(fm) {
						switch fname {
						case "path":
							f.Path, _ = fm[fname].(string)
						case "format":
							f.Format, _ = fm[fname].(string)
						default:
							unknown(fat, fname, []string{"path", "format"})
						}
					}
					r.Fields = append(r.Fields, f)
				}
			default:
				unknown(at, name, []string{"method", "path", "fields", "mode", "country"})
			}
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return rules, errs
	}
	return rules, nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns the known key closest to name, when it is close.
func suggest(name string) string {
	best, bestD := "", 4
	for _, k := range keyList {
		if d := editDistance(name, k.Name); d < bestD {
			best, bestD = k.Name, d
		}
		// A misspelt last segment under the right section.
		if i := strings.LastIndexByte(k.Name, '.'); i >= 0 {
			if d := editDistance(name, k.Name[i+1:]); d < bestD && !strings.Contains(name, ".") {
				best, bestD = k.Name, d
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
