package proxy

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

// Why callfix keeps its own decoder: fasthttp undoes one coding, not a
// list, and its deflate is zlib only, while some clients send raw DEFLATE
// as "deflate".
func TestDecode_WhatFasthttpDoesNot(t *testing.T) {
	body := []byte(`{"phoneNumber":"5551234567"}`)
	var req fasthttp.Request
	req.SetBody(deflated(body))
	if _, err := req.BodyInflateWithLimit(1 << 20); err == nil {
		t.Errorf("fasthttp inflated raw DEFLATE: callfix's own deflate decoder may not be needed any more")
	}
	req.SetBody(gzipped(gzipped(body)))
	req.Header.Set("Content-Encoding", "gzip, gzip")
	if _, err := req.BodyUncompressedWithLimit(1 << 20); err == nil {
		t.Errorf("fasthttp undid a list of codings: callfix's own list decoding may not be needed any more")
	}

	f := func(enc string, in []byte) {
		t.Helper()
		dst := bytebufferpool.Get()
		defer bytebufferpool.Put(dst)
		if err := decode(dst, []byte(enc), in, 1<<20); err != nil || !bytes.Equal(dst.B, body) {
			t.Errorf("decode(%q) = %q, %v, want the body", enc, dst.B, err)
		}
	}
	f("deflate", deflated(body))
	f("gzip, gzip", gzipped(gzipped(body)))
	f("identity, gzip, identity", gzipped(body))
	f("deflate, gzip, gzip", gzipped(gzipped(deflated(body))))
}

// Every coding, and every step of a list, is bounded by the limit: a body
// of exactly the limit is read, one byte more is errTooLarge.
func TestDecode_EachStepBounded(t *testing.T) {
	const limit = 64 << 10
	big := bytes.Repeat([]byte("a"), 1<<20)
	dst := bytebufferpool.Get()
	defer bytebufferpool.Put(dst)
	if err := decode(dst, []byte("gzip, gzip"), gzipped(gzipped(big)), limit); !errors.Is(err, errTooLarge) {
		t.Errorf("decode of 1 MiB under a 64 KiB limit: %v, want errTooLarge", err)
	}
	codings := map[string]func([]byte) []byte{
		"gzip": gzipped, "deflate": zlibbed, "deflate (raw)": deflated, "zstd": zstded,
		"br": brotlied,
	}
	for name, enc := range codings {
		coding := strings.TrimSuffix(name, " (raw)")
		for _, n := range []int{limit, limit + 1} {
			err := decode(dst, []byte(coding), enc(big[:n]), limit)
			switch {
			case n == limit && (err != nil || len(dst.B) != limit):
				t.Errorf("%s: %d bytes under a limit of %d: %d bytes, %v; want them all", name, n, limit, len(dst.B), err)
			case n > limit && !errors.Is(err, errTooLarge):
				t.Errorf("%s: %d bytes under a limit of %d: %v, want errTooLarge", name, n, limit, err)
			}
		}
	}
}

// A zstd frame that declares a window far beyond the limit is refused
// without the window being allocated, and a bomb (1 GiB from a few KiB)
// costs no more memory than the limit's order: fasthttp's zstd decoder
// caps its window by the limit.
func TestDecode_ZstdMemoryBounded(t *testing.T) {
	const limit = 1 << 20
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(zstd.MaxWindowSize), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1<<20)
	for range 1 << 10 { // 1 GiB of zeros
		w.Write(zero)
	}
	w.Close()
	bomb := buf.Bytes()
	dst := bytebufferpool.Get()
	defer bytebufferpool.Put(dst)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = decode(dst, []byte("zstd"), bomb, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("decode of a %d-byte zstd bomb: %v, want errTooLarge", len(bomb), err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("decoding a zstd bomb under a 1 MiB limit allocated %d MiB, want far less than its 1 GiB", got>>20)
	}
}
