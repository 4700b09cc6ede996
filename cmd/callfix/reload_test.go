package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// The running binary follows its config file: a valid change applies
// without a restart (file watch and SIGHUP), a bad one is refused while the
// last good configuration keeps serving, and both are counted on /metrics.
func TestServe_ConfigReload_FileAndSIGHUP(t *testing.T) {
	up := upstreamtest.Start(t, nil)
	cfg := filepath.Join(t.TempDir(), "callfix.yaml")
	write := func(mode string) {
		t.Helper()
		body := "mode: " + mode + "\nupstream:\n  api: " + up.URL + "\n  login: " + up.URL + "\n"
		tmp := cfg + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfg); err != nil { // an atomic save, as editors do
			t.Fatal(err)
		}
	}
	write("enforce")
	p := startServe(t, "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	addr := p.addr()
	client := &http.Client{Timeout: 5 * time.Second}
	post := func() int {
		resp, err := client.Post("http://"+addr+"/api/v2/conversations/calls", "application/json", strings.NewReader(`{"phoneNumber":"1-800-FLOWERS"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for post() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: an unfixable call still does not get %d after 3s:\n%s", what, want, p.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := post(); got != 400 {
		t.Fatalf("enforce: status = %d, want 400", got)
	}
	write("audit")
	p.cmd.Process.Signal(syscall.SIGHUP)
	eventually("after switching to audit", 200)

	write("loud") // not a mode
	p.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if got := post(); got != 200 {
		t.Errorf("after a bad file: status = %d, want 200 (audit still running)", got)
	}
	resp, err := client.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	families, err := testsupport.ParseMetrics(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	for _, result := range []string{"success", "failure"} {
		var n float64
		for _, m := range families["callfix_config_reloads_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					n = m.GetCounter().GetValue()
				}
			}
		}
		if n == 0 {
			t.Errorf(`/metrics has no non-zero callfix_config_reloads_total{result=%q}`, result)
		}
	}
	if !strings.Contains(p.stderr.String(), "config reload rejected") || !strings.Contains(p.stderr.String(), `\"loud\" is not a mode`) {
		t.Errorf("the log does not say why the reload was rejected:\n%s", p.stderr.String())
	}
}
