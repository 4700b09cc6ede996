package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// The faults the upstream applies to a request, named by the campaign in
// its X-Chaos-Fault header (callfix forwards it like any header). The
// campaign picks them with a seeded random generator, so a run can be
// repeated.
const (
	faultAnswer           = "answer"             // 200, keep-alive
	faultResetBeforeBody  = "reset-before-body"  // headers read, then RST
	faultResetAfterBody   = "reset-after-body"   // whole request read, then RST
	faultResetMidResponse = "reset-mid-response" // status, headers and part of the body, then RST
	faultStall            = "stall"              // nothing until past upstream.timeout, then close
	faultCloseAfterAnswer = "close-after-answer" // 200 without Connection: close, then FIN
)

// faults lists every fault in table order.
var faults = []string{faultAnswer, faultResetBeforeBody, faultResetAfterBody, faultResetMidResponse, faultStall, faultCloseAfterAnswer}

const (
	hdrID    = "X-Chaos-Id"    // the request's unique marker
	hdrFault = "X-Chaos-Fault" // one of faults; none means answer
	hdrSize  = "X-Chaos-Size"  // the answer's body size, for large answers
)

// upstreamOptions configure a fault upstream. The zero value answers
// every request and keeps connections open.
type upstreamOptions struct {
	// Stall is how long a stall fault waits before it closes the
	// connection: longer than callfix's upstream.timeout.
	Stall time.Duration
	// IdleMin and IdleMax, when IdleMax > 0, make the upstream close a
	// keep-alive connection that stays idle after an answer for a random
	// time between them (as servers with short keep-alive timeouts do).
	IdleMin, IdleMax time.Duration
	// Seed seeds the idle times (each connection draws from its own
	// generator, seeded with Seed and its number).
	Seed uint64
}

// arrival is what the upstream knows of one marker.
type arrival struct {
	n        int    // times a request with this marker arrived (headers read)
	fault    string // the fault applied the first time
	method   string
	body     string // the body as received (first 512 bytes)
	bodyRead bool
}

// upstream is a fault-injecting HTTP/1.1 server on a loopback port. It
// records every marker that reached it and how often, which is how the
// campaign proves that callfix sent no request twice.
type upstream struct {
	opts upstreamOptions
	srv  *testsupport.Conns
	addr string
	url  string
	done chan struct{}

	mu    sync.Mutex
	seen  map[string]*arrival
	raced map[string]string // marker → method, of requests that crossed an idle close
	// crossing is how long after the FIN each of those arrived.
	crossing map[string]time.Duration
	closing  sync.Once

	// Idle closes, and those that a request crossed: it arrived after the
	// upstream had sent its FIN (callfix wrote it before the FIN reached
	// it); racedUnknown counts crossing bytes that were not a whole request.
	idleCloses, racedUnknown atomic.Int64
}

func startUpstream(o upstreamOptions) (*upstream, error) {
	u := &upstream{opts: o, done: make(chan struct{}),
		seen: map[string]*arrival{}, raced: map[string]string{}, crossing: map[string]time.Duration{}}
	srv, err := testsupport.ListenConns(u.serve)
	if err != nil {
		return nil, err
	}
	u.srv, u.addr, u.url = srv, srv.Addr, "http://"+srv.Addr
	return u, nil
}

// Close stops the upstream and waits for its connections to end.
func (u *upstream) Close() {
	u.closing.Do(func() {
		close(u.done)
		u.srv.Close()
	})
}

// arrivals returns a copy of the record of marker id.
func (u *upstream) arrival(id string) arrival {
	u.mu.Lock()
	defer u.mu.Unlock()
	if a := u.seen[id]; a != nil {
		return *a
	}
	return arrival{}
}

// duplicates counts markers that arrived more than once, among those
// for which keep returns true (nil: all).
func (u *upstream) duplicates(keep func(id string) bool) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for id, a := range u.seen {
		if a.n > 1 && (keep == nil || keep(id)) {
			n++
		}
	}
	return n
}

