package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// TestREADME_CommandsWork runs every command in the README's code blocks,
// as a user would type it from the repository root: `callfix` is the
// built binary, a serve command is started and stopped with SIGTERM,
// a pipeline's printed output must match the lines that follow it.
// `make test` is what CI runs around this test, so it is not run here.
func TestREADME_CommandsWork(t *testing.T) {
	root, _ := filepath.Abs("../..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(string(readme))
	if len(blocks) < 3 {
		t.Fatalf("found %d code blocks in README.md, want at least 3", len(blocks))
	}
	ran := 0
	for _, b := range blocks {
		for i := 0; i < len(b); i++ {
			line := strings.TrimSpace(b[i])
			prompt := strings.HasPrefix(line, "$ ")
			line = strings.TrimPrefix(line, "$ ")
			if j := strings.Index(line, "  #"); j >= 0 {
				line = strings.TrimSpace(line[:j])
			}
			switch {
			case line == "make test" || line == "":
			case line == "make run":
				readmeServe(t, root, "make", "run", "ARGS=--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0")
				ran++
			case strings.Contains(line, "callfix serve"):
				env, args := splitEnv(line)
				args = append(args, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
				readmeServe(t, root, binary, append(args[1:], env...)...)
				ran++
			case strings.Contains(line, "callfix "):
				cmd := exec.Command("sh", "-c", strings.ReplaceAll(line, "callfix ", binary+" "))
				cmd.Dir = root
				cmd.Env = testsupport.CleanEnv(os.Environ())
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("README command %q: %v\n%s", line, err, out)
				}
				if prompt { // the lines up to the next command are its output
					var want []string
					for i+1 < len(b) && !strings.HasPrefix(strings.TrimSpace(b[i+1]), "$ ") {
						i++
						want = append(want, b[i])
					}
					if got := sortedLines(string(out)); got != sortedLines(strings.Join(want, "\n")) {
						t.Errorf("README command %q printed:\n%s\nthe README says:\n%s", line, out, strings.Join(want, "\n"))
					}
				}
				ran++
			default:
				t.Errorf("README code block has a line this test does not know how to run: %q", line)
			}
		}
	}
	if ran < 6 {
		t.Errorf("ran %d README commands, want at least 6", ran)
	}
}

func codeBlocks(md string) [][]string {
	var blocks [][]string
	var cur []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			if in {
				blocks = append(blocks, cur)
				cur = nil
			}
			in = !in
			continue
		}
		if in {
			cur = append(cur, l)
		}
	}
	return blocks
}

// splitEnv splits "A=1 B=2 callfix serve --x" into env and argv.
func splitEnv(line string) ([]string, []string) {
	var env []string
	f := strings.Fields(line)
	for len(f) > 0 && strings.Contains(f[0], "=") && !strings.HasPrefix(f[0], "-") {
		env = append(env, f[0])
		f = f[1:]
	}
	return env, f
}

// sortedLines compares outputs whose stdout and stderr interleave freely.
func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	for i := range lines {
		for j := i + 1; j < len(lines); j++ {
			if lines[j] < lines[i] {
				lines[i], lines[j] = lines[j], lines[i]
			}
		}
	}
	return strings.Join(lines, "\n")
}

// readmeServe starts a serving command (args after the program; NAME=VALUE
// items at the end are environment), waits until /readyz answers 200, then
// stops it with SIGTERM and expects exit 0.
func readmeServe(t *testing.T, dir, prog string, args ...string) {
	t.Helper()
	var env []string
	for len(args) > 0 && strings.Contains(args[len(args)-1], "=") && !strings.HasPrefix(args[len(args)-1], "-") && !strings.HasPrefix(args[len(args)-1], "ARGS=") {
		env = append(env, args[len(args)-1])
		args = args[:len(args)-1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	// Nothing routes to these by readiness: stop at once on SIGTERM.
	cmd.Env = append(append(testsupport.CleanEnv(os.Environ()), "CALLFIX_SERVER_SHUTDOWN_DELAY=0s"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	admin := ""
	sc := bufio.NewScanner(stderr)
	var log bytes.Buffer
	for sc.Scan() {
		log.Write(sc.Bytes())
		log.WriteByte('\n')
		if bytes.Contains(sc.Bytes(), []byte(`"callfix serving"`)) {
			var l struct {
				Admin string `json:"admin_listen"`
			}
			json.Unmarshal(sc.Bytes(), &l)
			admin = l.Admin
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if admin == "" {
		t.Errorf("%s %v did not start serving:\n%s", prog, args, log.String())
		return
	}
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("%s %v: /readyz = %v, %v; want 200", prog, args, resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && prog != "make" {
			t.Errorf("%s %v after SIGTERM: %v, want exit 0", prog, args, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s %v did not stop within 30s of SIGTERM", prog, args)
	}
}
