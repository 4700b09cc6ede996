package proxy

import (
	"bytes"
	"sync"

	"github.com/valyala/fasthttp"
)

// copyResponse hands the upstream's answer to the client: status, headers
// less the hop-by-hop ones, and the body as a stream that releases the
// upstream response (and its connection) when done.
func copyResponse(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, head bool) {
	out := &ctx.Response
	out.Header.DisableNormalizing()
	out.Header.SetNoDefaultContentType(true)
	out.SetStatusCode(resp.StatusCode())
	var conn connectionTokens
	for k, v := range resp.Header.All() {
		if bytes.EqualFold(k, hopHeaders[0]) {
			conn.add(v)
		}
	}
	for k, v := range resp.Header.All() {
		switch {
		case isHop(k) || conn.has(k):
		case bytes.EqualFold(k, hdrContentLength):
		case bytes.EqualFold(k, hdrContentType):
			out.Header.SetContentTypeBytes(v)
		case bytes.EqualFold(k, hdrContentEncode):
			out.Header.SetContentEncodingBytes(v)
		default:
			out.Header.AddBytesKV(k, v)
		}
	}
	status := resp.StatusCode()
	if head || status == 204 || status == 304 || status < 200 {
		out.SkipBody = true
		if n := resp.Header.ContentLength(); n >= 0 && head {
			out.Header.SetContentLength(n)
		}
		fasthttp.ReleaseResponse(resp)
		return
	}
	if resp.BodyStream() == nil {
		// A small body, read whole: copy it and free the upstream response.
		out.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		return
	}
	rb := bodyPool.Get().(*releasingBody)
	rb.resp = resp
	n := resp.Header.ContentLength()
	if n < 0 {
		n = -1 // chunked or until close upstream: chunked to the client
	}
	out.SetBodyStream(rb, n)
}

var bodyPool = sync.Pool{New: func() any { return new(releasingBody) }}

// releasingBody streams an upstream response body and releases the
// response (returning or closing its connection) when fasthttp closes it:
// after the last byte, or when the client went away.
type releasingBody struct {
	resp *fasthttp.Response
}

func (b *releasingBody) Read(p []byte) (int, error) { return b.resp.BodyStream().Read(p) }

func (b *releasingBody) Close() error {
	if b.resp != nil {
		fasthttp.ReleaseResponse(b.resp)
		b.resp = nil
		bodyPool.Put(b)
	}
	return nil
}
