package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	slowConns    = 200
	slowReadTime = time.Second // server.read_timeout in the scenario
	latencyN     = 300
	maxConnsEdge = 64
)

// latencies sends n GETs one after the other on one keep-alive connection
// and returns their latencies, sorted, and how many failed.
func latencies(ctx context.Context, addr string, n int) ([]time.Duration, int) {
	cl := newClient(addr, true)
	defer cl.Close()
	var ds []time.Duration
	failed := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		start := time.Now()
		rep, err := cl.do(getRequest())
		if err != nil || rep.status != 200 {
			failed++
			continue
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds, failed
}

// slowHeaders opens a connection and sends a request's headers a byte
// every 100ms, never finishing them; it returns how long callfix took to
// close the connection and whether it answered 408 first.
func slowHeaders(ctx context.Context, addr string) (time.Duration, bool, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan bool, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.Copy(io.Discard, c)
		closed <- strings.Contains(line, " 408 ")
	}()
	if _, err := io.WriteString(c, "GET /api/v2/users/me HTTP/1.1\r\nHost: callfix.chaos\r\nX-Slow: "); err != nil {
		return 0, false, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case got408 := <-closed:
			return time.Since(start), got408, nil
		case <-tick.C:
			c.Write([]byte("a")) // fails once callfix has closed it
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}

// slow opens slowConns connections that send their headers a byte at a
// time: server.read_timeout must close each, while normal requests keep
// their latency. Then server.max_conns at its edge: that many connections
// are served, one more is answered 503 callfix.server.busy, and a new one
// is served once one of them closes.
func (c *campaign) slow(ctx context.Context) error {
	const name = "slow clients"
	up, err := startUpstream(upstreamOptions{})
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startCallfix(ctx, c.bin, up.url, "--set", "server.read_timeout="+slowReadTime.String(), "--set", "audit.enabled=false")
	if err != nil {
		return err
	}
	defer p.stop()

	alone, failedAlone := latencies(ctx, p.addr, latencyN)
	type result struct {
		d      time.Duration
		got408 bool
		err    error
	}
	results := make(chan result, slowConns)
	var wg sync.WaitGroup
	for range slowConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, got408, err := slowHeaders(ctx, p.addr)
			results <- result{d, got408, err}
		}()
	}
	time.Sleep(200 * time.Millisecond) // the slow connections are open
	beside, failedBeside := latencies(ctx, p.addr, latencyN)
	wg.Wait()
	close(results)
	if err := ctx.Err(); err != nil {
		return err
	}
	closedInTime, answered408, dialErrs := 0, 0, 0
	var slowest time.Duration
	bound := slowReadTime + 1500*time.Millisecond
	for res := range results {
		if res.err != nil {
			dialErrs++
			continue
		}
		slowest = max(slowest, res.d)
		if res.d <= bound {
			closedInTime++
		}
		if res.got408 {
			answered408++
		}
	}

	r := c.rep
	p50a, p99a := percentile(alone, 50), percentile(alone, 99)
	p50b, p99b := percentile(beside, 50), percentile(beside, 99)
	r.info(name, fmt.Sprintf("normal GETs alone: p50 / p99 (%d, one after the other)", latencyN), fmt.Sprintf("%s / %s", format(p50a), format(p99a)))
	r.check(name, fmt.Sprintf("normal GETs beside %d slow-header connections: p50 / p99", slowConns), fmt.Sprintf("%s / %s", format(p50b), format(p99b)),
		"p99 ≤ 3 × alone + 10ms", len(beside) > 0 && p99b <= 3*p99a+10*time.Millisecond)
	r.zero(name, "normal GETs that failed", failedAlone+failedBeside)
	r.check(name, fmt.Sprintf("slow-header connections closed by server.read_timeout (%s)", slowReadTime), fmt.Sprintf("%d of %d", closedInTime, slowConns),
		"all, within "+bound.String(), closedInTime == slowConns && dialErrs == 0)
	r.info(name, "slowest close / answered 408 first", fmt.Sprintf("%s / %d", format(slowest), answered408))
	p.stop()
	return c.maxConns(ctx, up)
}

// maxConns holds server.max_conns at its edge.
func (c *campaign) maxConns(ctx context.Context, up *upstream) error {
	const name = "slow clients"
	p, err := startCallfix(ctx, c.bin, up.url, "--set", fmt.Sprintf("server.max_conns=%d", maxConnsEdge), "--set", "audit.enabled=false")
	if err != nil {
		return err
	}
	defer p.stop()
	held := make([]*client, maxConnsEdge)
	served := 0
	for i := range held {
		held[i] = newClient(p.addr, true)
		if rep, err := held[i].do(getRequest()); err == nil && rep.status == 200 && !rep.closeAsked {
			served++
		}
	}
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	extra := newClient(p.addr, true)
	rep, err := extra.do(getRequest())
	extra.Close()
	busy := err == nil && rep.status == 503 && rep.code == "callfix.server.busy" && rep.retryAfter != ""
	extraOutcome := outcome(rep, err)
	if err == nil {
		extraOutcome += " " + rep.code
	}
	held[0].Close()
	freed := false
	deadline := time.Now().Add(3 * time.Second)
	for !freed && time.Now().Before(deadline) {
		k := newClient(p.addr, false)
		if rep, err := k.do(getRequest()); err == nil && rep.status == 200 {
			freed = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	r := c.rep
	r.check(name, fmt.Sprintf("server.max_conns=%d: connections held open and served", maxConnsEdge), served, fmt.Sprint(maxConnsEdge), served == maxConnsEdge)
	r.check(name, "one connection more", extraOutcome, "503 callfix.server.busy, Retry-After", busy)
	r.check(name, "a new connection once one of them closed", map[bool]string{true: "served", false: "not served"}[freed], "served (within 3s)", freed)
	return nil
}
