package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Render returns the effective configuration of s as YAML that callfix can
// read back, each value followed by the layer it came from. Secrets are
// redacted.
func Render(s *Snapshot) []byte {
	var b strings.Builder
	b.WriteString("# callfix effective configuration")
	if s.File != "" {
		b.WriteString(" (file: " + s.File + ")")
	}
	b.WriteString("\n# each value is followed by where it came from: default, region, file, env or flag\n")
	c := s.Config
	section := ""
	for i := range keyList {
		k := &keyList[i]
		sec, leaf := "", k.Name
		if j := strings.LastIndexByte(k.Name, '.'); j >= 0 {
			sec, leaf = k.Name[:j], k.Name[j+1:]
		}
		if sec != section {
			if sec != "" {
				b.WriteString(sec + ":\n")
			}
			section = sec
		}
		indent := ""
		if sec != "" {
			indent = "  "
		}
		v := k.field(&c)
		comment := ""
		if src := s.Sources[k.Name]; src != "" {
			comment = "  # " + string(src)
		}
		if k.Name == "rules" {
			renderRules(&b, c.Rules, comment)
			continue
		}
		if k.Name == "clients" {
			renderClients(&b, c.Clients, comment)
			continue
		}
		b.WriteString(indent + leaf + ": " + renderValue(v, k.Secret) + comment + "\n")
	}
	return []byte(b.String())
}

func renderValue(v reflect.Value, secret bool) string {
	switch {
	case v.Type() == durationType:
		return strconv.Quote(time.Duration(v.Int()).String())
	case v.Type() == byteSizeType:
		return strconv.Quote(ByteSize(v.Int()).String())
	}
	switch v.Kind() {
	case reflect.String:
		if secret && v.String() != "" {
			return strconv.Quote("[redacted]")
		}
		return strconv.Quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.Quote(v.Index(i).String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			val := v.MapIndex(reflect.ValueOf(k)).String()
			if secret {
				val = "[redacted]"
			}
			parts[i] = strconv.Quote(k) + ": " + strconv.Quote(val)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

func renderRules(b *strings.Builder, rules []RuleConfig, comment string) {
	if len(rules) == 0 {
		b.WriteString("rules: []" + comment + "\n")
		return
	}
	b.WriteString("rules:" + comment + "\n")
	for _, r := range rules {
		fmt.Fprintf(b, "  - method: %s\n    path: %s\n", strconv.Quote(r.Method), strconv.Quote(r.Path))
		if r.Mode != "" {
			fmt.Fprintf(b, "    mode: %s\n", strconv.Quote(r.Mode))
		}
		if r.Country != "" {
			fmt.Fprintf(b, "    country: %s\n", strconv.Quote(r.Country))
		}
		b.WriteString("    fields:\n")
		for _, f := range r.Fields {
			fmt.Fprintf(b, "      - {path: %s, format: %s}\n", strconv.Quote(f.Path), strconv.Quote(f.Format))
		}
	}
}

// String renders c as YAML with secrets redacted, so that %v and %s of a
// Config never show a secret.
func (c Config) String() string {
	return string(Render(&Snapshot{Config: c, Sources: map[string]Source{}}))
}

// GoString redacts too, for %#v.
func (c Config) GoString() string { return "config.Config{\n" + c.String() + "}" }

// LogValue makes slog print the redacted rendering.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
