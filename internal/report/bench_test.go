package report

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeBenchLog writes about size bytes of audit records as the proxy
// writes them: 2,000 clients (a third known only by token ID), the usual
// mix of outcomes, a few problems and kept values, one other log line in
// fifty.
func writeBenchLog(w io.Writer, size int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(14, 14))
	t := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	reasons := []string{"too_short", "invalid_characters", "not_valid", "local_only", "too_long"}
	fields := []string{"phoneNumber", "to.to", "participants[0].address", "callerId", "from.from"}
	var n int64
	for i := 0; n < size; i++ {
		t = t.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		c := rng.IntN(2000)
		ident := fmt.Sprintf(`,"client_id":"client-%04d","token_id":"tok-%016x"`, c, c*7919)
		if c%3 == 0 {
			ident = fmt.Sprintf(`,"token_id":"tok-%016x"`, c*7919)
		}
		ident += fmt.Sprintf(`,"client_address":"10.%d.%d.%d","user_agent":"integration-%d/1.%d"`, c/256, c%256, rng.IntN(4), c%50, c%7)
		var line string
		switch k := rng.IntN(50); {
		case k == 0:
			line = fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"config reloaded","file":"/etc/callfix/config.yaml"}`, t.Format(time.RFC3339Nano))
		case k < 30:
			line = fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"callfix.audit","request_id":"r-%d","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","route":"POST /api/v2/conversations/calls","mode":"enforce","outcome":"rewritten","country":"US","changes":[{"country":"US","field":%q,"from":"(***) ***-**%02d","kind":"phone","to":"tel:+1********%02d"}],"problems":[],"kept":[],"status":200,"upstream_status":200,"duration_ms":12.4%s}`,
				t.Format(time.RFC3339Nano), i, fields[rng.IntN(len(fields))], i%100, i%100, ident)
		case k < 44:
			line = fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"callfix.audit","request_id":"r-%d","trace_id":"","route":"POST /api/v2/conversations/calls","mode":"enforce","outcome":"unchanged","country":"US","changes":[],"problems":[],"kept":[{"field":"phoneNumber","reason":"emergency","value":"*11"}],"status":201,"upstream_status":201,"duration_ms":30.1%s}`,
				t.Format(time.RFC3339Nano), i, ident)
		default:
			line = fmt.Sprintf(`{"time":%q,"level":"INFO","msg":"callfix.audit","request_id":"r-%d","trace_id":"","route":"POST /api/v2/conversations/calls","mode":"enforce","outcome":"rejected","country":"US","changes":[],"problems":[{"field":%q,"message":"the number is too short","reason":%q,"value":"***-**%02d"}],"kept":[],"status":400,"upstream_status":0,"duration_ms":0.3%s}`,
				t.Format(time.RFC3339Nano), i, fields[rng.IntN(len(fields))], reasons[rng.IntN(len(reasons))], i%100, ident)
		}
		m, err := bw.WriteString(line + "\n")
		if err != nil {
			return err
		}
		n += int64(m)
	}
	return bw.Flush()
}

var benchLog struct {
	once sync.Once
	path string
	size int64
	err  error
}

// BenchmarkReport_100MiB reads a 100 MiB generated log (written once per
// process) into a report, and reports the peak live heap while doing so:
// it stays flat however large the log, bounded by distinct clients and
// reasons.
func BenchmarkReport_100MiB(b *testing.B) {
	benchLog.once.Do(func() {
		dir, err := os.MkdirTemp("", "callfix-report-bench")
		if err != nil {
			benchLog.err = err
			return
		}
		benchLog.path = filepath.Join(dir, "audit.log")
		f, err := os.Create(benchLog.path)
		if err != nil {
			benchLog.err = err
			return
		}
		defer f.Close()
		benchLog.err = writeBenchLog(f, 100<<20)
		if fi, err := f.Stat(); err == nil {
			benchLog.size = fi.Size()
		}
	})
	if benchLog.err != nil {
		b.Fatal(benchLog.err)
	}
	b.Cleanup(func() {}) // the log stays for the process; the OS temp dir holds it
	b.SetBytes(benchLog.size)
	b.ReportAllocs()
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the live heap
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var r *Report
	for b.Loop() {
		f, err := os.Open(benchLog.path)
		if err != nil {
			b.Fatal(err)
		}
		r, err = Build([]Input{{Name: "audit.log", R: f}}, Options{})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	<-done
	if r.Lines.Records == 0 || len(r.Clients) < 1000 {
		b.Fatalf("report of %d records, %d clients", r.Lines.Records, len(r.Clients))
	}
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(r.Lines.Records), "records")
}

func TestBenchLog_IsReadWhole(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBenchLog(pw, 4<<20)) }()
	r, err := Build([]Input{{Name: "gen", R: pr}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lines.Malformed != 0 || r.Lines.Records == 0 || r.Lines.Other == 0 || len(r.Clients) < 1000 {
		t.Errorf("generated log: %+v, %d clients", r.Lines, len(r.Clients))
	}
}
