package config

import (
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/callfix/callfix/rewrite"
)

// Snapshot is a validated configuration with everything derived from it:
// the region's hosts and country resolved, the rules compiled. It is
// immutable; a reload builds a new one and swaps it in whole.
type Snapshot struct {
	// Config is the configuration with region-derived values filled in.
	Config Config
	// Sources maps every key to the layer its value came from.
	Sources map[string]Source
	// File is the YAML file read, or "".
	File string

	Region  Region
	API     *url.URL
	Login   *url.URL
	Country string
	// CountryAuto is country: auto: each organisation's country is learnt
	// from Genesys; Country is the fallback (the region's).
	CountryAuto bool
	// CountryOrigin says where Country came from, for messages: "the
	// default country of region eu-west-1; set `country` or send
	// `X-Callfix-Country`", or "set by country (in the file)".
	CountryOrigin string
	Mode          rewrite.Mode
	Level         rewrite.Level
	Engine        *rewrite.Engine
	LoadedAt      time.Time
	// Overrides are the per-rule and per-client modes and countries.
	Overrides Overrides
}

// Build validates l and derives a Snapshot. Problems are returned all at
// once, as Problems.
func Build(l *Loaded) (*Snapshot, error) {
	c := l.Config
	if err := Validate(&c); err != nil {
		return nil, annotate(err.(Problems), l)
	}
	src := make(map[string]Source, len(l.Sources))
	for k, v := range l.Sources {
		src[k] = v
	}
	region, _ := LookupRegion(c.Region)
	c.Region = region.Name
	if c.Upstream.API == "" {
		c.Upstream.API = region.APIURL()
		src["upstream.api"] = SourceRegion
	}
	if c.Upstream.Login == "" {
		c.Upstream.Login = region.LoginURL()
		src["upstream.login"] = SourceRegion
	}
	auto := c.Country == CountryAuto
	country := strings.ToUpper(c.Country)
	switch {
	case auto:
		country = region.Country // the fallback; c.Country stays auto
	case c.Country == "":
		country = region.Country
		c.Country = country
		src["country"] = SourceRegion
	default:
		c.Country = country
	}
	c.Upstream.API = strings.TrimSuffix(c.Upstream.API, "/")
	c.Upstream.Login = strings.TrimSuffix(c.Upstream.Login, "/")

	s := &Snapshot{Sources: src, File: l.File, Region: region, Country: country, CountryAuto: auto, LoadedAt: time.Now()}
	switch {
	case auto:
		s.CountryOrigin = "the fallback for country: auto, the default country of region " + region.Name + "; send `X-Callfix-Country` to choose"
	case src["country"] == SourceRegion:
		s.CountryOrigin = "the default country of region " + region.Name + "; set `country` or send `X-Callfix-Country`"
	default:
		s.CountryOrigin = "set by country (from " + describeSource(src["country"], keyByName["country"]) + ")"
	}
	s.API, _ = url.Parse(c.Upstream.API)
	s.Login, _ = url.Parse(c.Upstream.Login)
	s.Mode, _ = rewrite.ParseMode(c.Mode)
	s.Level, _ = rewrite.ParseLevel(c.Validation)
	rules, _ := c.rewriteRules()
	ext, _ := rewrite.ParseDigitRange(c.Addresses.ExtensionDigits)
	eng, err := rewrite.New(rules, rewrite.Options{Level: s.Level, ExtensionDigits: ext, Keep: c.Addresses.Keep})
	if err != nil {
		return nil, Problems{fmt.Sprintf("rules: %v", err)}
	}
	s.Engine = eng
	rewrite.Warm(s.Country)
	// Deep-copy what a later reload must not share.
	c.Rules = append([]RuleConfig(nil), c.Rules...)
	c.Addresses.Keep = append([]string(nil), c.Addresses.Keep...)
	c.Gateway.APIPrefixes = append([]string(nil), c.Gateway.APIPrefixes...)
	c.Gateway.LoginPrefixes = append([]string(nil), c.Gateway.LoginPrefixes...)
	c.Server.TrustedProxies = append([]string(nil), c.Server.TrustedProxies...)
	c.Clients = maps.Clone(c.Clients)
	s.Overrides = buildOverrides(&c, s.Mode, s.Country)
	s.Config = c
	return s, nil
}

// LoadSnapshot is Load then Build, reporting the problems of both at once.
func LoadSnapshot(opts Options) (*Snapshot, error) {
	l, err := Load(opts)
	if err != nil {
		probs := err.(Problems)
		if verr := Validate(&l.Config); verr != nil {
			for _, v := range annotate(verr.(Problems), l) {
				if !mentionsKeyOf(probs, v) {
					probs = append(probs, v)
				}
			}
		}
		return nil, probs
	}
	return Build(l)
}

// mentionsKeyOf reports whether a load problem already names the key of a
// validation problem (a value that failed to load shows as its default).
func mentionsKeyOf(probs Problems, v string) bool {
	key, _, _ := strings.Cut(v, ":")
	key, _, _ = strings.Cut(key, " (")
	if strings.HasPrefix(key, "rules[") {
		// A rule that failed to load is not validated again: its missing
		// path or format is the misspelt key already reported.
		if i := strings.IndexByte(key, ']'); i > 0 {
			key = key[:i+1]
		}
	}
	for _, p := range probs {
		if strings.HasPrefix(p, key+" ") || strings.HasPrefix(p, key+":") || strings.HasPrefix(p, key+"[") || strings.HasPrefix(p, key+".") {
			return true
		}
	}
	return false
}

// annotate says where each problem's value came from, when not a default:
// "region (from --region): ...", "mode (from CALLFIX_MODE): ...".
func annotate(probs Problems, l *Loaded) Problems {
	out := make(Problems, len(probs))
	for i, p := range probs {
		key, rest, _ := strings.Cut(p, ":")
		base, _, _ := strings.Cut(key, "[") // addresses.keep[1]: an item of a list key
		k := keyByName[base]
		if k == nil {
			out[i] = p
			continue
		}
		switch src := l.Sources[base]; src {
		case SourceFile:
			out[i] = key + " (in " + l.File + "):" + rest
		case SourceEnv, SourceFlag:
			out[i] = key + " (from " + describeSource(src, k) + "):" + rest
		default:
			out[i] = p
		}
	}
	return out
}
