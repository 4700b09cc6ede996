package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

type example struct {
	title, body string
	// header, when set, is one more request header (Name: value).
	header string
}

var examples = []example{
	{"seed-style to/from", `{"to":{"to":"13175551234"},"from":{"from":"2ca3b6e8-0000-4000-8000-000000000001"}}`, ""},
	{"CreateCallRequest, national numbers", `{"phoneNumber":"(317) 555-0100","callerId":"317.555.0199","callerIdName":"Support"}`, ""},
	{"raw user IDs in participants", `{"participants":[{"address":"2CA3B6E8-0000-4000-8000-000000000001"},{"address":"+44 20 7946 0958"}]}`, ""},
	{"international prefix and extension", `{"phoneNumber":"011 44 20 7946 0958 ext. 12"}`, ""},
	{"tel: URI with separators", `{"phoneNumber":"tel:317-555-0100"}`, ""},
	{"already canonical: nothing to do", `{"phoneNumber":"tel:+13175550100","callerId":"+13175550199"}`, ""},
	{"emergency number: forwarded as sent, in every mode", `{"phoneNumber":"911"}`, ""},
	{"extension (Genesys's Extension number plan): forwarded as sent", `{"phoneNumber":"tel:30005"}`, ""},
	{"wrong country: a Sydney number is not valid in the US, so it is not moved there", `{"phoneNumber":"(02) 9374 4000"}`, ""},
	{"the same number with X-Callfix-Country: AU", `{"phoneNumber":"(02) 9374 4000"}`, "X-Callfix-Country: AU"},
	{"unfixable: enforce mode answers 400", `{"phoneNumber":"1-800-FLOWERS"}`, ""},
}

func main() {
	bin := flag.String("callfix", "bin/callfix", "the callfix binary to run")
	flag.Parse()
	if err := run(*bin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "callfix-demo: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string, out io.Writer) error {
	up, err := upstreamtest.Listen(upstreamtest.OK)
	if err != nil {
		return err
	}
	defer up.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream-api", up.URL, "--upstream-login", up.URL,
		// Nothing routes to the demo by readiness: stop at once.
		"--set", "server.shutdown_delay=0")
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s (run make build first): %w", bin, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	lines := bufio.NewScanner(stderr)
	addr, err := listenAddr(lines)
	if err != nil {
		return err
	}
	audits := newAuditLog()
	go audits.read(lines)

	fmt.Fprintf(out, "callfix on http://%s in front of a recording upstream at %s (region us-east-1 defaults, mode enforce)\n\n", addr, up.URL)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, ex := range examples {
		before := up.Count()
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v2/conversations/calls", strings.NewReader(ex.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer demo-token")
		id := fmt.Sprintf("demo-%d", i+1)
		req.Header.Set("X-Request-Id", id)
		if name, value, ok := strings.Cut(ex.header, ":"); ok {
			req.Header.Set(name, strings.TrimSpace(value))
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("example %d: %w", i+1, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(out, "%d. %s\n", i+1, ex.title)
		if ex.header != "" {
			fmt.Fprintf(out, "   client sent:       %s (with %s)\n", ex.body, ex.header)
		} else {
			fmt.Fprintf(out, "   client sent:       %s\n", ex.body)
		}
		if up.Count() > before {
			got := up.Requests()[before]
			fmt.Fprintf(out, "   upstream received: %s\n", got.Body)
		} else {
			fmt.Fprintf(out, "   upstream received: nothing\n")
		}
		fmt.Fprintf(out, "   status:            %d %s\n", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode >= 400 {
			var e struct{ Message, Code string }
			if json.Unmarshal(answer, &e) == nil {
				fmt.Fprintf(out, "   callfix answered:  %s: %s\n", e.Code, e.Message)
			}
		}
		if rec, ok := audits.wait(id, 2*time.Second); ok {
			for _, k := range rec.Kept {
				fmt.Fprintf(out, "   kept as sent:      %s (%s)\n", k.Field, k.Reason)
			}
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "Try your own body without a network: echo '{\"phoneNumber\":\"(317) 555-1234\"}' | bin/callfix check")
	return nil
}

// auditRecord is what the demo shows of an audit record (docs/AUDIT.md).
type auditRecord struct {
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
	Kept      []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"kept"`
}

// auditLog collects callfix's audit records, written to its standard error
// after each answer, by request ID.
type auditLog struct {
	mu   sync.Mutex
	recs map[string]auditRecord
	more chan struct{}
}

func newAuditLog() *auditLog {
	return &auditLog{recs: map[string]auditRecord{}, more: make(chan struct{}, 1)}
}

func (a *auditLog) read(sc *bufio.Scanner) {
	for sc.Scan() {
		var r auditRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Msg != "callfix.audit" {
			continue
		}
		a.mu.Lock()
		a.recs[r.RequestID] = r
		a.mu.Unlock()
		select {
		case a.more <- struct{}{}:
		default:
		}
	}
}

// wait returns the record of request id, waiting up to d for it.
func (a *auditLog) wait(id string, d time.Duration) (auditRecord, bool) {
	deadline := time.After(d)
	for {
		a.mu.Lock()
		r, ok := a.recs[id]
		a.mu.Unlock()
		if ok {
			return r, true
		}
		select {
		case <-a.more:
		case <-deadline:
			return auditRecord{}, false
		}
	}
}

// listenAddr reads callfix's log until the "callfix serving" line.
func listenAddr(sc *bufio.Scanner) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for sc.Scan() && time.Now().Before(deadline) {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"callfix serving"`)) {
			continue
		}
		var l struct{ Listen string }
		if err := json.Unmarshal(line, &l); err != nil || l.Listen == "" {
			return "", fmt.Errorf("cannot read the listen address from %q", line)
		}
		return l.Listen, nil
	}
	return "", errors.New("callfix did not start (no \"callfix serving\" log line)")
}

// cleanEnv drops CALLFIX_* variables so the demo shows the defaults.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLFIX_") {
			env = append(env, kv)
		}
	}
	return env
}
