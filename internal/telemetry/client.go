package telemetry

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Client is who sent an intercepted request (docs/AUDIT.md).
type Client struct {
	// ID is the OAuth client ID, when this replica saw the exchange that
	// issued the request's bearer token.
	ID string
	// TokenID is a keyed fingerprint of the bearer token (tok- and 16 hex
	// digits), the same on every replica that has the same
	// identity.token_key; "" without a bearer token. Never the token.
	TokenID string
	// Address is the peer, or the first X-Forwarded-For hop when the peer
	// is in server.trusted_proxies.
	Address string
	// UserAgent is the User-Agent header, cut to
	// identity.max_user_agent_bytes.
	UserAgent string
}

// Span attributes of client identity: OpenTelemetry's semantic conventions
// where they have a name (client.address, user_agent.original: semconv),
// callfix's own otherwise.
const (
	AttrClientID        = "callfix.client_id"
	AttrTokenID         = "callfix.token_id"
	labelOther          = "other"
	unauthorizedUpsteam = 401
)

func (c *Client) setSpanAttributes(span trace.Span) {
	attrs := make([]attribute.KeyValue, 0, 4)
	if c.ID != "" {
		attrs = append(attrs, attribute.String(AttrClientID, c.ID))
	}
	if c.TokenID != "" {
		attrs = append(attrs, attribute.String(AttrTokenID, c.TokenID))
	}
	if c.Address != "" {
		attrs = append(attrs, semconv.ClientAddress(c.Address))
	}
	if c.UserAgent != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(c.UserAgent))
	}
	span.SetAttributes(attrs...)
}

// SpanAttributes returns the attributes of c for the server span:
// client.address and user_agent.original.
func (c *Client) SpanAttributes() []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 2)
	if c.Address != "" {
		attrs = append(attrs, semconv.ClientAddress(c.Address))
	}
	if c.UserAgent != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(c.UserAgent))
	}
	return attrs
}

// clientLabels bounds the client label: the first max distinct clients
// keep their ID (or token ID), later ones are "other"; requests without
// any identity get no client label (""). A token ID is admitted only once Genesys accepted a
// request with it (forwarded, not answered 401), so that made-up tokens
// cannot take the places of real clients.
type clientLabels struct {
	max  int
	mu   sync.Mutex
	seen sync.Map // label → struct{}
	n    int
}

func (l *clientLabels) label(r *Record) string {
	v := r.Client.ID
	if v == "" {
		v = r.Client.TokenID
	}
	if v == "" {
		return ""
	}
	if _, ok := l.seen.Load(v); ok {
		return v
	}
	if r.Client.ID == "" && (r.Upstream == 0 || r.Upstream == unauthorizedUpsteam) {
		return labelOther
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen.Load(v); ok {
		return v
	}
	if l.n >= l.max {
		return labelOther
	}
	l.n++
	l.seen.Store(v, struct{}{})
	return v
}
