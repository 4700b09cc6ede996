package testsupport

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// Serve is a running `callfix serve` whose log (its standard error) is
// read line by line: the part that the tests of cmd/callfix, the e2e rig
// and the fault campaign share.
type Serve struct {
	cmd     *exec.Cmd
	serving chan struct{}
	exited  chan struct{}
	// listen and admin are set before serving is closed; err and code
	// before exited is.
	listen, admin string
	err           error
	code          int
}

// StartServe starts cmd, a `callfix serve` set up by the caller (its
// environment: usually CleanEnv's), and reads what it logs: every line
// goes to onLine (which must not keep it: the bytes are reused), and the
// addresses of the "callfix serving" record to Serving. Reading goes on
// until the process exits, so that it never blocks on a full pipe.
func StartServe(cmd *exec.Cmd, onLine func(line []byte)) (*Serve, error) {
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Serve{cmd: cmd, serving: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			if onLine != nil {
				onLine(line)
			}
			if sent {
				continue
			}
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
				Admin  string `json:"admin_listen"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "callfix serving" && rec.Listen != "" {
				s.listen, s.admin = rec.Listen, rec.Admin
				close(s.serving)
				sent = true
			}
		}
		io.Copy(io.Discard, pipe)
		s.err = cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(s.err, &ee):
			s.code = ee.ExitCode()
		case s.err != nil:
			s.code = -1
		}
		close(s.exited)
	}()
	return s, nil
}

// ErrNotServing is Serving's error when the process did not log that it
// serves in time.
var ErrNotServing = errors.New(`did not log "callfix serving" in time`)

// Serving waits up to d (or until done is closed, when it is not nil) for
// the "callfix serving" record and returns its listen and admin
// addresses. The error says when the process exited first, or
// ErrNotServing.
func (s *Serve) Serving(d time.Duration, done <-chan struct{}) (listen, admin string, err error) {
	select {
	case <-s.serving:
		return s.listen, s.admin, nil
	case <-s.exited:
		return "", "", fmt.Errorf("exited with %d before serving", s.code)
	case <-time.After(d):
	case <-done:
	}
	return "", "", ErrNotServing
}

// Exited is closed once the process has exited.
func (s *Serve) Exited() <-chan struct{} { return s.exited }

// Running reports whether the process has not exited.
func (s *Serve) Running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Err is what waiting for the process returned, once Exited is closed.
func (s *Serve) Err() error { <-s.exited; return s.err }

// Wait waits up to d for the exit and returns the exit code, or -1 when
// the process is still running.
func (s *Serve) Wait(d time.Duration) int {
	select {
	case <-s.exited:
		return s.code
	case <-time.After(d):
		return -1
	}
}

// Kill kills the process unless it has exited, and waits for the exit.
func (s *Serve) Kill() {
	if s.Running() {
		s.cmd.Process.Kill()
	}
	<-s.exited
}
