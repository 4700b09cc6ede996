package proxy_test

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Over TLS too: a pooled connection the upstream closed while idle is
// replaced before use, and a GET whose reused connection is closed as it
// is sent goes out once more on a new connection (with its own handshake).
func TestTLS_StaleConnectionReplaced_AndGETRetried(t *testing.T) {
	var mu sync.Mutex
	perConn := map[string]int{}
	var total int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		perConn[r.RemoteAddr]++
		n := perConn[r.RemoteAddr]
		total++
		mu.Unlock()
		if r.URL.Path == "/api/v2/closes-reused" && n > 1 {
			// The request arrived on a reused connection: close it unanswered.
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serveProxy(t, map[string]string{"upstream.api": srv.URL, "upstream.login": srv.URL, "upstream.ca_file": caFile}, "", "")
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	if code, body := get(t, client, "http://"+addr+"/api/v2/users/me"); code != 200 {
		t.Fatalf("first GET: %d %s", code, body)
	}
	srv.CloseClientConnections() // the pooled connection is now stale
	if code, body := get(t, client, "http://"+addr+"/api/v2/users/me"); code != 200 {
		t.Errorf("GET after the upstream closed the pooled connection: %d %s, want 200", code, body)
	}
	if code, body := get(t, client, "http://"+addr+"/api/v2/closes-reused"); code != 200 {
		t.Errorf("GET whose reused connection was closed unanswered: %d %s, want 200 after one retry", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if total != 4 || len(perConn) != 3 {
		t.Errorf("upstream saw %d requests on %d connections, want 4 on 3 (the retry on a new one)", total, len(perConn))
	}
}
