package config

import (
	"reflect"
	"strings"
	"time"
)

// Key describes one setting: its YAML key, environment variable and flag.
// Everything in it comes from the tags of its Config field.
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
	// Reloadable is false for the keys read once at start (the listeners,
	// the server's own limits, the telemetry pipelines): changing them
	// needs a restart.
	Reloadable bool

	index []int
	typ   reflect.Type
	pos   int // in keyList
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
	keyList      = func() []Key {
		keys := buildKeys(reflect.TypeOf(Config{}), "", nil)
		for i := range keys {
			keys[i].pos = i
		}
		return keys
	}()
	keyByName = func() map[string]*Key {
		m := make(map[string]*Key, len(keyList))
		for i := range keyList {
			m[keyList[i].Name] = &keyList[i]
		}
		return m
	}()
	keyByEnv = func() map[string]*Key {
		m := make(map[string]*Key, len(keyList))
		for i := range keyList {
			m[keyList[i].Env] = &keyList[i]
		}
		return m
	}()
)

// buildKeys lists the settings of t, a Config section: every tagged field
// that is not itself a section.
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
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, buildKeys(f.Type, name+".", idx)...)
			continue
		}
		keys = append(keys, Key{
			Name:       name,
			Env:        "CALLFIX_" + strings.ToUpper(strings.ReplaceAll(name, ".", "_")),
			Flag:       f.Tag.Get("flag"),
			Secret:     f.Tag.Get("secret") == "true",
			Reloadable: f.Tag.Get("restart") != "true",
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

// fileOnly are the keys that cannot be set from the environment or flags.
func (k *Key) fileOnly() bool { return k.Name == "rules" || k.Name == "clients" }

// where names the place a value of k came from in a problem: the file,
// the variable or the flag.
func (k *Key) where(s Source, file string) string {
	switch s {
	case SourceFile:
		return file
	case SourceEnv:
		return k.Env
	case SourceFlag:
		if k.Flag != "" {
			return "--" + k.Flag
		}
		return "--set"
	}
	return ""
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

// closest returns the name in known closest to name, when it is within two
// edits.
func closest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
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
