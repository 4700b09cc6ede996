package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is callfix's configuration as written: every key of the YAML file,
// with its default. Values derived from the region (upstream URLs, country)
// are empty here when not set and resolved by Build. Keys are snake_case;
// the environment variable of a key is CALLFIX_ and the key in upper case
// with dots as underscores (upstream.api → CALLFIX_UPSTREAM_API).
//
// Each field's tags hold everything known about its key (see Keys):
// koanf is the key, flag the dedicated command-line flag of the CLI
// contract (docs/ARCHITECTURE.md), secret:"true" redacts it wherever
// configuration is shown, and restart:"true" keeps its running value on a
// reload until a restart.
type Config struct {
	// Listen is the address the proxy serves on. Not reloadable.
	// Default ":8080".
	Listen string `koanf:"listen" flag:"listen" restart:"true"`
	// AdminListen is the address of /healthz, /readyz and /metrics. Keep it
	// off public interfaces. Not reloadable. Default "127.0.0.1:9090".
	AdminListen string `koanf:"admin_listen" flag:"admin-listen" restart:"true"`
	// Region is the Genesys Cloud region, by AWS name (eu-west-1) or host
	// suffix (mypurecloud.ie): it gives the upstream hosts and the default
	// country. Default "us-east-1".
	Region string `koanf:"region" flag:"region"`
	// Mode is enforce (rewrite, and answer 400 for an address that cannot be
	// fixed), rewrite (rewrite, forward the rest as sent) or audit (never
	// change a byte, record what would change). Default "enforce".
	Mode string `koanf:"mode" flag:"mode"`
	// Country is the ISO 3166 alpha-2 country national numbers are read in,
	// such as GB, or auto: learn each organisation's default country from
	// Genesys with one extra read-only request per new token (GET
	// /api/v2/organizations/me; see country_lookup), falling back to the
	// region's. Many organisations live in a region outside their own
	// country, so the region's country is a guess. Default: the region's.
	Country string `koanf:"country" flag:"country"`
	// Validation is how strictly numbers are checked: valid (a national
	// number must be assigned in the country it is read in, a number written
	// with its country code must be possible), possible (both only possible:
	// test rigs with 555 numbers; a national number may then be moved into
	// the wrong country) or strict (both must be assigned). Default "valid".
	Validation string `koanf:"validation"`
	// Mask is how phone numbers appear in spans, logs and error bodies:
	// partial (tel:+44*******58), hash (keyed HMAC prefix, needs mask_key),
	// full (a privacy risk: numbers reach every backend) or none (omitted).
	// Default "partial".
	Mask string `koanf:"mask"`
	// MaskKey is the HMAC key for mask: hash. Secret: redacted in output.
	// Default "".
	MaskKey Secret `koanf:"mask_key" secret:"true"`
	// BuiltinRules keeps the built-in rules (the call-creating endpoints)
	// after the rules below. Default true.
	BuiltinRules bool `koanf:"builtin_rules"`
	// Rules are matched before the built-in ones: the first rule whose method
	// and path match a request is applied. Default none.
	Rules []RuleConfig `koanf:"rules"`
	// Clients maps an OAuth client ID, or a token ID (tok-…, for a client
	// whose token exchange callfix did not see), to overrides of mode and
	// country for that client's requests, so that integrations move to
	// enforce one at a time. Precedence: X-Callfix-Country > client > rule >
	// global for the country; client > rule > global for the mode. File
	// only. Default none.
	Clients map[string]ClientConfig `koanf:"clients"`

	Addresses     AddressesConfig     `koanf:"addresses"`
	CountryLookup CountryLookupConfig `koanf:"country_lookup"`

	Upstream UpstreamConfig `koanf:"upstream"`
	Server   ServerConfig   `koanf:"server"`
	TLS      TLSConfig      `koanf:"tls"`
	Limits   LimitsConfig   `koanf:"limits"`
	Gateway  GatewayConfig  `koanf:"gateway"`
	Tracing  TracingConfig  `koanf:"tracing"`
	Audit    AuditConfig    `koanf:"audit"`
	Identity IdentityConfig `koanf:"identity"`
	Metrics  MetricsConfig  `koanf:"metrics"`
}

// ClientConfig overrides the mode and country of one client's requests.
// An empty value does not override.
type ClientConfig struct {
	// Mode is enforce, rewrite or audit.
	Mode string `koanf:"mode" yaml:"mode,omitempty"`
	// Country is the ISO 3166 alpha-2 country the client's national numbers
	// are read in.
	Country string `koanf:"country" yaml:"country,omitempty"`
}