// racedMethod returns the method of the request with marker id that
// crossed an idle close, or "".
func (u *upstream) racedMethod(id string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.raced[id]
}

// crossedAfter returns how long after the upstream's FIN the request with
// marker id arrived, if it crossed an idle close.
func (u *upstream) crossedAfter(id string) (time.Duration, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.crossing[id]
	return d, ok
}

// racedCount counts the requests of method that crossed an idle close.
func (u *upstream) racedCount(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, m := range u.raced {
		if m == method {
			n++
		}
	}
	return n
}

func (u *upstream) serve(c net.Conn, n int) {
	rng := rand.New(rand.NewPCG(u.opts.Seed, uint64(n)))
	br := bufio.NewReaderSize(c, 32<<10)
	for first := true; ; first = false {
		wait, idle := 30*time.Second, false
		if !first && u.opts.IdleMax > 0 {
			idle = true
			wait = u.opts.IdleMin
			if span := u.opts.IdleMax - u.opts.IdleMin; span > 0 {
				wait += time.Duration(rng.Int64N(int64(span) + 1))
			}
		}
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			if idle && errors.Is(err, os.ErrDeadlineExceeded) {
				u.idleClose(c, br)
			}
			return
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if !u.handle(c, req) {
			return
		}
	}
}

// idleClose closes an idle connection as a server's keep-alive timeout
// does, and tells whether a request crossed the close: the FIN is sent
// first (half-close), and whatever arrives in the next 200ms was written
// by callfix before the FIN reached it.
func (u *upstream) idleClose(c net.Conn, br *bufio.Reader) {
	u.idleCloses.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	fin := time.Now()
	c.SetReadDeadline(fin.Add(200 * time.Millisecond))
	if _, err := br.Peek(1); err != nil {
		return
	}
	after := time.Since(fin)
	req, err := http.ReadRequest(br)
	if err != nil {
		u.racedUnknown.Add(1)
		return
	}
	u.mu.Lock()
	u.raced[req.Header.Get(hdrID)] = req.Method
	u.crossing[req.Header.Get(hdrID)] = after
	u.mu.Unlock()
}

// handle applies the request's fault; it returns whether the connection
// stays open for another request.
func (u *upstream) handle(c net.Conn, req *http.Request) bool {
	id, fault := req.Header.Get(hdrID), req.Header.Get(hdrFault)
	if fault == "" {
		fault = faultAnswer
	}
	u.mu.Lock()
	a := u.seen[id]
	if a == nil {
		a = &arrival{fault: fault, method: req.Method}
		u.seen[id] = a
	}
	a.n++
	u.mu.Unlock()
	if fault == faultResetBeforeBody {
		reset(c)
		return false
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		return false
	}
	u.mu.Lock()
	if !a.bodyRead {
		a.body, a.bodyRead = string(body[:min(len(body), 512)]), true
	}
	u.mu.Unlock()
	switch fault {
	case faultResetAfterBody:
		reset(c)
		return false
	case faultResetMidResponse:
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":\"")
		reset(c)
		return false
	case faultStall:
		select {
		case <-time.After(u.opts.Stall):
		case <-u.done:
		}
		return false
	}
	if err := writeAnswer(c, id, req.Header.Get(hdrSize)); err != nil {
		return false
	}
	return fault != faultCloseAfterAnswer && !req.Close
}

// writeAnswer writes a 200 with a small JSON body naming the marker, or
// with size bytes of a pattern.
func writeAnswer(c net.Conn, id, size string) error {
	bw := bufio.NewWriterSize(c, 32<<10)
	if n, err := strconv.Atoi(size); err == nil && n > 0 {
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", n)
		chunk := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", 1024))
		for left := n; left > 0; left -= len(chunk) {
			if _, err := bw.Write(chunk[:min(left, len(chunk))]); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	body := `{"id":"` + id + `"}`
	fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return bw.Flush()
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
