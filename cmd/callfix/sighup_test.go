package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// openFIFO opens the named pipe path for writing once callfix has opened
// it for reading, or fails when the process has gone (never blocks on a
// pipe nobody reads). While the returned end is open and unwritten,
// callfix is held in the middle of reading its configuration.
func openFIFO(t *testing.T, path string, exited <-chan struct{}) *os.File {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return f
		}
		if !errors.Is(err, syscall.ENXIO) {
			t.Fatal(err)
		}
		select {
		case <-exited:
			t.Fatalf("callfix exited before it read its configuration")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("callfix did not open %s for reading within 10s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeFIFO writes body to the named pipe path once callfix opens it.
func writeFIFO(t *testing.T, path, body string, exited <-chan struct{}) {
	t.Helper()
	f := openFIFO(t, path, exited)
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
}

// A SIGHUP that arrives while the configuration is still being read is a
// reload once callfix runs, never the end of the process (Go's default
// action for SIGHUP). The configuration file is a named pipe, so callfix
// is held in the middle of loading it while the signal is sent.
func TestServe_SIGHUPWhileLoading_ReloadsNotDies(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "callfix.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	cmd := exec.Command(binary, "serve", "--config", fifo, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream-api", "http://127.0.0.1:9", "--upstream-login", "http://127.0.0.1:9", "--set", "server.shutdown_delay=0")
	cmd.Env = testsupport.CleanEnv(os.Environ())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// callfix has opened the pipe and waits for its bytes: the load is
	// under way (the signals were registered before it began). The
	// signal is sent then, and the file written only after it landed.
	f := openFIFO(t, fifo, exited)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := f.WriteString("mode: audit\n"); err != nil {
		select {
		case <-exited:
			t.Fatalf("callfix died (%v) of the SIGHUP sent while it was loading its configuration", waitErr)
		case <-time.After(5 * time.Second):
			t.Fatal(err)
		}
	}
	f.Close()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, want) {
					return
				}
			case <-exited:
				t.Fatalf("callfix exited (%v) before logging %q", waitErr, want)
			case <-timeout:
				t.Fatalf("no log line %q within 5s", want)
			}
		}
	}
	waitLine("callfix serving")
	// The early SIGHUP is a reload: callfix reads the pipe again.
	writeFIFO(t, fifo, "mode: rewrite\n", exited)
	waitLine(`"trigger":"sighup"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("callfix did not exit within 10s of SIGTERM")
	}
	if waitErr != nil {
		t.Errorf("callfix exited with %v, want 0", waitErr)
	}
}
