package main

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"
)

// drainLag stands for the time a load balancer or kube-proxy takes to act
// on readiness: the clients go on sending that long after they see
// /readyz false.
const drainLag = time.Second

// drain sends SIGTERM to callfix (default server.shutdown_delay and
// server.shutdown_grace) under steady load from clients that stop only
// drainLag after /readyz turns false, half of them on keep-alive
// connections and half on a new connection per request: no request may
// fail, some must be served after readiness turned false, and callfix
// must exit 0 after the delay.
func (c *campaign) drain(ctx context.Context) error {
	const name = "SIGTERM under load"
	up, err := startUpstream(upstreamOptions{})
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startCallfixDefaultDrain(ctx, c.bin, up.url, "--set", "audit.enabled=false")
	if err != nil {
		return err
	}
	defer p.stop()

	l := startLoad(ctx, p.addr, "drain", 8)
	time.Sleep(2 * time.Second) // steady load
	before := l.sent.Load()
	term := time.Now()
	p.signal(syscall.SIGTERM)
	var notReadyAfter time.Duration
	for time.Since(term) < 10*time.Second && ctx.Err() == nil {
		if !p.ready() {
			notReadyAfter = time.Since(term)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.late.Store(true)
	time.Sleep(drainLag)
	failures := l.finish()
	code := p.wait(60 * time.Second)
	exitAfter := time.Since(term)
	delay, grace, closedAt := p.shutdownTimes()
	if err := ctx.Err(); err != nil {
		return err
	}
	d, _ := time.ParseDuration(delay)
	g, _ := time.ParseDuration(grace)

	r := c.rep
	r.info(name, "server.shutdown_delay / server.shutdown_grace (defaults)", delay+" / "+grace)
	r.info(name, "requests before SIGTERM / after ("+strconv.Itoa(8)+" clients, half on keep-alive connections)", fmt.Sprintf("%s / %s", thousands(before), thousands(l.sent.Load()-before)))
	r.check(name, "/readyz false after SIGTERM", notReadyAfter, "≤ 1s", notReadyAfter > 0 && notReadyAfter <= time.Second)
	r.check(name, "requests that failed (clients stop "+drainLag.String()+" after /readyz turns false)", failures.String(), "none", failures.total() == 0)
	r.check(name, "requests served after /readyz turned false", l.servedLate.Load(), "> 0 (still serving)", l.servedLate.Load() > 0)
	r.check(name, "keep-alive answers with Connection: close while draining", l.closeAsked.Load(), "> 0 (clients asked to reconnect)", l.closeAsked.Load() > 0)
	listener := time.Duration(0)
	if !closedAt.IsZero() {
		listener = closedAt.Sub(term)
	}
	r.check(name, "listener closed after SIGTERM", listener, "≥ the delay ("+delay+")", d > 0 && listener >= d)
	r.check(name, "exit code", code, "0", code == 0)
	r.check(name, "exit after SIGTERM", exitAfter, "≤ delay + grace", code != -1 && exitAfter <= d+g)
	return nil
}
