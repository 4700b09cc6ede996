package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStat is what the harness reads from /proc/PID/stat.
type procStat struct {
	state        byte
	ppid, pgrp   int
	utime, stime uint64 // clock ticks (USER_HZ, 100 on Linux)
}

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// the kernel fixes at 100 for user space whatever its internal HZ.
const userHZ = 100

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat reads the fields after the command name, which may itself hold
// spaces and parentheses: everything after the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return procStat{}, errors.New("short /proc stat")
	}
	var st procStat
	st.state = f[0][0]
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgrp, _ = strconv.Atoi(f[2])
	st.utime, _ = strconv.ParseUint(f[11], 10, 64)
	st.stime, _ = strconv.ParseUint(f[12], 10, 64)
	return st, nil
}

// memStatus returns VmRSS and VmHWM of pid in bytes.
func memStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		if name == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// resetPeak sets VmHWM back to the current RSS (writing 5 to clear_refs,
// Linux 4.0+), so that the next VmHWM is the peak of what follows.
func resetPeak(pid int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

// childrenOf lists the processes whose parent is pid (nginx's workers),
// by scanning /proc: /proc/PID/task/TID/children is not on every kernel.
func childrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(n)
		if err == nil && st.ppid == pid && st.state != 'Z' {
			out = append(out, n)
		}
	}
	return out
}

// watched is a proxy's processes as the harness measures them: callfix is
// one process; nginx is its master plus the workers found under it.
type watched struct {
	name    string
	pid     int
	workers bool // also count the children of pid
	ps      *procSet
}

// pids returns the process and, for nginx, its current workers (noting
// each worker in the procSet for the leak check).
func (w *watched) pids() []int {
	out := []int{w.pid}
	if w.workers {
		for _, c := range childrenOf(w.pid) {
			w.ps.note(c, w.name+" worker")
			out = append(out, c)
		}
	}
	return out
}

// rss sums VmRSS over the processes.
func (w *watched) rss(pids []int) int64 {
	var total int64
	for _, p := range pids {
		if r, _, err := memStatus(p); err == nil {
			total += r
		}
	}
	return total
}

// sysTicks sums stime (CPU time in the kernel) over the processes.
func (w *watched) sysTicks(pids []int) uint64 {
	var total uint64
	for _, p := range pids {
		if st, err := readStat(p); err == nil {
			total += st.stime
		}
	}
	return total
}

// cpuTicks sums utime+stime over the processes.
func (w *watched) cpuTicks(pids []int) uint64 {
	var total uint64
	for _, p := range pids {
		if st, err := readStat(p); err == nil {
			total += st.utime + st.stime
		}
	}
	return total
}

// sampler follows one proxy through one load run: RSS every 100 ms (the
// sum over nginx's processes), VmHWM after a reset for a single process
// (it catches peaks between samples), and CPU time at both ends.
type sampler struct {
	w        *watched
	pids     []int
	cpu0     uint64
	sys0     uint64
	start    time.Time
	hwmReset bool
	stopc    chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	maxRSS   int64
	startRSS int64
}

func startSampler(w *watched) *sampler {
	s := &sampler{w: w, stopc: make(chan struct{}), start: time.Now()}
	s.pids = w.pids()
	s.startRSS = w.rss(s.pids)
	s.maxRSS = s.startRSS
	if !w.workers {
		s.hwmReset = resetPeak(w.pid) == nil
	}
	s.cpu0 = w.cpuTicks(s.pids)
	s.sys0 = w.sysTicks(s.pids)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
				pids := w.pids()
				r := w.rss(pids)
				s.mu.Lock()
				s.maxRSS = max(s.maxRSS, r)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// sample is what a sampler saw.
type sample struct {
	PeakRSS  int64   // bytes: the largest of the samples and (single process) VmHWM
	StartRSS int64   // bytes, at the start
	CPUSec   float64 // CPU seconds (user+system) used during the run
	SysSec   float64 // … of them in the kernel (system calls, network stack)
	Wall     time.Duration
}

func (s *sampler) stop() sample {
	close(s.stopc)
	s.wg.Wait()
	pids := s.w.pids()
	cpu1 := s.w.cpuTicks(pids)
	sys1 := s.w.sysTicks(pids)
	out := sample{StartRSS: s.startRSS, Wall: time.Since(s.start)}
	s.mu.Lock()
	out.PeakRSS = max(s.maxRSS, s.w.rss(pids))
	s.mu.Unlock()
	if s.hwmReset {
		if _, hwm, err := memStatus(s.w.pid); err == nil {
			out.PeakRSS = max(out.PeakRSS, hwm)
		}
	} else if !s.w.workers {
		// No reset possible: VmHWM is the peak since the process started,
		// still an upper bound.
		if _, hwm, err := memStatus(s.w.pid); err == nil {
			out.PeakRSS = max(out.PeakRSS, hwm)
		}
	}
	if sys1 >= s.sys0 {
		out.SysSec = float64(sys1-s.sys0) / userHZ
	}
	if cpu1 >= s.cpu0 {
		out.CPUSec = float64(cpu1-s.cpu0) / userHZ
	}
	return out
}
