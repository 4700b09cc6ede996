package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// soakWorkers is how many clients send at once during the soak.
const soakWorkers = 16

// soakSample is callfix's goroutine count (go_goroutines) and resident
// memory at one moment.
type soakSample struct {
	goroutines int
	rss        int64
}

func (p *callfixProc) sample() (soakSample, error) {
	m, err := p.metrics()
	if err != nil {
		return soakSample{}, err
	}
	s := soakSample{goroutines: int(m["go_goroutines"]), rss: p.rss()}
	if s.rss == 0 {
		s.rss = int64(m["process_resident_memory_bytes"])
	}
	return s, nil
}

// soakMix picks the next request of a soak client: small GETs, call
// POSTs (rewritten and audited), streamed downloads and uploads, and
// POSTs the upstream resets (502).
func soakMix(rng *rand.Rand, id string) (request, string) {
	switch x := rng.IntN(100); {
	case x < 45:
		return getRequest().marked(id, ""), "200"
	case x < 75:
		return callRequest().marked(id, ""), "200"
	case x < 85:
		r := getRequest()
		r.path = "/api/v2/downloads/chaos"
		r.header = append(r.header, [2]string{hdrSize, strconv.Itoa(256 << 10)})
		return r.marked(id, ""), "200"
	case x < 95:
		return request{method: "PUT", path: "/api/v2/blobs/chaos", header: [][2]string{{"Content-Type", "application/octet-stream"}},
			body: make([]byte, 128<<10)}.marked(id, ""), "200"
	default:
		r := callRequest()
		r.path = "/api/v2/analytics/conversations/details/query"
		return r.marked(id, faultResetAfterBody), "502"
	}
}

// soak runs a steady mixed load for c.soak and samples callfix's
// goroutines and resident memory at the start (after a tenth of the run),
// the middle and the end: neither may grow beyond a bound, and once the
// load has stopped the goroutines return to their idle count.
func (c *campaign) soak(ctx context.Context) error {
	const name = "soak"
	up, err := startUpstream(upstreamOptions{})
	if err != nil {
		return err
	}
	defer up.Close()
	// The audit log stays on (to a pipe), as in production.
	p, err := startCallfix(ctx, c.bin, up.url)
	if err != nil {
		return err
	}
	defer p.stop()
	idle0, err := p.sample()
	if err != nil {
		return err
	}

	var stop atomic.Bool
	var sent, unexpected, noAnswer atomic.Int64
	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.seed, uint64(200+w)))
			cl := newClient(p.addr, true)
			defer cl.Close()
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				if w%2 == 1 && i%20 == 0 {
					cl.Close() // half the clients also open new connections
				}
				req, want := soakMix(rng, fmt.Sprintf("soak-%d-%d", w, i))
				rep, err := cl.do(req)
				sent.Add(1)
				switch {
				case err != nil:
					noAnswer.Add(1)
				case strconv.Itoa(rep.status) != want:
					unexpected.Add(1)
				}
			}
		}()
	}
	var samples [3]soakSample
	var sampleErr error
	runStart := time.Now()
	for i, at := range []time.Duration{c.soakDur / 10, c.soakDur / 2, c.soakDur} {
		select {
		case <-time.After(time.Until(runStart.Add(at))):
		case <-ctx.Done():
		}
		if samples[i], err = p.sample(); err != nil && sampleErr == nil {
			sampleErr = err
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if sampleErr != nil {
		return fmt.Errorf("reading /metrics: %v", sampleErr)
	}
	// Idle again: the clients have closed their connections, and
	// fasthttp's idle workers end within 20s (idle 10s, found by a
	// cleaner that runs every 10s: MaxIdleWorkerDuration).
	var idle1 soakSample
	for deadline := time.Now().Add(25 * time.Second); ; {
		if idle1, err = p.sample(); err != nil {
			return err
		}
		if idle1.goroutines <= idle0.goroutines+10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	r := c.rep
	s0, s1, s2 := samples[0], samples[1], samples[2]
	r.info(name, fmt.Sprintf("requests in %s (%d clients: GETs, calls, 256 KiB downloads, 128 KiB uploads, 5%% upstream resets)", c.soakDur, soakWorkers), sent.Load())
	r.zero(name, "requests without an HTTP answer", int(noAnswer.Load()))
	r.zero(name, "answers other than the upstream's (or 502 for a reset)", int(unexpected.Load()))
	r.check(name, "goroutines at start / middle / end", fmt.Sprintf("%d / %d / %d", s0.goroutines, s1.goroutines, s2.goroutines),
		"end ≤ start + 50", s2.goroutines <= s0.goroutines+50)
	r.check(name, "goroutines idle before / after", fmt.Sprintf("%d / %d", idle0.goroutines, idle1.goroutines), "after ≤ before + 10", idle1.goroutines <= idle0.goroutines+10)
	r.check(name, "RSS at start / middle / end", fmt.Sprintf("%s / %s / %s", format(mib(s0.rss)), format(mib(s1.rss)), format(mib(s2.rss))),
		"end ≤ start + 32 MiB", s0.rss > 0 && s2.rss <= s0.rss+32<<20)
	r.info(name, "RSS idle before / after", fmt.Sprintf("%s / %s", format(mib(idle0.rss)), format(mib(idle1.rss))))
	return nil
}
