package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// faultWeights is how often the at-most-once scenario asks for each
// fault, in faults order (out of 100).
var faultWeights = []int{50, 10, 10, 10, 10, 10}

// planFaults picks the fault of each of n requests with a generator
// seeded by seed: the same seed gives the same plan.
func planFaults(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 1))
	total := 0
	for _, w := range faultWeights {
		total += w
	}
	plan := make([]string, n)
	for i := range plan {
		x := rng.IntN(total)
		for j, w := range faultWeights {
			if x < w {
				plan[i] = faults[j]
				break
			}
			x -= w
		}
	}
	return plan
}

// expectedStatus is the only answer a client may get for a request the
// upstream received with the fault: the upstream's own 200, or callfix's
// 502 (the upstream broke the exchange) or 504 (upstream.timeout passed).
func expectedStatus(fault string) string {
	switch fault {
	case faultAnswer, faultCloseAfterAnswer:
		return "200"
	case faultStall:
		return "504"
	}
	return "502"
}

// outcome is what the client got for one request: a status, or "no
// answer" when the connection failed without an HTTP answer.
func outcome(r reply, err error) string {
	if err != nil {
		return "no answer"
	}
	return strconv.Itoa(r.status)
}

// atMostOnce sends n call POSTs, each with its own marker and a fault
// for the upstream, and holds callfix to its promises: no request sent
// twice, no 2xx for a request that never reached the upstream, an HTTP
// answer for every request, and for each fault only the status it
// earns.
func (c *campaign) atMostOnce(ctx context.Context) error {
	const name = "at-most-once"
	const timeout = time.Second
	up, err := startUpstream(upstreamOptions{Stall: timeout + 300*time.Millisecond})
	if err != nil {
		return err
	}
	defer up.Close()
	p, err := startCallfix(ctx, c.bin, up.url, "--set", "upstream.timeout="+timeout.String(), "--set", "audit.enabled=false")
	if err != nil {
		return err
	}
	defer p.stop()

	plan := planFaults(c.seed, c.n)
	got := make([]string, c.n)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range c.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient(p.addr, true)
			defer cl.Close()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= c.n {
					return
				}
				got[i] = outcome(cl.do(callRequest().marked("amo-"+strconv.Itoa(i), plan[i])))
			}
		}()
	}
	wg.Wait()
	spent := time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}

	byFault := map[string]*counts{}
	for _, f := range faults {
		byFault[f] = &counts{}
	}
	never := &counts{}
	twoxxNever, noAnswer, unrepaired := 0, 0, 0
	for i, o := range got {
		a := up.arrival("amo-" + strconv.Itoa(i))
		if o == "no answer" {
			noAnswer++
		}
		if a.n == 0 {
			never.add(o)
			if strings.HasPrefix(o, "2") {
				twoxxNever++
			}
			continue
		}
		byFault[a.fault].add(o)
		if a.bodyRead && !strings.Contains(a.body, `"tel:+13172224567"`) {
			unrepaired++
		}
	}
	r := c.rep
	r.info(name, "call POSTs sent ("+strconv.Itoa(c.conc)+" at once, upstream.timeout 1s)", c.n)
	r.info(name, "time", spent)
	r.zero(name, "duplicates: markers the upstream received twice", up.duplicates(nil))
	r.zero(name, "2xx for a request the upstream never received", twoxxNever)
	r.zero(name, "requests without an HTTP answer", noAnswer)
	r.zero(name, "bodies that reached the upstream unrepaired", unrepaired)
	for _, f := range faults {
		want := expectedStatus(f)
		r.check(name, "statuses, fault "+f, byFault[f].String(), "all "+want, byFault[f].only(want))
	}
	r.check(name, "statuses, never reached the upstream (a close after an answer crossed the next POST on that connection)", never.String(), "all 502 (never 2xx)", never.only("502"))
	return nil
}
