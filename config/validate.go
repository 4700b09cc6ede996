package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/callfix/callfix/rewrite"
)

// The bounds of audit.flush_interval and audit.buffer_bytes: records never
// wait longer than 10 s in memory, and a batch never holds more than
// 16 MiB.
const (
	MaxAuditFlushInterval = 10 * time.Second
	MaxAuditBufferBytes   = ByteSize(16 << 20)
)

// MaskModes are the values of the mask key.
var MaskModes = []string{"partial", "hash", "full", "none"}

// Validate checks c and returns every problem at once as Problems, each
// naming its key: what is wrong, and how to fix it. It is pure: it reads
// no file and changes nothing.
func Validate(c *Config) error {
	var p Problems
	add := func(key, format string, args ...any) {
		p = append(p, key+": "+fmt.Sprintf(format, args...))
	}

	checkAddr := func(key, addr string) (string, string, bool) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			add(key, "%q is not a listen address: write host:port or :port, such as :8080 or 127.0.0.1:9090", addr)
			return "", "", false
		}
		return host, port, true
	}
	lh, lp, ok1 := checkAddr("listen", c.Listen)
	ah, ap, ok2 := checkAddr("admin_listen", c.AdminListen)
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" || h == "[::]" }
	if ok1 && ok2 && lp == ap && lp != "0" && (lh == ah || wildcard(lh) || wildcard(ah)) {
		add("admin_listen", "%q shares its port with listen (%q): give the admin listener its own port", c.AdminListen, c.Listen)
	}

	region, ok := LookupRegion(c.Region)
	if !ok {
		add("region", "%q is not a Genesys Cloud region: use one of %s (or a host suffix such as mypurecloud.ie)", c.Region, strings.Join(RegionNames(), ", "))
	}
	if _, err := rewrite.ParseMode(c.Mode); err != nil {
		add("mode", "%q is not a mode: use enforce, rewrite or audit", c.Mode)
	}
	if c.Country != "" && c.Country != CountryAuto && !rewrite.KnownCountry(strings.ToUpper(c.Country)) {
		add("country", "%q is not an ISO 3166 alpha-2 country callfix has a numbering plan for: use a code such as US, GB or DE, auto to learn each organisation's, or leave it empty for the region's (%s)", c.Country, region.Country)
	}
	if _, err := rewrite.ParseLevel(c.Validation); err != nil {
		add("validation", "%q is not a validation level: use valid, possible or strict", c.Validation)
	}
	if _, err := rewrite.ParseDigitRange(c.Addresses.ExtensionDigits); err != nil {
		add("addresses.extension_digits", "%s", err.Error())
	}
	if _, err := rewrite.CompileKeepPatterns(c.Addresses.Keep); err != nil {
		for _, e := range splitJoined(err) {
			var pe *rewrite.PatternError
			if errors.As(e, &pe) {
				add(fmt.Sprintf("addresses.keep[%d]", pe.Index), "%s", keepProblem(pe))
			}
		}
	}
	if !contains(MaskModes, c.Mask) {
		add("mask", "%q is not a mask mode: use partial, hash, full or none", c.Mask)
	} else if c.Mask == "hash" && c.MaskKey == "" {
		add("mask_key", "mask: hash needs a key, or anyone can reverse the hashes by trying every number: set mask_key (or CALLFIX_MASK_KEY) to a long random string")
	}

	for _, u := range []struct{ key, val string }{{"upstream.api", c.Upstream.API}, {"upstream.login", c.Upstream.Login}} {
		if u.val == "" {
			continue // from the region
		}
		if msg := checkUpstream(u.val, c.Upstream.AllowInsecureHTTP); msg != "" {
			add(u.key, "%s", msg)
		}
	}

	positive := func(key string, v int64, how string) {
		if v <= 0 {
			add(key, "must be greater than zero, got %d: %s", v, how)
		}
	}
	positiveDur := func(key string, d time.Duration) {
		if d <= 0 {
			add(key, "must be greater than zero, got %s: write a duration such as 5s", d)
		}
	}
	positive("upstream.max_conns", int64(c.Upstream.MaxConns), "set the most connections per upstream host, such as 512")
	positiveDur("upstream.dial_timeout", c.Upstream.DialTimeout)
	positiveDur("upstream.timeout", c.Upstream.Timeout)
	positiveDur("upstream.idle_timeout", c.Upstream.IdleTimeout)
	positiveDur("server.read_timeout", c.Server.ReadTimeout)
	positiveDur("server.write_timeout", c.Server.WriteTimeout)
	positiveDur("server.idle_timeout", c.Server.IdleTimeout)
	positiveDur("server.shutdown_grace", c.Server.ShutdownGrace)
	if c.Server.ShutdownDelay < 0 {
		add("server.shutdown_delay", "must not be negative, got %s: write a duration such as 5s, or 0 to close the listener at once on SIGTERM", c.Server.ShutdownDelay)
	}
	positive("server.max_conns", int64(c.Server.MaxConns), "set the most client connections, such as 10000")
	positive("server.max_header_bytes", int64(c.Server.MaxHeaderBytes), "set a size such as 16KiB")
	if c.Server.MaxHeaderBytes > 0 && c.Server.MaxHeaderBytes < 1024 {
		add("server.max_header_bytes", "%d bytes is too small for real requests: use at least 1KiB", c.Server.MaxHeaderBytes)
	}
	positive("limits.max_body_bytes", int64(c.Limits.MaxBodyBytes), "set a size such as 1MiB")
	positiveDur("country_lookup.timeout", c.CountryLookup.Timeout)
	positiveDur("country_lookup.max_age", c.CountryLookup.MaxAge)
	positive("country_lookup.max_entries", int64(c.CountryLookup.MaxEntries), "set the most tokens whose country is cached, such as 10000")
	positive("server.max_method_bytes", int64(c.Server.MaxMethodBytes), "set the longest method accepted, such as 20")
	positive("limits.max_content_codings", int64(c.Limits.MaxContentCodings), "set the most codings undone, such as 2")
	positive("limits.max_details", int64(c.Limits.MaxDetails), "set the most values listed, such as 20")

	if c.Audit.FlushInterval < 0 || c.Audit.FlushInterval > MaxAuditFlushInterval {
		add("audit.flush_interval", "%s is not between 0 and %s: use a short interval such as 100ms, or 0 to write every record at once", c.Audit.FlushInterval, MaxAuditFlushInterval)
	}
	if c.Audit.BufferBytes < 0 || c.Audit.BufferBytes > MaxAuditBufferBytes {
		add("audit.buffer_bytes", "%d bytes is not between 0 and %s: use a size such as 64KiB, or 0 to write every record at once", int64(c.Audit.BufferBytes), MaxAuditBufferBytes)
	}

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file go together: set both to serve TLS, or neither")
	}

	checkPrefixes := func(key string, list []string) {
		for _, pr := range list {
			if pr == "" || pr[0] != '/' || pr == "/" || strings.HasSuffix(pr, "/") || strings.ContainsAny(pr, "?#") {
				add(key, "%q is not a path prefix: write it as /name, without a trailing slash, such as /api", pr)
			}
		}
	}
	checkPrefixes("gateway.api_prefixes", c.Gateway.APIPrefixes)
	checkPrefixes("gateway.login_prefixes", c.Gateway.LoginPrefixes)
	for _, a := range c.Gateway.APIPrefixes {
		if contains(c.Gateway.LoginPrefixes, a) {
			add("gateway", "%q is both an API and a login prefix: a prefix must say which host it goes to", a)
		}
	}

	switch c.Tracing.Protocol {
	case "", "grpc", "http/protobuf":
	default:
		add("tracing.protocol", "%q is not an OTLP protocol: use grpc or http/protobuf", c.Tracing.Protocol)
	}
	if c.Tracing.Endpoint != "" {
		if u, err := url.Parse(c.Tracing.Endpoint); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			add("tracing.endpoint", "%q is not a URL: write one such as http://otel-collector:4318", c.Tracing.Endpoint)
		}
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		add("tracing.sample_ratio", "%v is not between 0 and 1: use 1 to sample every trace, 0.1 for one in ten", c.Tracing.SampleRatio)
	}

	validateIdentity(c, add)

	if len(c.Rules) == 0 && !c.BuiltinRules {
		add("rules", "there are no rules: with builtin_rules: false, list at least one rule (callfix would only pass traffic through)")
	}
	if _, err := c.rewriteRules(); err != nil {
		for _, e := range splitJoined(err) {
			p = append(p, e.Error())
		}
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// checkUpstream returns what is wrong with an upstream base URL, or "".
func checkUpstream(raw string, allowHTTP bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Sprintf("%q is not a URL with a scheme and host: write one such as https://api.mypurecloud.com", raw)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Sprintf("%q: scheme %q is not supported: use https (or http for a local test upstream)", raw, u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Sprintf("%q has a path, query or credentials: give only scheme, host and port, such as https://api.mypurecloud.com", raw)
	}
	if u.Scheme == "http" && !allowHTTP && !IsLoopback(u.Hostname()) {
		return fmt.Sprintf("%q is plain http to a host that is not loopback: tokens would cross the network in clear text; use https, or set upstream.allow_insecure_http: true for a test rig", raw)
	}
	return ""
}

// IsLoopback reports whether host (a name or an IP address, without a port
// or brackets, as url.URL.Hostname gives it) is this machine: "localhost"
// in any case, or an address in 127.0.0.0/8 or ::1. No name is resolved.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rewriteRules returns the rules the engine compiles: the configured ones,
// then the built-in ones when BuiltinRules is set. Errors name config keys.
func (c *Config) rewriteRules() ([]rewrite.Rule, error) {
	var errs []error
	var rules []rewrite.Rule
	for i, rc := range c.Rules {
		r := rewrite.Rule{Method: rc.Method, Path: rc.Path}
		for j, fc := range rc.Fields {
			f, err := rewrite.ParseFormat(fc.Format)
			if err != nil {
				errs = append(errs, fmt.Errorf("rules[%d].fields[%d].format: %q is not a format: use address, tel, e164 or user", i, j, fc.Format))
			}
			r.Fields = append(r.Fields, rewrite.Field{Path: fc.Path, Format: f})
		}
		rules = append(rules, r)
	}
	if err := rewrite.ValidateRules(rules); err != nil {
		for _, e := range splitJoined(err) {
			var re *rewrite.RuleError
			if errors.As(e, &re) && re.Key == "format" {
				continue // reported above with the value
			}
			errs = append(errs, e)
		}
	}
	if c.BuiltinRules {
		rules = append(rules, rewrite.DefaultRules()...)
	}
	return rules, errors.Join(errs...)
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CountryAuto is the country value that learns each organisation's.
const CountryAuto = "auto"

// keepProblem says what is wrong with a keep pattern and where.
func keepProblem(pe *rewrite.PatternError) string {
	if pe.Pattern == "" {
		return "the pattern is empty and would match only an empty value: remove it"
	}
	msg := fmt.Sprintf("%q is not an RE2 pattern", pe.Pattern)
	if off := pe.Offset(); off >= 0 {
		msg += fmt.Sprintf(" (at byte %d)", off)
	}
	var se *syntax.Error
	if errors.As(pe.Err, &se) {
		msg += ": " + se.Code.String()
	}
	return msg + ": write a Go regular expression matched against the whole value, such as \\*[0-9]+"
}
