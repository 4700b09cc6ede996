package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// staleWorkers is how many clients send at once in the stale scenario;
// each pauses 0–30ms between requests, so that callfix's pooled
// connections sit idle for times the upstream's 1–40ms close overlaps.
const staleWorkers = 8

// stale runs GETs, then call POSTs, against an upstream that closes each
// keep-alive connection after a random 1–40ms of idleness. A GET must
// never fail: callfix checks every pooled connection before writing to it
// and sends a GET that crossed a close once more on a new connection. A
// POST is never sent again: it may fail only when the upstream's close
// crossed it (the upstream saw it arrive after its FIN).
func (c *campaign) stale(ctx context.Context) error {
	const name = "stale keep-alive"
	up, err := startUpstream(upstreamOptions{IdleMin: time.Millisecond, IdleMax: 40 * time.Millisecond, Seed: c.seed})
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startCallfix(ctx, c.bin, up.url, "--set", "audit.enabled=false")
	if err != nil {
		return err
	}
	defer p.stop()

	// phase sends n requests and returns each one's outcome by marker.
	phase := func(prefix string, mk func() request, n int) (map[string]string, int64, time.Duration) {
		closes0 := up.idleCloses.Load()
		out := make([]string, n)
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := range staleWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(c.seed, uint64(100+w)))
				cl := newClient(p.addr, true)
				defer cl.Close()
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					out[i] = outcome(cl.do(mk().marked(prefix+strconv.Itoa(i), "")))
					time.Sleep(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))
				}
			}()
		}
		wg.Wait()
		m := make(map[string]string, n)
		for i, o := range out {
			m[prefix+strconv.Itoa(i)] = o
		}
		return m, up.idleCloses.Load() - closes0, time.Since(start)
	}
	r := c.rep

	gets, closes, spent := phase("stale-get-", getRequest, c.staleN)
	if err := ctx.Err(); err != nil {
		return err
	}
	failed := &counts{}
	for _, o := range gets {
		if o != "200" {
			failed.add(o)
		}
	}
	r.info(name, "GETs sent ("+strconv.Itoa(staleWorkers)+" clients, 0–30ms apart; upstream closes idle connections after 1–40ms)", c.staleN)
	r.info(name, "time", spent)
	r.check(name, "idle closes by the upstream during the GETs", closes, fmt.Sprintf("≥ %s (stale connections were met)", thousands(int64(c.staleN/20))), closes >= int64(c.staleN/20))
	r.info(name, "GETs that crossed a close (callfix resent each once, on a new connection)", up.racedCount("GET"))
	r.check(name, "GETs that failed", failed.total(), "0", failed.total() == 0)
	if failed.total() > 0 {
		r.info(name, "GET failures", failed.String())
	}
	r.zero(name, "GETs the upstream answered twice", up.duplicates(func(id string) bool { return strings.HasPrefix(id, "stale-get-") }))

	posts, closes, spent := phase("stale-post-", callRequest, c.staleN)
	if err := ctx.Err(); err != nil {
		return err
	}
	statuses := &counts{}
	unexplained, twoxxNever, late := 0, 0, 0
	var latest time.Duration
	for id, o := range posts {
		if d, ok := up.crossedAfter(id); ok && o != "200" {
			latest = max(latest, d)
			if d > time.Millisecond {
				late++
			}
		}
		statuses.add(o)
		a := up.arrival(id)
		if strings.HasPrefix(o, "2") && a.n == 0 {
			twoxxNever++
		}
		if o != "200" && (a.n > 0 || up.racedMethod(id) != "POST") {
			unexplained++
		}
	}
	unexplained = max(0, unexplained-int(up.racedUnknown.Load()))
	r.info(name, "call POSTs sent, same conditions", c.staleN)
	r.info(name, "time", spent)
	r.info(name, "idle closes by the upstream during the POSTs", closes)
	r.info(name, "POST statuses", statuses.String())
	r.info(name, "POSTs that failed because the upstream's close crossed them (502, never resent)", statuses.total()-statuses.n["200"])
	r.zero(name, "failed POSTs that no close crossed", unexplained)
	r.info(name, "of the failed POSTs, arrived more than 1ms after the upstream's FIN / the latest", fmt.Sprintf("%d / %s", late, format(latest)))
	r.zero(name, "POSTs the upstream received twice", up.duplicates(func(id string) bool { return strings.HasPrefix(id, "stale-post-") }))
	r.zero(name, "2xx for a POST the upstream never received", twoxxNever)
	return nil
}
