package proxy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/proxy"
)

// tlsUpstream is an HTTPS upstream (httptest's certificate, for
// example.com and 127.0.0.1) that records the Host and X-Forwarded-Proto it
// gets; caFile is its certificate as PEM.
func tlsUpstream(t *testing.T) (srv *httptest.Server, caFile string, seen chan http.Header) {
	t.Helper()
	seen = make(chan http.Header, 10)
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, caFile, seen
}

// serveProxy runs a proxy with flags; with cert and key it serves TLS.
func serveProxy(t *testing.T, flags map[string]string, cert, key string) string {
	t.Helper()
	mgr, err := config.NewManager(config.Options{Flags: flags}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Options{Config: mgr, TLS: cert != ""})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if cert != "" {
			srv.ServeTLS(ln, cert, key)
		} else {
			srv.Serve(ln)
		}
	}()
	// Not t.Context(): it is cancelled before cleanups run, and Shutdown
	// would then return before closing a keep-alive connection that has
	// not yet turned idle.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// An HTTPS upstream is reached with upstream.ca_file; without it the
// system roots do not know the test CA and the client gets a 502 (never a
// Go error text); upstream.server_name selects the name checked.
func TestTLS_Upstream_CAFileAndServerName(t *testing.T) {
	up, ca, seen := tlsUpstream(t)
	client := &http.Client{Timeout: 10 * time.Second}
	f := func(flags map[string]string, wantStatus int) {
		t.Helper()
		flags["upstream.api"] = up.URL
		flags["upstream.login"] = up.URL
		addr := serveProxy(t, flags, "", "")
		status, body := get(t, client, "http://"+addr+"/api/v2/users/me")
		if status != wantStatus {
			t.Errorf("%v: status = %d, want %d: %s", flags, status, wantStatus, body)
		}
		if strings.Contains(body, "x509") || strings.Contains(body, "certificate") {
			t.Errorf("%v: body leaks the TLS error: %s", flags, body)
		}
	}
	f(map[string]string{"upstream.ca_file": ca}, 200)
	if h := <-seen; h.Get("Host") != strings.TrimPrefix(up.URL, "https://") {
		t.Errorf("Host = %q, want the upstream's %q", h.Get("Host"), strings.TrimPrefix(up.URL, "https://"))
	}
	f(map[string]string{"upstream.ca_file": ca, "upstream.server_name": "example.com"}, 200)
	<-seen
	f(map[string]string{"upstream.ca_file": ca, "upstream.server_name": "elsewhere.test"}, 502)
	f(map[string]string{}, 502)
}

// With tls.cert_file and tls.key_file the listener serves HTTPS, and the
// upstream is told the client came over https.
func TestTLS_Listener_ServesHTTPS(t *testing.T) {
	up, ca, seen := tlsUpstream(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c := up.TLS.Certificates[0]
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	addr := serveProxy(t, map[string]string{"upstream.api": up.URL, "upstream.login": up.URL, "upstream.ca_file": ca,
		"tls.cert_file": cert, "tls.key_file": key}, cert, key)
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if status, body := get(t, client, "https://"+addr+"/api/v2/users/me"); status != 200 {
		t.Fatalf("status = %d: %s", status, body)
	}
	if h := <-seen; h.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", h.Get("X-Forwarded-Proto"))
	}
	// Plain HTTP to the TLS listener does not get through.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/api/v2/users/me"); err == nil {
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS listener got 200")
		}
		resp.Body.Close()
	}
}

// A pooled upstream connection that the upstream closes is replaced by one
// that resumes the TLS session (the client keeps a session cache): a full
// handshake only for the first.
func TestTLS_Upstream_ResumesSessions(t *testing.T) {
	var mu sync.Mutex
	var handshakes, resumed int
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer closes the connection: each request needs a new one.
		w.Header().Set("Connection", "close")
		io.WriteString(w, `{"ok":true}`)
	}))
	up.TLS = &tls.Config{VerifyConnection: func(cs tls.ConnectionState) error {
		mu.Lock()
		defer mu.Unlock()
		handshakes++
		if cs.DidResume {
			resumed++
		}
		return nil
	}}
	up.StartTLS()
	t.Cleanup(up.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serveProxy(t, map[string]string{"upstream.api": up.URL, "upstream.login": up.URL, "upstream.ca_file": caFile}, "", "")
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 4 {
		if status, body := get(t, client, "http://"+addr+"/api/v2/users/me"); status != 200 {
			t.Fatalf("request %d: status %d: %s", i, status, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// TLS 1.3 sends the ticket after the handshake: the second connection
	// may still be a full one if the first closed before it arrived.
	if handshakes != 4 || resumed < 2 {
		t.Errorf("4 requests on 4 connections: %d handshakes, %d resumed; want 4 and at least 2 resumed", handshakes, resumed)
	}
}
