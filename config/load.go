package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
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

// Problems is every problem found, each as "key: what is wrong: how to fix
// it". It is returned as an error.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Load reads the layers. It returns every problem at once, as Problems:
// an unreadable file, YAML syntax, unknown keys (with the closest known key
// when there is one), values of the wrong type. Even with problems it
// returns what it could read, so that validation can report more.
func Load(opts Options) (*Loaded, error) {
	var probs Problems
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

	k := koanf.New(".")
	src := map[string]Source{}
	load := func(layer map[string]any, s Source) {
		if len(layer) == 0 {
			return
		}
		if err := k.Load(confmap.Provider(layer, "."), nil); err != nil {
			probs = append(probs, fmt.Sprintf("cannot merge %s settings: %v", s, err))
		}
		for name := range layer {
			src[name] = s
		}
	}

	if path != "" {
		layer, err := readFile(path)
		if err != nil {
			probs = append(probs, err...)
		}
		load(layer, SourceFile)
	}

	envLayer := map[string]any{}
	for _, name := range sortedEnv(env) {
		if name == EnvConfig {
			continue
		}
		key := keyForEnv(name)
		switch {
		case key == nil:
			msg := fmt.Sprintf("%s: unknown environment variable", name)
			if s := suggest(strings.ToLower(strings.TrimPrefix(name, "CALLFIX_"))); s != "" {
				msg += ": did you mean " + keyByName[s].Env + "?"
			} else {
				msg += ": see docs/CONFIG.md for the variables callfix reads"
			}
			probs = append(probs, msg)
		case key.Name == "rules" || key.Name == "clients":
			probs = append(probs, name+": "+key.Name+" cannot be set from the environment: put them in the config file")
		default:
			envLayer[key.Name] = env[name]
		}
	}
	load(envLayer, SourceEnv)

	flagLayer := map[string]any{}
	for name, val := range opts.Flags {
		key := keyByName[name]
		switch {
		case key == nil:
			msg := fmt.Sprintf("--set %s: unknown key", name)
			if s := suggest(name); s != "" {
				msg += ": did you mean " + s + "?"
			}
			probs = append(probs, msg)
		case key.Name == "rules" || key.Name == "clients":
			probs = append(probs, "--set "+key.Name+": "+key.Name+" cannot be set from flags: put them in the config file")
		default:
			flagLayer[name] = val
		}
	}
	load(flagLayer, SourceFlag)

	cfg := Defaults()
	for i := range keyList {
		key := &keyList[i]
		s, ok := src[key.Name]
		if !ok {
			src[key.Name] = SourceDefault
			continue
		}
		if err := key.set(&cfg, k.Get(key.Name)); err != nil {
			where := "from " + describeSource(s, key)
			if s == SourceFile {
				where = "in " + path
			}
			var kp keyProblems
			if errors.As(err, &kp) {
				for _, p := range kp {
					name, rest, _ := strings.Cut(p, ": ")
					probs = append(probs, fmt.Sprintf("%s (%s): %s", name, where, rest))
				}
				continue
			}
			probs = append(probs, fmt.Sprintf("%s (%s): %v", key.Name, where, err))
		}
	}
	l := &Loaded{Config: cfg, Sources: src, File: path}
	if len(probs) > 0 {
		return l, probs
	}
	return l, nil
}

func describeSource(s Source, k *Key) string {
	switch s {
	case SourceEnv:
		return k.Env
	case SourceFlag:
		if k.Flag != "" {
			return "--" + k.Flag
		}
		return "--set"
	}
	return string(s)
}

func sortedEnv(env map[string]string) []string {
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func keyForEnv(name string) *Key {
	for i := range keyList {
		if keyList[i].Env == name {
			return &keyList[i]
		}
	}
	return nil
}

// readFile parses the YAML file into a flat map of known keys, reporting
// unknown keys with their dotted names.
func readFile(path string) (map[string]any, Problems) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Problems{fmt.Sprintf("config file %s: does not exist: check the path given to --config or %s", path, EnvConfig)}
		}
		return nil, Problems{fmt.Sprintf("config file %s: cannot be read: %v", path, err)}
	}
	raw, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		return nil, Problems{fmt.Sprintf("config file %s: is not valid YAML: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	flat := map[string]any{}
	var probs Problems
	flatten(raw, "", flat, &probs, path)
	return flat, probs
}

func flatten(m map[string]any, prefix string, out map[string]any, probs *Problems, path string) {
	for _, name := range sortedKeys(m) {
		full := prefix + name
		v := m[name]
		if keyByName[full] != nil {
			out[full] = v
			continue
		}
		if sectionNames[full] {
			sub, ok := v.(map[string]any)
			if !ok {
				if v == nil {
					continue
				}
				*probs = append(*probs, fmt.Sprintf("%s (in %s): is %s: expected a map of settings", full, path, describe(v)))
				continue
			}
			flatten(sub, full+".", out, probs, path)
			continue
		}
		msg := fmt.Sprintf("%s (in %s): unknown key", full, path)
		if s := suggest(full); s != "" {
			msg += ": did you mean " + s + "?"
		} else {
			msg += ": see docs/CONFIG.md for the keys callfix reads"
		}
		*probs = append(*probs, msg)
	}
}
