package config

import (
	"errors"
	"fmt"
	stdmaps "maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
)

// Source says which layer a value came from.
type Source string

const (
	SourceDefault Source = "default" // built in
	SourceRegion  Source = "region"  // derived from the region (upstream URLs, country)
	SourceFile    Source = "file"    // the YAML file
	SourceEnv     Source = "env"     // a CALLFIX_* variable
	SourceFlag    Source = "flag"    // the command line
)

// EnvConfig names the environment variable holding the config file path.
const EnvConfig = "CALLFIX_CONFIG"

// Options say where to load configuration from. Layers apply in order,
// later wins: built-in defaults, File, Env, Flags.
type Options struct {
	// File is the YAML file; "" means CALLFIX_CONFIG from Env, if set.
	File string
	// Env is the environment as os.Environ returns it. Only CALLFIX_*
	// variables are read; an unknown one is an error, as a typo would be.
	Env []string
	// Flags maps key names (such as upstream.api) to values as typed on the
	// command line.
	Flags map[string]string
}

// Loaded is configuration read from its layers, before validation.
type Loaded struct {
	Config Config
	// Sources maps each key name to the layer its value came from.
	Sources map[string]Source
	// File is the YAML file that was read, or "".
	File string
}

// layer is a koanf provider of the map Load merged, which nothing changes
// afterwards (confmap would deep-copy it first, which costs more than the
// rest of Load).
type layer map[string]any

func (l layer) Read() (map[string]any, error) { return l, nil }

func (l layer) ReadBytes() ([]byte, error) { return nil, errors.New("a layer is read as a map") }

