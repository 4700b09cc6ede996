package proxy

import (
	"bytes"
	"compress/flate"

	"github.com/valyala/fasthttp"
)

// Bodies in each content coding callfix undoes, for the tests here and
// (through export_test.go) in package proxy_test.

func gzipped(b []byte) []byte  { return fasthttp.AppendGzipBytes(nil, b) }
func zlibbed(b []byte) []byte  { return fasthttp.AppendDeflateBytes(nil, b) } // RFC 9110 "deflate"
func brotlied(b []byte) []byte { return fasthttp.AppendBrotliBytesLevel(nil, b, 5) }
func zstded(b []byte) []byte   { return fasthttp.AppendZstdBytes(nil, b) }

// deflated is raw DEFLATE, as some clients send under "deflate".
func deflated(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
