package config

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/callfix/callfix/rewrite"
)

// validateOverrides checks the per-client and per-rule modes and
// countries and compiles them; rules are keyed by route name, the first
// rule of a name winning as it does in matching. The global mode and
// country are Build's to fill in.
func validateOverrides(c *Config, add addFunc) Overrides {
	o := Overrides{rules: map[string]override{}, clients: map[string]override{}}
	parse := func(at, mode, country string) override {
		ov := override{country: strings.ToUpper(country)}
		if m, err := rewrite.ParseMode(mode); mode != "" && err != nil {
			add(at+".mode", "%q is not a mode: use enforce, rewrite or audit", mode)
		} else if mode != "" {
			ov.mode, ov.hasMode = m, true
		}
		if country != "" && !rewrite.KnownCountry(ov.country) {
			add(at+".country", "%q is not an ISO 3166 alpha-2 country callfix has a numbering plan for: use a code such as US, GB or DE", country)
		}
		return ov
	}
	for _, id := range slices.Sorted(maps.Keys(c.Clients)) {
		cc := c.Clients[id]
		at := "clients." + id
		if strings.TrimSpace(id) == "" {
			add("clients", "an empty client ID: key each entry by an OAuth client ID or a token ID (tok-…) from the audit log")
			continue
		}
		if cc.Mode == "" && cc.Country == "" {
			add(at, "sets neither mode nor country: give one, or remove the entry")
		}
		o.clients[id] = parse(at, cc.Mode, cc.Country)
	}
	for i, r := range c.Rules {
		ov := parse(fmt.Sprintf("rules[%d]", i), r.Mode, r.Country)
		name := r.Method + " " + r.Path // as rewrite names its routes
		if _, seen := o.rules[name]; !seen {
			o.rules[name] = ov
		}
	}
	return o
}

// validateIdentity checks the keys of client identity and returns the
// trusted proxies it parsed.
func validateIdentity(c *Config, add addFunc) []netip.Prefix {
	trusted := make([]netip.Prefix, 0, len(c.Server.TrustedProxies))
	for i, p := range c.Server.TrustedProxies {
		pr, err := parseProxy(p)
		if err != nil {
			add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not an IP address or network: write one such as 10.0.0.0/8 or 192.0.2.7", p)
			continue
		}
		trusted = append(trusted, pr)
	}
	if c.Identity.MaxTokens < 1 {
		add("identity.max_tokens", "%d: give at least 1 (the default 10000 holds thousands of clients)", c.Identity.MaxTokens)
	}
	if c.Identity.MaxUserAgentBytes < 0 {
		add("identity.max_user_agent_bytes", "%d is negative: give a number of bytes, or 0 to leave user agents out", c.Identity.MaxUserAgentBytes)
	}
	if c.Metrics.MaxClients < 0 {
		add("metrics.max_clients", "%d is negative: give a number of clients, or 0 to label every client other", c.Metrics.MaxClients)
	}
	return trusted
}

// parseProxy reads an entry of server.trusted_proxies: an address is a
// network of one.
func parseProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func renderClients(b *strings.Builder, clients map[string]ClientConfig, comment string) {
	if len(clients) == 0 {
		b.WriteString("clients: {}" + comment + "\n")
		return
	}
	b.WriteString("clients:" + comment + "\n")
	for _, id := range slices.Sorted(maps.Keys(clients)) {
		cc := clients[id]
		var parts []string
		if cc.Mode != "" {
			parts = append(parts, "mode: "+strconv.Quote(cc.Mode))
		}
		if cc.Country != "" {
			parts = append(parts, "country: "+strconv.Quote(cc.Country))
		}
		fmt.Fprintf(b, "  %s: {%s}\n", strconv.Quote(id), strings.Join(parts, ", "))
	}
}

// Overrides are the per-rule and per-client modes and countries of a
// snapshot, resolved at request time by Resolve.
type Overrides struct {
	mode    rewrite.Mode
	country string
	rules   map[string]override // by route name (METHOD pattern)
	clients map[string]override // by client ID or token ID
}

type override struct {
	mode    rewrite.Mode
	hasMode bool
	country string
}

// Origin says which layer a resolved value came from.
type Origin string

// The layers of Resolve, highest first.
const (
	OriginHeader Origin = "header" // X-Callfix-Country
	OriginClient Origin = "client" // clients:
	OriginRule   Origin = "rule"   // a rule's own mode or country
	OriginGlobal Origin = "global" // mode, country (or the region's)
)

// Resolution is the mode and country of one request, and where each came
// from.
type Resolution struct {
	Mode          rewrite.Mode
	Country       string
	ModeOrigin    Origin
	CountryOrigin Origin
}

// Resolve returns the mode and country of a request to route (its name,
// METHOD pattern) from a client (by client ID, else token ID; both may be
// empty), with headerCountry the validated X-Callfix-Country or "".
// Precedence: X-Callfix-Country > client > rule > global for the country;
// client > rule > global for the mode. A client ID entry is used before a
// token ID entry. It does not allocate.
func (o *Overrides) Resolve(route, clientID, tokenID, headerCountry string) Resolution {
	r := Resolution{Mode: o.mode, Country: o.country, ModeOrigin: OriginGlobal, CountryOrigin: OriginGlobal}
	if ro, ok := o.rules[route]; ok {
		if ro.hasMode {
			r.Mode, r.ModeOrigin = ro.mode, OriginRule
		}
		if ro.country != "" {
			r.Country, r.CountryOrigin = ro.country, OriginRule
		}
	}
	co, ok := o.clients[clientID]
	if !ok || clientID == "" {
		co, ok = o.clients[tokenID]
		ok = ok && tokenID != ""
	}
	if ok {
		if co.hasMode {
			r.Mode, r.ModeOrigin = co.mode, OriginClient
		}
		if co.country != "" {
			r.Country, r.CountryOrigin = co.country, OriginClient
		}
	}
	if headerCountry != "" {
		r.Country, r.CountryOrigin = headerCountry, OriginHeader
	}
	return r
}

// TrustedProxies returns server.trusted_proxies as networks, as
// validation parsed them.
func (s *Snapshot) TrustedProxies() []netip.Prefix { return slices.Clone(s.trusted) }
