package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func testUpstream(t *testing.T, o upstreamOptions) *upstream {
	t.Helper()
	u, err := startUpstream(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

// Each fault does to the exchange what its name says, and the upstream
// records what arrived.
func TestUpstream_Faults(t *testing.T) {
	u := testUpstream(t, upstreamOptions{Stall: 300 * time.Millisecond})
	f := func(fault string, wantStatus int, wantErr, wantBodyRead bool) {
		t.Helper()
		cl := newClient(u.addr, true)
		defer cl.Close()
		id := "t-" + fault
		start := time.Now()
		rep, err := cl.do(callRequest().marked(id, fault))
		if (err != nil) != wantErr || (err == nil && rep.status != wantStatus) {
			t.Errorf("%s: %d, %v; want status %d, error %v", fault, rep.status, err, wantStatus, wantErr)
		}
		if fault == faultStall && time.Since(start) < 300*time.Millisecond {
			t.Errorf("%s: over after %s, want the stall of 300ms first", fault, time.Since(start))
		}
		a := u.arrival(id)
		if a.n != 1 || a.fault != fault || a.method != "POST" || a.bodyRead != wantBodyRead {
			t.Errorf("%s: arrival %+v, want once, with the fault, POST, body read %v", fault, a, wantBodyRead)
		}
		if wantBodyRead && a.body != `{"phoneNumber":"(317) 222-4567"}` {
			t.Errorf("%s: recorded body %q", fault, a.body)
		}
		if !wantErr && !strings.Contains(string(rep.body), id) {
			t.Errorf("%s: answer %q does not name the marker", fault, rep.body)
		}
	}
	f(faultAnswer, 200, false, true)
	f(faultCloseAfterAnswer, 200, false, true)
	f(faultResetBeforeBody, 0, true, false)
	f(faultResetAfterBody, 0, true, true)
	f(faultResetMidResponse, 0, true, true)
	f(faultStall, 0, true, true)
	if n := u.duplicates(nil); n != 0 {
		t.Errorf("duplicates = %d, want 0", n)
	}
}

// answer keeps the connection open; close-after-answer closes it after a
// complete answer, without saying so (no Connection: close).
func TestUpstream_CloseAfterAnswer_ClosesTheConnection(t *testing.T) {
	u := testUpstream(t, upstreamOptions{})
	c, err := net.Dial("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	send := func(fault string) string {
		c.Write(getRequest().marked("c-"+fault, fault).bytes(true))
		head, _ := br.ReadString('\n')
		return head
	}
	if h := send(faultAnswer); !strings.HasPrefix(h, "HTTP/1.1 200") {
		t.Fatalf("answer: %q", h)
	}
	for l, _ := br.ReadString('\n'); l != "\r\n"; l, _ = br.ReadString('\n') {
		if strings.HasPrefix(strings.ToLower(l), "connection:") {
			t.Errorf("answer has %q", l)
		}
	}
	br.Discard(len(`{"id":"c-answer"}`))
	if h := send(faultCloseAfterAnswer); !strings.HasPrefix(h, "HTTP/1.1 200") {
		t.Fatalf("close-after-answer: %q", h)
	}
	if rest, err := io.ReadAll(br); err != nil || !strings.HasSuffix(string(rest), `{"id":"c-close-after-answer"}`) {
		t.Errorf("after close-after-answer: %q, %v; want the body, then the end of the connection", rest, err)
	}
}

// With an idle close, a connection idle past IdleMax is closed and
// counted; a request that arrives after the FIN is recorded as having
// crossed it, and is not served.
func TestUpstream_IdleClose_CountsAndTellsCrossings(t *testing.T) {
	u := testUpstream(t, upstreamOptions{IdleMin: 20 * time.Millisecond, IdleMax: 20 * time.Millisecond})
	cl := newClient(u.addr, true)
	defer cl.Close()
	if rep, err := cl.do(getRequest().marked("i-1", "")); err != nil || rep.status != 200 {
		t.Fatalf("first request: %v, %v", rep, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := u.idleCloses.Load(); n != 1 {
		t.Errorf("idle closes = %d after 100ms idle, want 1", n)
	}
	// The upstream's FIN has arrived: the request crosses it.
	if _, err := cl.do(getRequest().marked("i-2", "")); err == nil {
		t.Errorf("a request on the closed connection got an answer")
	}
	time.Sleep(50 * time.Millisecond)
	if m := u.racedMethod("i-2"); m != "GET" {
		t.Errorf("racedMethod(i-2) = %q, want GET", m)
	}
	if d, ok := u.crossedAfter("i-2"); !ok || d < 50*time.Millisecond {
		t.Errorf("crossedAfter(i-2) = %s, %v; want about 80ms after the FIN", d, ok)
	}
	if a := u.arrival("i-2"); a.n != 0 {
		t.Errorf("the crossing request was served (%+v)", a)
	}
	if n := u.racedCount("GET"); n != 1 {
		t.Errorf("racedCount(GET) = %d, want 1", n)
	}
	// A new connection is served; its first request waits as long as it
	// needs (only idleness after an answer is cut short).
	k := newClient(u.addr, true)
	defer k.Close()
	if rep, err := k.do(getRequest().marked("i-3", "")); err != nil || rep.status != 200 {
		t.Errorf("a new connection: %v, %v; want 200", rep, err)
	}
}

// A marker that arrives twice is a duplicate.
func TestUpstream_Duplicates(t *testing.T) {
	u := testUpstream(t, upstreamOptions{})
	cl := newClient(u.addr, true)
	defer cl.Close()
	for _, id := range []string{"d-1", "d-2", "d-2", "e-1", "e-1"} {
		if _, err := cl.do(getRequest().marked(id, "")); err != nil {
			t.Fatal(err)
		}
	}
	if n := u.duplicates(nil); n != 2 {
		t.Errorf("duplicates = %d, want 2", n)
	}
	if n := u.duplicates(func(id string) bool { return strings.HasPrefix(id, "d-") }); n != 1 {
		t.Errorf("duplicates among d-* = %d, want 1", n)
	}
}

// A large answer has the size asked for.
func TestUpstream_SizedAnswer(t *testing.T) {
	u := testUpstream(t, upstreamOptions{})
	c, err := net.Dial("tcp", u.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := getRequest()
	r.header = append(r.header, [2]string{hdrSize, "100000"})
	c.Write(r.bytes(false))
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "Content-Length: 100000\r\n") || len(b)-strings.Index(string(b), "\r\n\r\n")-4 != 100000 {
		t.Errorf("sized answer: %d bytes: %.120q", len(b), b)
	}
}
