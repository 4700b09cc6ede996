package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// auditRecords reads the audit records (msg callfix.audit) among JSON
// lines, failing on a line that does not decode (a torn record).
func auditRecords(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line that is not a JSON record: %q: %v", line, err)
		}
		if m["msg"] == "callfix.audit" {
			out = append(out, m)
		}
	}
	return out
}

// postCalls sends n intercepted requests over 8 connections and returns
// once every one has been answered 200.
func postCalls(t *testing.T, base string, n int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int, n)
	for i := range n {
		work <- i
	}
	close(work)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				body := fmt.Sprintf(`{"phoneNumber":"(317) 555-%04d","callerId":"317 555 %04d"}`, i%10000, (i+1)%10000)
				resp, err := client.Post(base+"/api/v2/conversations/calls", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("request %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// SIGTERM right after N intercepted requests: the batched audit log holds
// all N records when callfix has exited, none torn. With a 10 s interval
// and a 16 MiB buffer nothing is written before the signal (checked), so
// every record comes from the shutdown flush.
func TestServe_SIGTERM_AuditFile_NoRecordLost(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.OK)
	const n = 300
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL,
		"--set", "audit.file="+file, "--set", "audit.flush_interval=10s", "--set", "audit.buffer_bytes=16MiB")
	postCalls(t, "http://"+p.addr(), n)
	if b, _ := os.ReadFile(file); len(b) != 0 {
		t.Fatalf("%d bytes written before SIGTERM with a 10s interval: the records are not batched", len(b))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit = %d, want 0:\n%s", code, p.stderr.String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(auditRecords(t, string(b))); got != n {
		t.Errorf("%d audit records after SIGTERM, want %d", got, n)
	}
}

// The same with the defaults (100ms, 64KiB) and the records on standard
// error, beside the log lines: the signal comes at once after the last
// answer, and all N records are there, whole, when callfix has exited.
func TestServe_SIGTERM_AuditStderr_DefaultBatching_NoRecordLost(t *testing.T) {
	up := upstreamtest.Start(t, upstreamtest.OK)
	const n = 500
	p := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream-api", up.URL, "--upstream-login", up.URL)
	postCalls(t, "http://"+p.addr(), n)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit = %d, want 0:\n%s", code, p.stderr.String())
	}
	recs := auditRecords(t, p.stderr.String())
	if len(recs) != n {
		t.Errorf("%d audit records after SIGTERM, want %d", len(recs), n)
	}
	for _, r := range recs[:1] {
		if r["outcome"] != "rewritten" {
			t.Errorf("record %v: outcome %v, want rewritten", r, r["outcome"])
		}
	}
}