// find returns the value at the dotted key name in the nested map m.
func find(m map[string]any, name string) (any, bool) {
	var v any = m
	for seg := range strings.SplitSeq(name, ".") {
		sub, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = sub[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

// Load reads the layers. It returns every problem at once, as Problems:
// an unreadable file, YAML syntax, unknown keys (with the closest known key
// when there is one), values of the wrong type. Even with problems it
// returns what it could read, so that validation can report more.
func Load(opts Options) (*Loaded, error) {
	env := map[string]string{}
	for _, kv := range opts.Env {
		if name, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "CALLFIX_") {
			env[name] = val
		}
	}
	path := opts.File
	if path == "" {
		path = env[EnvConfig]
	}

	var probs Problems
	var file map[string]any
	if path != "" {
		var err *Problem
		if file, err = readFile(path); err != nil {
			probs = append(probs, *err)
		}
	}
	delete(env, EnvConfig)
	envValues, envProbs := fromEnv(env)
	flagValues, flagProbs := fromFlags(opts.Flags)
	src := sourcesOf(file, envValues, flagValues)
	// Later layers win, merged by koanf's own merge (the file's sections
	// then hold the values set over them, which nothings does not look at)
	// and loaded once: each load flattens and rebuilds the whole map.
	merged := map[string]any{}
	for _, l := range []map[string]any{file, maps.Unflatten(envValues, "."), maps.Unflatten(flagValues, ".")} {
		maps.Merge(l, merged)
	}
	k := koanf.New(".")
	_ = k.Load(layer(merged), nil) // a layer never fails
	cfg := Defaults()
	names, values := decode(k, &cfg)
	values = append(values, nothings(file, src, values)...)
	names = append(names, hiddenSections(file, "", slices.Concat(names, values))...)
	for i := range names {
		names[i].Source, names[i].From = SourceFile, path
	}
	for i := range values {
		if key := owner(values[i].Key); key != nil {
			values[i].Source, values[i].From = src[key.Name], key.where(src[key.Name], path)
		}
	}
	slices.SortStableFunc(values, func(a, b Problem) int { return owner(a.Key).pos - owner(b.Key).pos })
	probs = slices.Concat(probs, names, envProbs, flagProbs, values)
	l := &Loaded{Config: cfg, Sources: src, File: path}
	if len(probs) > 0 {
		return l, probs
	}
	return l, nil
}

// sourcesOf returns the layer each key's value comes from: the last that
// sets it.
func sourcesOf(file, env, flags map[string]any) map[string]Source {
	src := make(map[string]Source, len(keyList))
	for i := range keyList {
		name := keyList[i].Name
		src[name] = SourceDefault
		if _, ok := find(file, name); ok {
			src[name] = SourceFile
		}
		if _, ok := env[name]; ok {
			src[name] = SourceEnv
		}
		if _, ok := flags[name]; ok {
			src[name] = SourceFlag
		}
	}
	return src
}

// nothings reports the single values the file writes as nothing
// (timeout: ~), which mapstructure leaves at their defaults, as they always
// were; only the file can give nothing.
func nothings(file map[string]any, src map[string]Source, values Problems) Problems {
	var out Problems
	for i := range keyList {
		key := &keyList[i]
		if kind := key.typ.Kind(); src[key.Name] != SourceFile || kind == reflect.Slice || kind == reflect.Map {
			continue
		}
		if v, _ := find(file, key.Name); v != nil {
			continue
		}
		if _, err := accept(nil, key.typ); err != nil && !values.mentions(key.Name) {
			out = append(out, Problem{Key: key.Name, Message: err.Error()})
		}
	}
	return out
}

// hiddenSections returns a problem for each section of the file written as
// something other than a map that a later layer's values hid: with
// upstream: 5 in the file and CALLFIX_UPSTREAM_API set, the merged layers
// hold a map there and the decoder never sees the 5. found are the
// problems already found, so that none is said twice.
func hiddenSections(file map[string]any, prefix string, found Problems) Problems {
	var out Problems
	for name, v := range file {
		if v == nil || !isSection(prefix, name) {
			continue
		}
		full := prefix + name
		if sub, ok := v.(map[string]any); ok {
			out = append(out, hiddenSections(sub, full+".", found)...)
		} else if !found.mentions(full) {
			out = append(out, Problem{Key: full, Source: SourceFile, Message: fmt.Sprintf("is %s: expected a map of settings", describe(v))})
		}
	}
	slices.SortFunc(out, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// isSection reports whether prefix+name is a section of keys, such as
// upstream (prefix "", name "upstream").
func isSection(prefix, name string) bool {
	for i := range keyList {
		if rest, ok := strings.CutPrefix(keyList[i].Name, prefix); ok {
			if rest, ok = strings.CutPrefix(rest, name); ok && strings.HasPrefix(rest, ".") {
				return true
			}
		}
	}
	return false
}

// fromEnv returns the values of the CALLFIX_* variables by key name, and
// a problem for each variable that names no key.
func fromEnv(env map[string]string) (map[string]any, Problems) {
	return fromNames(env, "the environment", func(name string) *Key { return keyByEnv[name] }, func(name string) string { return name },
		func(name string) string {
			if s := suggest(strings.ToLower(strings.TrimPrefix(name, "CALLFIX_"))); s != "" {
				return "unknown environment variable: did you mean " + keyByName[s].Env + "?"
			}
			return "unknown environment variable: see docs/CONFIG.md for the variables callfix reads"
		})
}

// fromFlags returns the values of the flags by key name, and a problem for
// each flag that names no key.
func fromFlags(flags map[string]string) (map[string]any, Problems) {
	return fromNames(flags, "flags", func(name string) *Key { return keyByName[name] }, func(name string) string { return "--set " + name },
		func(name string) string {
			if s := suggest(name); s != "" {
				return "unknown key: did you mean " + s + "?"
			}
			return "unknown key"
		})
}

// fromNames returns the values of a layer given by names (variables or
// flags) by key name: key is the key a name sets, subject how a problem
// names it, and unknown what to say when it sets none.
func fromNames(given map[string]string, layer string, key func(string) *Key, subject, unknown func(string) string) (map[string]any, Problems) {
	values := map[string]any{}
	var probs Problems
	for _, name := range slices.Sorted(stdmaps.Keys(given)) {
		switch k := key(name); {
		case k == nil:
			probs = append(probs, Problem{Key: subject(name), Message: unknown(name)})
		case k.fileOnly():
			probs = append(probs, Problem{Key: subject(name), Message: k.Name + " cannot be set from " + layer + ": put them in the config file"})
		default:
			values[k.Name] = given[name]
		}
	}
	return values, probs
}

// readFile parses the YAML file.
func readFile(path string) (map[string]any, *Problem) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &Problem{Source: SourceFile, From: path, Message: "does not exist: check the path given to --config or " + EnvConfig}
		}
		return nil, &Problem{Source: SourceFile, From: path, Message: fmt.Sprintf("cannot be read: %v", err)}
	}
	raw, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		return nil, &Problem{Source: SourceFile, From: path, Message: "is not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return raw, nil
}
