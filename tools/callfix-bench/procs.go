package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"
)

// procSet owns every process the harness starts. Each child runs in its
// own process group (so that nginx's workers, wrk's threads and go
// build's compilers can be killed with it), gets SIGKILL if the harness
// dies (Pdeathsig), and is stopped by id: never by name.
type procSet struct {
	mu       sync.Mutex
	children []*child
	seen     map[int]string // every PID ever started or observed (nginx workers), for the leak check
}

type child struct {
	name string
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid after done
}

func newProcSet() *procSet { return &procSet{seen: map[int]string{}} }

// start starts cmd as a tracked child in a new process group.
func (ps *procSet) start(name string, cmd *exec.Cmd) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// If the harness is killed outright (SIGKILL, a crash), the kernel
	// kills the child. It does not reach the child's own children: nginx's
	// workers would outlive such a crash. Every other way out of the
	// harness (the end, an error, Ctrl-C) kills the whole group below.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	ps.children = append(ps.children, c)
	ps.seen[c.pid] = name
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// note records a PID the harness did not start itself but is responsible
// for (an nginx worker).
func (ps *procSet) note(pid int, name string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.seen[pid]; !ok {
		ps.seen[pid] = name
	}
}

// pids lists every PID recorded, sorted.
func (ps *procSet) pids() []recordedPID {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []recordedPID
	for pid, name := range ps.seen {
		out = append(out, recordedPID{PID: pid, Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

type recordedPID struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the child to end with sig, waits up to grace, then kills its
// whole process group. It always returns after at most grace + 2s.
func (ps *procSet) stop(c *child, sig syscall.Signal, grace time.Duration) {
	if !c.exited() {
		_ = syscall.Kill(c.pid, sig)
		select {
		case <-c.done:
		case <-time.After(grace):
		}
	}
	// The group may hold processes that outlive the leader (workers).
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	if !c.exited() {
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
		}
	}
}

// stopAll stops every child still running, newest first, gracefully
// (SIGTERM, 3s) and then by force. Safe to call more than once.
func (ps *procSet) stopAll() {
	ps.mu.Lock()
	cs := append([]*child(nil), ps.children...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps.stop(c, syscall.SIGTERM, 3*time.Second)
		}()
	}
	wg.Wait()
	// Anything noted that is still there (an nginx worker whose master
	// died first) gets SIGKILL by its own id.
	for _, p := range ps.pids() {
		if alive, _ := processAlive(p.PID); alive && isOurs(p.PID, ps) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

// killNow sends SIGKILL to every child's process group at once: the
// second Ctrl-C.
func (ps *procSet) killNow() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.children {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
}

// isOurs reports whether pid still belongs to a process group the harness
// created (a recycled PID would not).
func isOurs(pid int, ps *procSet) bool {
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, c := range ps.children {
		if st.pgrp == c.pid {
			return true
		}
	}
	return false
}

// processAlive reports whether pid is a running (not zombie) process.
func processAlive(pid int) (bool, error) {
	st, err := readStat(pid)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.state != 'Z' && st.state != 'X', nil
}

// capBuffer keeps the first max bytes written to it and counts the rest:
// a child's log, bounded however chatty the child is.
type capBuffer struct {
	mu      sync.Mutex
	max     int
	b       bytes.Buffer
	dropped int64
}

func (w *capBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - w.b.Len()
	if room > 0 {
		k := min(room, len(p))
		w.b.Write(p[:k])
		w.dropped += int64(len(p) - k)
	} else {
		w.dropped += int64(len(p))
	}
	return len(p), nil
}

func (w *capBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped > 0 {
		return w.b.String() + fmt.Sprintf("\n… (%d more bytes not kept)", w.dropped)
	}
	return w.b.String()
}

// Len is how many bytes are kept.
func (w *capBuffer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Len()
}
