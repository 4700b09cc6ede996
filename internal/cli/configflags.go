package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/callfix/callfix/config"
)

// configFlags are the flags every configuration-reading command takes
// (serve, check and config share them).
type configFlags struct {
	file string
	sets setFlag
	fs   *flag.FlagSet
	// extra maps a command's own flag names to the config key they set.
	extra map[string]string
}

// setFlag collects --set key=value.
type setFlag []string

func (s *setFlag) String() string     { return strings.Join(*s, ",") }
func (s *setFlag) Set(v string) error { *s = append(*s, v); return nil }

func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, extra: map[string]string{}}
	fs.StringVar(&cf.file, "config", "", "YAML config file (default $"+config.EnvConfig+"; none: built-in defaults)")
	for _, k := range config.Keys() {
		if k.Flag == "" {
			continue
		}
		fs.String(k.Flag, "", flagUsage[k.Name]+" (env "+k.Env+")")
	}
	fs.Var(&cf.sets, "set", "set any key, as KEY=VALUE (repeatable), such as --set limits.max_body_bytes=2MiB; see docs/CONFIG.md")
	return cf
}

var flagUsage = map[string]string{
	"listen":         "address the proxy listens on (default :8080)",
	"admin_listen":   "address of /healthz, /readyz and /metrics (default 127.0.0.1:9090)",
	"region":         "Genesys Cloud region, by name (eu-west-1) or host suffix (mypurecloud.ie); sets the upstream hosts and the default country (default us-east-1; see 'callfix regions')",
	"mode":           "enforce (reject what cannot be fixed), rewrite (forward it as sent) or audit (never change a byte) (default enforce)",
	"country":        "ISO 3166 alpha-2 country national numbers are read in (default: the region's)",
	"upstream.api":   "API base URL (default https://api.<region suffix>)",
	"upstream.login": "login base URL for /oauth/* (default https://login.<region suffix>)",
}

// options returns the layers to load: the file, the environment, and the
// flags that were given on the command line.
func (cf *configFlags) options(env Env) (config.Options, error) {
	opts := config.Options{File: cf.file, Env: env.Environ, Flags: map[string]string{}}
	byFlag := map[string]string{}
	for _, k := range config.Keys() {
		if k.Flag != "" {
			byFlag[k.Flag] = k.Name
		}
	}
	for f, key := range cf.extra {
		byFlag[f] = key
	}
	cf.fs.Visit(func(f *flag.Flag) {
		if key, ok := byFlag[f.Name]; ok {
			opts.Flags[key] = f.Value.String()
		}
	})
	for _, s := range cf.sets {
		key, val, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return opts, fmt.Errorf("--set %q: write KEY=VALUE, such as --set limits.max_body_bytes=2MiB", s)
		}
		opts.Flags[strings.TrimSpace(key)] = val
	}
	return opts, nil
}

// manager loads the configuration, printing every problem on failure.
func (cf *configFlags) manager(cmd string, env Env, log *slog.Logger) (*config.Manager, bool) {
	opts, err := cf.options(env)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix %s: %v\n", cmd, err)
		return nil, false
	}
	mgr, err := config.NewManager(opts, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix %s: the configuration has problems:\n", cmd)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(env.Stderr, "  %s\n", line)
		}
		return nil, false
	}
	return mgr, true
}

// load is manager for commands that only read the configuration.
func (cf *configFlags) load(cmd string, env Env) (*config.Snapshot, bool) {
	mgr, ok := cf.manager(cmd, env, nil)
	if !ok {
		return nil, false
	}
	return mgr.Current(), true
}
