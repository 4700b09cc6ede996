package telemetry

import (
	"io"
	"sync"
	"time"
)

// auditBatch sits between the audit encoder and the audit log's writer
// (standard error or audit.file): records are copied into a bounded
// buffer and written together, at most interval after the first of them
// arrived, or at once when the next would overflow the buffer. One write
// per batch instead of one per intercepted request: at a few thousand
// requests a second that is a few writes a second instead of thousands.
//
// Records are never dropped: a record larger than the buffer is written
// on its own, in order; after Close every record is written through at
// once (a request that ends after shutdown began still gets its record).
// Only a process killed outright loses what is buffered, at most interval
// worth of records.
type auditBatch struct {
	w        io.Writer
	interval time.Duration
	limit    int

	mu     sync.Mutex // guards the fields below
	buf    []byte
	spare  []byte // the buffer of the last batch written, reused
	timer  *time.Timer
	armed  bool // the timer will flush
	closed bool // write through from now on

	// wmu orders the writes to w: it is taken while mu is still held, so
	// batches reach w in the order they were cut.
	wmu sync.Mutex
}

// newAuditBatch wraps w. The buffer is allocated when the first record
// arrives, so an idle proxy with an idle audit log holds none.
func newAuditBatch(w io.Writer, interval time.Duration, limit int) *auditBatch {
	a := &auditBatch{w: w, interval: interval, limit: limit}
	a.timer = time.AfterFunc(time.Hour, a.timerFlush)
	a.timer.Stop()
	return a
}

// Write buffers one encoded record (audit.go writes whole records, one
// per call). It never fails: errors of the underlying writer are not the
// request's business, as with the unbuffered log.
func (a *auditBatch) Write(p []byte) (int, error) {
	a.mu.Lock()
	if a.closed {
		a.writeLocked(p)
		return len(p), nil
	}
	if len(a.buf)+len(p) > a.limit && len(a.buf) > 0 {
		a.flushLocked()
		a.mu.Lock()
		if a.closed { // closed while the batch was written
			a.writeLocked(p)
			return len(p), nil
		}
	}
	if len(p) > a.limit {
		a.writeLocked(p)
		return len(p), nil
	}
	if a.buf == nil {
		a.buf = make([]byte, 0, a.limit)
	}
	a.buf = append(a.buf, p...)
	if !a.armed {
		a.armed = true
		a.timer.Reset(a.interval)
	}
	a.mu.Unlock()
	return len(p), nil
}

// writeLocked writes p on its own, after every batch cut before it. It is
// called with mu held and releases it.
func (a *auditBatch) writeLocked(p []byte) {
	a.wmu.Lock()
	a.mu.Unlock()
	_, _ = a.w.Write(p)
	a.wmu.Unlock()
}

// flushLocked cuts the batch and writes it. It is called with mu held and
// releases it; records that arrive meanwhile go into the other buffer.
func (a *auditBatch) flushLocked() {
	b := a.buf
	if len(b) == 0 {
		a.mu.Unlock()
		return
	}
	a.buf = a.spare
	a.spare = nil
	if a.buf != nil {
		a.buf = a.buf[:0]
	}
	a.wmu.Lock()
	a.mu.Unlock()
	_, _ = a.w.Write(b)
	a.wmu.Unlock()
	a.mu.Lock()
	if a.spare == nil && a.buf == nil {
		a.buf = b[:0]
	} else if a.spare == nil {
		a.spare = b[:0]
	}
	a.mu.Unlock()
}

func (a *auditBatch) timerFlush() {
	a.mu.Lock()
	a.armed = false
	a.flushLocked()
}

// Flush writes what is buffered and returns once it, and every batch cut
// before it, has been written.
func (a *auditBatch) Flush() {
	a.mu.Lock()
	b := a.buf
	a.buf = nil
	a.wmu.Lock()
	a.mu.Unlock()
	if len(b) > 0 {
		_, _ = a.w.Write(b)
	}
	a.wmu.Unlock()
}

// Close writes what is buffered; every record after it is written at
// once. Safe to call more than once.
func (a *auditBatch) Close() {
	a.mu.Lock()
	a.closed = true
	a.timer.Stop()
	a.armed = false
	a.mu.Unlock()
	a.Flush()
}
