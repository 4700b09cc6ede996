package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
)

// upstream is one host callfix forwards to, with its connection pool.
type upstream struct {
	name   string             // "api" or "login", for logs and metrics
	label  telemetry.Upstream // its metric labels, built once
	scheme string
	host   []byte // the Host header value: host[:port] as in the URL
	client *fasthttp.HostClient
	key    upstreamKey
}

// upstreamKey is everything a HostClient is built from: when a reload does
// not change it, the client (and its warm connection pool) is kept.
type upstreamKey struct {
	URL                 string
	CAFile, ServerName  string
	MaxConns            int
	Dial, Timeout, Idle time.Duration
}

func newUpstream(name string, label telemetry.Upstream, u *url.URL, c *config.Config, prev *upstream, dial func(string) (net.Conn, error)) (*upstream, error) {
	key := upstreamKey{URL: u.String(), CAFile: c.Upstream.CAFile, ServerName: c.Upstream.ServerName,
		MaxConns: c.Upstream.MaxConns, Dial: c.Upstream.DialTimeout, Timeout: c.Upstream.Timeout,
		Idle: c.Upstream.IdleTimeout}
	if prev != nil && reflect.DeepEqual(prev.key, key) {
		return prev, nil
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	up := &upstream{name: name, label: label, scheme: u.Scheme, host: []byte(u.Host), key: key}
	var tc *tls.Config
	if u.Scheme == "https" {
		// ClientSessionCache: a replaced pooled connection resumes its TLS
		// session instead of a full handshake (Go's client keeps none
		// without a cache).
		tc = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), ClientSessionCache: tls.NewLRUClientSessionCache(0)}
		if c.Upstream.ServerName != "" {
			tc.ServerName = c.Upstream.ServerName
		}
		if c.Upstream.CAFile != "" {
			pem, err := os.ReadFile(c.Upstream.CAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream.ca_file: cannot read %s: %v", c.Upstream.CAFile, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream.ca_file: %s holds no PEM certificate", c.Upstream.CAFile)
			}
			tc.RootCAs = pool
		}
	}
	dialTimeout := c.Upstream.DialTimeout
	if dial == nil {
		dial = func(addr string) (net.Conn, error) { return fasthttp.DialTimeout(addr, dialTimeout) }
	}
	hostClient := func() *fasthttp.HostClient {
		return &fasthttp.HostClient{
			Addr:                          addr,
			Name:                          "",
			NoDefaultUserAgentHeader:      true, // the client's own User-Agent, or none
			IsTLS:                         u.Scheme == "https",
			TLSConfig:                     tc,
			MaxConns:                      c.Upstream.MaxConns,
			MaxConnWaitTimeout:            c.Upstream.Timeout,
			MaxIdleConnDuration:           c.Upstream.IdleTimeout,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			ReadBufferSize:                16 << 10,
			WriteBufferSize:               16 << 10,
			// fasthttp's retries are off: the transport alone decides
			// what may be sent twice (only a GET, HEAD or OPTIONS without
			// a body; never a POST, which could place a second real call).
			RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
			// The connection keeps its descriptor for the stale check.
			Dial: func(addr string) (net.Conn, error) { return peekable(dial(addr)) },
		}
	}
	hc := hostClient()
	t := newTransport(hc, hc.AcquireConn, hc.ReleaseConn, hc.CloseConn, c.Upstream.Timeout)
	// The retry of a replayable request goes out on a connection of its
	// own, dialed for it: a second pooled one could be as stale as the first.
	rc := hostClient()
	t.withRetry(rc, rc.AcquireConn, rc.ReleaseConn, rc.CloseConn)
	hc.Transport = t
	rc.Transport = t.retry
	up.client = hc
	return up, nil
}