// IdentityConfig is how callfix tells clients apart (docs/AUDIT.md:
// client_id, token_id, client_address, user_agent).
type IdentityConfig struct {
	// TokenKey is the HMAC key of token IDs and of the token map: give every
	// replica the same key so that a token has the same token_id on all of
	// them. Secret: redacted in output. Default "" (a random key per
	// process: token IDs change on restart and differ between replicas).
	TokenKey Secret `koanf:"token_key" secret:"true" restart:"true"`
	// MaxTokens bounds the map from access tokens (as keyed hashes, never
	// the tokens) to client IDs, learned from token exchanges on
	// /oauth/token; when full, the entry that expires first is dropped.
	// About 100 bytes an entry. Not reloadable. Default 10000 (thousands of
	// clients, each with a token or two alive).
	MaxTokens int `koanf:"max_tokens" restart:"true"`
	// MaxUserAgentBytes is where user_agent is cut (at a UTF-8 boundary) in
	// audit records and spans; 0 leaves it out. Default 256.
	MaxUserAgentBytes int `koanf:"max_user_agent_bytes"`
}

// MetricsConfig bounds what the Prometheus metrics carry.
type MetricsConfig struct {
	// MaxClients is how many distinct clients get their own value of the
	// client label on the intercepted-request metrics: the first ones seen;
	// later ones are "other". 0 labels every client "other". Not
	// reloadable. Default 100.
	MaxClients int `koanf:"max_clients" restart:"true"`
}

// AddressesConfig says which values are kept on purpose: forwarded byte for
// byte in every mode and never a problem, because Genesys dials them as they
// are. Emergency numbers, short codes and user@host network addresses are
// always kept.
type AddressesConfig struct {
	// ExtensionDigits is the Extension number plan: digit-only values (plain
	// or tel:) with this many digits are extensions, such as 4-6, 5, or 0
	// for none. Default "4-6" (Genesys's default Extension plan).
	ExtensionDigits string `koanf:"extension_digits"`
	// Keep are RE2 patterns, each matched against the whole value as sent;
	// a value that matches one is kept as sent, for sites with number plans
	// of their own (such as ^\*[0-9]+$ feature codes). Default none.
	Keep []string `koanf:"keep"`
}

// CountryLookupConfig tunes country: auto.
type CountryLookupConfig struct {
	// Timeout bounds the lookup of an organisation's country; past it the
	// request goes on with the configured country. It never delays other
	// requests. Default 2s.
	Timeout time.Duration `koanf:"timeout"`
	// MaxEntries bounds the tokens whose organisation's country is cached
	// (by a keyed hash of the token, never the token). Default 10000.
	MaxEntries int `koanf:"max_entries"`
	// MaxAge bounds how long a token's country is cached, below the
	// lifetime of a Genesys token (24h at most). Default 1h.
	MaxAge time.Duration `koanf:"max_age"`
}

