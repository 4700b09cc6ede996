package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// steadyLoad is the load of the drain and reload scenarios: workers
// clients, half on keep-alive connections and half on a new connection
// per request, each sending a GET and a call request in turn (marked
// prefix-worker-i) until stop.
type steadyLoad struct {
	// late, once set, makes later answers count in servedLate.
	late atomic.Bool
	// sent counts the requests; servedLate the 200 answers to requests
	// sent after late was set; closeAsked the keep-alive answers with
	// Connection: close.
	sent, servedLate, closeAsked atomic.Int64

	stop     atomic.Bool
	mu       sync.Mutex
	failures counts // outcomes other than 200
	wg       sync.WaitGroup
}

func startLoad(ctx context.Context, addr, prefix string, workers int) *steadyLoad {
	l := &steadyLoad{}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			cl := newClient(addr, w%2 == 0)
			defer cl.Close()
			for i := 0; !l.stop.Load() && ctx.Err() == nil; i++ {
				req := getRequest()
				if i%2 == 1 {
					req = callRequest()
				}
				late := l.late.Load()
				rep, err := cl.do(req.marked(fmt.Sprintf("%s-%d-%d", prefix, w, i), ""))
				l.sent.Add(1)
				switch o := outcome(rep, err); {
				case o != "200":
					l.mu.Lock()
					l.failures.add(o)
					l.mu.Unlock()
				case late:
					l.servedLate.Add(1)
				}
				if err == nil && rep.closeAsked && w%2 == 0 {
					l.closeAsked.Add(1)
				}
			}
		}()
	}
	return l
}

// finish stops the load, waits for every client, and returns the
// failures.
func (l *steadyLoad) finish() *counts {
	l.stop.Store(true)
	l.wg.Wait()
	return &l.failures
}
