package config

import (
	"maps"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/callfix/callfix/rewrite"
)

// Snapshot is a validated configuration with everything derived from it:
// the region's hosts and country resolved, the rules compiled, the URLs,
// prefixes, networks and mask policy in the types their users need. It is
// immutable; a reload builds a new one and swaps it in whole.
type Snapshot struct {
	// Config is the configuration with region-derived values filled in.
	Config Config
	// Sources maps every key to the layer its value came from.
	Sources map[string]Source
	// File is the YAML file read, or "".
	File string

	Region Region
	// API and Login are upstream.api and upstream.login, parsed, without a
	// trailing slash.
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
	// APIPrefixes and LoginPrefixes are gateway.api_prefixes and
	// gateway.login_prefixes, as the bytes request paths are matched with.
	APIPrefixes, LoginPrefixes [][]byte
	// Mask is how numbers are shown in spans, logs and error bodies.
	Mask MaskPolicy

	trusted []netip.Prefix
}

// MaskPolicy is the validated mask and mask_key.
type MaskPolicy struct {
	// Mode is one of MaskModes.
	Mode string
	// Key is the HMAC key of mode hash (mask_key).
	Key Secret
}

// Build validates l and derives a Snapshot from what validation parsed.
// Problems are returned all at once, as Problems.
func Build(l *Loaded) (*Snapshot, error) {
	c := l.Config
	v, probs := validate(&c)
	if len(probs) > 0 {
		return nil, l.locate(probs)
	}
	src := maps.Clone(l.Sources)
	region := v.region
	c.Region = region.Name
	if v.api == nil {
		v.api = &url.URL{Scheme: "https", Host: "api." + region.Suffix}
		c.Upstream.API = region.APIURL()
		src["upstream.api"] = SourceRegion
	}
	if v.login == nil {
		v.login = &url.URL{Scheme: "https", Host: "login." + region.Suffix}
		c.Upstream.Login = region.LoginURL()
		src["upstream.login"] = SourceRegion
	}
	c.Upstream.API = strings.TrimSuffix(c.Upstream.API, "/")
	c.Upstream.Login = strings.TrimSuffix(c.Upstream.Login, "/")
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

	s := &Snapshot{Sources: src, File: l.File, Region: region, API: v.api, Login: v.login, Country: country, CountryAuto: auto,
		Mode: v.mode, Level: v.level, Engine: v.engine, LoadedAt: time.Now(), trusted: v.trusted,
		APIPrefixes: bytesOf(c.Gateway.APIPrefixes), LoginPrefixes: bytesOf(c.Gateway.LoginPrefixes),
		Mask: MaskPolicy{Mode: c.Mask, Key: c.MaskKey}}
	switch {
	case auto:
		s.CountryOrigin = "the fallback for country: auto, the default country of region " + region.Name + "; send `X-Callfix-Country` to choose"
	case src["country"] == SourceRegion:
		s.CountryOrigin = "the default country of region " + region.Name + "; set `country` or send `X-Callfix-Country`"
	default:
		s.CountryOrigin = "set by country (from " + describeSource(src["country"], keyByName["country"]) + ")"
	}
	rewrite.Warm(s.Country)
	// Deep-copy what a later reload must not share.
	c.Rules = append([]RuleConfig(nil), c.Rules...)
	c.Addresses.Keep = append([]string(nil), c.Addresses.Keep...)
	c.Gateway.APIPrefixes = append([]string(nil), c.Gateway.APIPrefixes...)
	c.Gateway.LoginPrefixes = append([]string(nil), c.Gateway.LoginPrefixes...)
	c.Server.TrustedProxies = append([]string(nil), c.Server.TrustedProxies...)
	c.Clients = maps.Clone(c.Clients)
	s.Overrides = v.overrides
	s.Overrides.mode, s.Overrides.country = s.Mode, s.Country
	s.Config = c
	return s, nil
}

// describeSource names a layer in a message: the variable or flag, or the
// layer.
func describeSource(s Source, k *Key) string {
	if w := k.where(s, ""); w != "" {
		return w
	}
	return string(s)
}

func bytesOf(list []string) [][]byte {
	out := make([][]byte, len(list))
	for i, p := range list {
		out[i] = []byte(p)
	}
	return out
}

// LoadSnapshot is Load then Build, reporting the problems of both at once.
func LoadSnapshot(opts Options) (*Snapshot, error) {
	l, err := Load(opts)
	if err != nil {
		probs := err.(Problems)
		_, verr := validate(&l.Config)
		for _, v := range l.locate(verr) {
			if !probs.mentions(v.Key) {
				probs = append(probs, v)
			}
		}
		return nil, probs
	}
	return Build(l)
}

// locate says where each validation problem's value came from, when not a
// default: "region (from --region): ...", "mode (from CALLFIX_MODE): ...".
func (l *Loaded) locate(probs Problems) Problems {
	out := make(Problems, len(probs))
	for i, p := range probs {
		if k := keyOf(p.Key); k != nil {
			switch src := l.Sources[k.Name]; src {
			case SourceFile, SourceEnv, SourceFlag:
				p.Source, p.From = src, k.where(src, l.File)
			}
		}
		out[i] = p
	}
	return out
}