// UpstreamConfig is how callfix reaches Genesys.
type UpstreamConfig struct {
	// API is the base URL of the API host. Default: https://api.<region suffix>.
	API string `koanf:"api" flag:"upstream-api"`
	// Login is the base URL of the login host (/oauth/*). Default:
	// https://login.<region suffix>.
	Login string `koanf:"login" flag:"upstream-login"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system roots. Default "" (system roots).
	CAFile string `koanf:"ca_file"`
	// ServerName overrides the TLS server name checked on upstream
	// certificates. Default "" (the URL's host).
	ServerName string `koanf:"server_name"`
	// AllowInsecureHTTP permits a plain http:// upstream on a non-loopback
	// host. It sends tokens in clear text: for test rigs only. Default false.
	AllowInsecureHTTP bool `koanf:"allow_insecure_http"`
	// MaxConns is the most connections open to each upstream host; a request
	// beyond it waits for a free one until upstream.timeout. Default 512.
	MaxConns int `koanf:"max_conns"`
	// DialTimeout bounds connecting (TCP and TLS) to an upstream. Default 5s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// Timeout bounds an upstream exchange, from sending the request to the
	// end of the response headers; past it the client gets 504. Default 60s.
	Timeout time.Duration `koanf:"timeout"`
	// IdleTimeout closes pooled upstream connections idle this long. It is
	// below the 60s after which AWS load balancers (in front of Genesys)
	// drop idle connections. Default 45s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
}

// ServerConfig tunes the listener clients connect to.
type ServerConfig struct {
	// ReadTimeout bounds reading a whole request, body included. Default 60s.
	ReadTimeout time.Duration `koanf:"read_timeout" restart:"true"`
	// WriteTimeout bounds writing a whole response. Default 60s.
	WriteTimeout time.Duration `koanf:"write_timeout" restart:"true"`
	// IdleTimeout closes client keep-alive connections idle this long.
	// Default 120s.
	IdleTimeout time.Duration `koanf:"idle_timeout" restart:"true"`
	// MaxConns is the most client connections served at once; more are
	// refused. Default 10000.
	MaxConns int `koanf:"max_conns" restart:"true"`
	// MaxHeaderBytes bounds the request line and headers. Default 16KiB.
	MaxHeaderBytes ByteSize `koanf:"max_header_bytes" restart:"true"`
	// MaxMethodBytes is the longest request method accepted; a longer one
	// is answered 400 and forwarded nowhere. The longest registered HTTP
	// method, UPDATEREDIRECTREF, has 17 bytes. Default 20.
	MaxMethodBytes int `koanf:"max_method_bytes"`
	// ShutdownGrace is how long in-flight requests may finish after SIGTERM.
	// Default 25s (inside Kubernetes' default 30s termination grace).
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// ShutdownDelay is how long callfix keeps accepting and serving after
	// SIGTERM, with /readyz false, before it closes its listener and drains
	// within shutdown_grace: Kubernetes sends SIGTERM while kube-proxy and
	// load balancers may still route new connections to the pod for a few
	// seconds, and a closed listener would refuse them. 0 closes the
	// listener at once (nothing routes by readiness: systemd, Compose).
	// Default 5s.
	ShutdownDelay time.Duration `koanf:"shutdown_delay"`
	// TrustedProxies are the addresses (192.0.2.7) and networks
	// (10.0.0.0/8) of load balancers in front of callfix: for a request from
	// one of them, client_address is the first X-Forwarded-For hop instead
	// of the peer. Anyone can send X-Forwarded-For, so list only proxies
	// that set it. Default none (client_address is always the peer).
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// TLSConfig enables TLS on the listener. Both files or neither.
type TLSConfig struct {
	// CertFile is the PEM certificate chain. Default "" (plain HTTP).
	CertFile string `koanf:"cert_file" restart:"true"`
	// KeyFile is the PEM private key. Default "".
	KeyFile string `koanf:"key_file" restart:"true"`
}

// LimitsConfig bounds what callfix buffers.
type LimitsConfig struct {
	// MaxBodyBytes is the largest intercepted request body (after decoding
	// Content-Encoding) callfix reads to rewrite; above it the client gets
	// 413. Pass-through bodies stream and have no limit. Default 1MiB.
	MaxBodyBytes ByteSize `koanf:"max_body_bytes"`
	// MaxContentCodings is the most content codings (gzip, deflate, br, zstd;
	// identity does not count) callfix undoes on an intercepted body, as in
	// Content-Encoding: gzip, gzip; more is answered 415. Each coding is
	// bounded by max_body_bytes, but a chain of them multiplies the work.
	// Default 2.
	MaxContentCodings int `koanf:"max_content_codings"`
	// MaxDetails is the most values listed one by one in a 400
	// callfix.invalid.address answer (its details and message) and in an
	// audit record or span (changes, problems); the total count is always
	// given, so one request with thousands of bad addresses gets a small
	// answer. Default 20.
	MaxDetails int `koanf:"max_details"`
}

// GatewayConfig supports SDKs whose setGateway adds path prefixes.
type GatewayConfig struct {
	// APIPrefixes are stripped from API paths before forwarding, such as
	// /api for the JavaScript SDK's path_params_api. Default none.
	APIPrefixes []string `koanf:"api_prefixes"`
	// LoginPrefixes are stripped from login paths (/login/oauth/token →
	// /oauth/token) and route them to the login host. Default none.
	LoginPrefixes []string `koanf:"login_prefixes"`
}

// TracingConfig configures OpenTelemetry traces. The standard OTEL_*
// variables apply where these are empty.
type TracingConfig struct {
	// Endpoint is the OTLP endpoint, such as http://collector:4318. Default ""
	// (OTEL_EXPORTER_OTLP_ENDPOINT; with neither, no exporter runs).
	Endpoint string `koanf:"endpoint" restart:"true"`
	// Protocol is grpc or http/protobuf. Default "" (OTEL_EXPORTER_OTLP_PROTOCOL,
	// else http/protobuf).
	Protocol string `koanf:"protocol" restart:"true"`
	// Headers are sent with every export, such as an API key. Secret:
	// values are redacted in output. Default none.
	Headers map[string]Secret `koanf:"headers" secret:"true" restart:"true"`
	// Passthrough also traces requests that are not intercepted. Default false.
	Passthrough bool `koanf:"passthrough"`
	// SampleRatio is the share of traces sampled, 0 to 1. Default 1.
	SampleRatio float64 `koanf:"sample_ratio" restart:"true"`
}

// AuditConfig configures the audit log: one JSON record per intercepted
// request.
type AuditConfig struct {
	// Enabled turns the audit log on. Default true.
	Enabled bool `koanf:"enabled" restart:"true"`
	// File is where records go. Default "" (standard error).
	File string `koanf:"file" restart:"true"`
	// FlushInterval is the longest a record waits in memory before it is
	// written: records are written in batches, not one write per
	// intercepted request. 0 writes every record at once. At most 10s.
	// Records still buffered are written on shutdown (SIGTERM, SIGINT);
	// a crash or SIGKILL loses at most this much. Default 100ms.
	FlushInterval time.Duration `koanf:"flush_interval" restart:"true"`
	// BufferBytes bounds the batch: a record that would not fit is
	// written after the buffered ones, at once. 0 writes every record at
	// once. At most 16MiB. Default 64KiB.
	BufferBytes ByteSize `koanf:"buffer_bytes" restart:"true"`
}

// RuleConfig is a rewrite rule as written in the file.
type RuleConfig struct {
	// Method such as POST.
	Method string `koanf:"method" yaml:"method"`
	// Path pattern such as /api/v2/conversations/calls/{conversationId}/participants.
	Path string `koanf:"path" yaml:"path"`
	// Fields to repair.
	Fields []FieldConfig `koanf:"fields" yaml:"fields"`
	// Mode overrides the global mode for requests this rule matches (a
	// client's own mode in clients: wins). Default "" (the global mode).
	Mode string `koanf:"mode" yaml:"mode,omitempty"`
	// Country overrides the global country for this rule's requests (a
	// client's country and X-Callfix-Country win). Default "" (the global).
	Country string `koanf:"country" yaml:"country,omitempty"`
}

// FieldConfig is a JSON path and a format (address, tel, e164, user).
type FieldConfig struct {
	Path   string `koanf:"path" yaml:"path"`
	Format string `koanf:"format" yaml:"format"`
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Listen:       ":8080",
		AdminListen:  "127.0.0.1:9090",
		Region:       DefaultRegion,
		Mode:         "enforce",
		Validation:   "valid",
		Mask:         "partial",
		BuiltinRules: true,
		Upstream: UpstreamConfig{
			MaxConns:    512,
			DialTimeout: 5 * time.Second,
			Timeout:     60 * time.Second,
			IdleTimeout: 45 * time.Second,
		},
		Server: ServerConfig{
			ReadTimeout:    60 * time.Second,
			WriteTimeout:   60 * time.Second,
			IdleTimeout:    120 * time.Second,
			MaxConns:       10000,
			MaxHeaderBytes: 16 << 10,
			MaxMethodBytes: 20,
			ShutdownGrace:  25 * time.Second,
			ShutdownDelay:  5 * time.Second,
		},
		Addresses:     AddressesConfig{ExtensionDigits: "4-6"},
		CountryLookup: CountryLookupConfig{Timeout: 2 * time.Second, MaxEntries: 10000, MaxAge: time.Hour},
		Limits:        LimitsConfig{MaxBodyBytes: 1 << 20, MaxContentCodings: 2, MaxDetails: 20},
		Tracing:       TracingConfig{SampleRatio: 1},
		Audit:         AuditConfig{Enabled: true, FlushInterval: 100 * time.Millisecond, BufferBytes: 64 << 10},
		Identity:      IdentityConfig{MaxTokens: 10000, MaxUserAgentBytes: 256},
		Metrics:       MetricsConfig{MaxClients: 100},
	}
}

// ByteSize is a number of bytes, written as a number or with a unit:
// 1048576, 1MiB, 512KiB, 1MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}

// ParseByteSize reads a ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (n != 0 && n > (1<<62)/mult) {
		return 0, fmt.Errorf("%q is not a byte size: write a number of bytes or a size such as 512KiB or 1MiB", s)
	}
	return ByteSize(n * mult), nil
}

// String writes the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range byteUnits[:3] {
		if b != 0 && int64(b)%u.mult == 0 && int64(b)/u.mult < 1<<20 && int64(b) >= u.mult {
			if int64(b)%(u.mult<<10) != 0 || u.suffix == "GiB" {
				return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalText lets ByteSize be read from YAML and the environment.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Secret is a string that never shows itself: fmt prints it as
// [redacted], so a Config can be logged with %v without leaking it.
type Secret string

// String returns "[redacted]" for a set secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts too, for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText redacts too, for encoders that do not use fmt (slog's JSON
// handler, encoding/json).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Value returns the secret itself, for the code that uses it.
func (s Secret) Value() string { return string(s) }
