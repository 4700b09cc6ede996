package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/rewrite"
)

// recWriter records every Write call.
type recWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *recWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (w *recWriter) snapshot() (n int, all string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes), string(bytes.Join(w.writes, nil))
}

// The bound at its edge: records filling the buffer exactly stay in
// memory; one byte more and the buffered batch is written first, whole,
// then the new record waits in turn.
func TestAuditBatch_BufferBoundAtItsEdge(t *testing.T) {
	w := &recWriter{}
	a := newAuditBatch(w, time.Hour, 100)
	a.Write([]byte(strings.Repeat("a", 49) + "\n"))
	a.Write([]byte(strings.Repeat("b", 49) + "\n"))
	if n, _ := w.snapshot(); n != 0 {
		t.Fatalf("100 bytes in a 100-byte buffer: %d writes, want 0", n)
	}
	a.Write([]byte("c"))
	n, all := w.snapshot()
	if n != 1 || len(all) != 100 {
		t.Fatalf("the 101st byte: %d writes of %d bytes, want 1 of 100", n, len(all))
	}
	a.Flush()
	if n, all = w.snapshot(); n != 2 || !strings.HasSuffix(all, "\nc") {
		t.Errorf("after Flush: %d writes, %q", n, all)
	}
}

// A record larger than the buffer is written on its own, after the ones
// buffered before it.
func TestAuditBatch_RecordLargerThanTheBuffer(t *testing.T) {
	w := &recWriter{}
	a := newAuditBatch(w, time.Hour, 10)
	a.Write([]byte("1234\n"))
	big := strings.Repeat("x", 25) + "\n"
	a.Write([]byte(big))
	n, all := w.snapshot()
	if n != 2 || all != "1234\n"+big {
		t.Errorf("%d writes: %q, want the buffered record then the big one", n, all)
	}
}

// Nothing is written before the interval; the batch is written once it
// has passed, in one write, without a Flush.
func TestAuditBatch_FlushInterval(t *testing.T) {
	w := &recWriter{}
	slow := newAuditBatch(w, time.Hour, 1<<10)
	slow.Write([]byte("one\n"))
	slow.Write([]byte("two\n"))
	time.Sleep(20 * time.Millisecond)
	if n, _ := w.snapshot(); n != 0 {
		t.Fatalf("an interval of 1h: %d writes after 20ms, want 0", n)
	}
	w2 := &recWriter{}
	fast := newAuditBatch(w2, 20*time.Millisecond, 1<<10)
	fast.Write([]byte("one\n"))
	fast.Write([]byte("two\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, all := w2.snapshot()
		if n == 1 && all == "one\ntwo\n" {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("an interval of 20ms: %d writes, %q; want one write of both records", n, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The timer is armed again by the next record.
	fast.Write([]byte("three\n"))
	for {
		if n, all := w2.snapshot(); n == 2 && strings.HasSuffix(all, "three\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second batch was not written by the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close writes what is buffered; after it every record is written at
// once, so a request that ends during shutdown keeps its record.
func TestAuditBatch_CloseThenWriteThrough(t *testing.T) {
	w := &recWriter{}
	a := newAuditBatch(w, time.Hour, 1<<10)
	a.Write([]byte("before\n"))
	a.Close()
	if n, all := w.snapshot(); n != 1 || all != "before\n" {
		t.Fatalf("after Close: %d writes, %q", n, all)
	}
	a.Write([]byte("after\n"))
	if n, all := w.snapshot(); n != 2 || all != "before\nafter\n" {
		t.Errorf("a record after Close: %d writes, %q; want it written at once", n, all)
	}
	a.Close() // twice is fine
}

// Many writers at once, a small buffer and a short interval: every record
// arrives whole and exactly once, each writer's in its order.
func TestAuditBatch_ConcurrentWritersLoseNothing(t *testing.T) {
	w := &recWriter{}
	a := newAuditBatch(w, time.Millisecond, 256)
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a.Write([]byte(fmt.Sprintf("w%d-%04d\n", g, i)))
			}
		}()
	}
	wg.Wait()
	a.Close()
	_, all := w.snapshot()
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != writers*each {
		t.Fatalf("%d records, want %d", len(lines), writers*each)
	}
	next := map[string]int{}
	for _, l := range lines {
		var g, i int
		if _, err := fmt.Sscanf(l, "w%d-%04d", &g, &i); err != nil {
			t.Fatalf("a torn record: %q", l)
		}
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("writer %d: record %d after %d", g, i, next[key]-1)
		}
		next[key]++
	}
}

// New batches only when both settings are positive; otherwise a record is
// one write, as before.
func TestNew_AuditBatchingFromOptions(t *testing.T) {
	f := func(interval time.Duration, size int, batched bool) {
		t.Helper()
		tel, err := New(t.Context(), Options{AuditWriter: &recWriter{},
			AuditFlushInterval: interval, AuditBufferBytes: size})
		if err != nil {
			t.Fatal(err)
		}
		if (tel.auditBatch != nil) != batched {
			t.Errorf("interval %s, buffer %d: batched = %v, want %v", interval, size, tel.auditBatch != nil, batched)
		}
		tel.CloseAudit()
	}
	f(100*time.Millisecond, 64<<10, true)
	f(0, 64<<10, false)
	f(100*time.Millisecond, 0, false)
}

// One audit record written to a pipe that another goroutine drains (as
// standard error into a log collector), one write per record against the
// batch of audit.buffer_bytes: the cost of the write(2) per intercepted
// request that batching removes.
func BenchmarkAuditRecord_ToPipe(b *testing.B) {
	r := Record{RequestID: "f68d1c19-1", Route: "POST /api/v2/conversations/calls", Mode: rewrite.ModeEnforce, Outcome: rewrite.OutcomeRewritten,
		Country: "US", Status: 200, Upstream: 200, Duration: 1234567 * time.Nanosecond,
		Changes: []rewrite.Change{{Path: "phoneNumber", Kind: rewrite.KindPhone, From: "(317) 555-0100", To: "tel:+13175550100", Country: "US"},
			{Path: "callerId", Kind: rewrite.KindPhone, From: "(317) 555-0101", To: "+13175550101", Country: "US"}}}
	for _, bc := range []struct {
		name     string
		interval time.Duration
		size     int
	}{{"unbatched", 0, 0}, {"batched-64KiB", 100 * time.Millisecond, 64 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			pr, pw, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() {
				io.Copy(io.Discard, pr)
				close(drained)
			}()
			tel, err := New(context.Background(), Options{AuditWriter: pw,
				AuditFlushInterval: bc.interval, AuditBufferBytes: bc.size})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tel.Intercepted(context.Background(), &r)
				}
			})
			b.StopTimer()
			tel.CloseAudit()
			pw.Close()
			<-drained
			pr.Close()
		})
	}
}
