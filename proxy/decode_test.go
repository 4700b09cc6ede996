package proxy

import (
	"bytes"
	"compress/flate"
	"errors"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func rawDeflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Why callfix keeps its own decoder: fasthttp undoes one coding, not a
// list, and its deflate is zlib only, while some clients send raw DEFLATE
// as "deflate".
func TestDecode_WhatFasthttpDoesNot(t *testing.T) {
	body := []byte(`{"phoneNumber":"5551234567"}`)
	var req fasthttp.Request
	req.SetBody(rawDeflate(body))
	if _, err := req.BodyInflateWithLimit(1 << 20); err == nil {
		t.Errorf("fasthttp inflated raw DEFLATE: callfix's own deflate decoder may not be needed any more")
	}
	req.SetBody(gz(gz(body)))
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
	f("deflate", rawDeflate(body))
	f("gzip, gzip", gz(gz(body)))
	f("identity, gzip, identity", gz(body))
	f("deflate, gzip, gzip", gz(gz(rawDeflate(body))))
}

// Every step of a list is bounded by the limit.
func TestDecode_EachStepBounded(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 1<<20)
	dst := bytebufferpool.Get()
	defer bytebufferpool.Put(dst)
	if err := decode(dst, []byte("gzip, gzip"), gz(gz(big)), 64<<10); !errors.Is(err, errTooLarge) {
		t.Errorf("decode of 1 MiB under a 64 KiB limit: %v, want errTooLarge", err)
	}
}
