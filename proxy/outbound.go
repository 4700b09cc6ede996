package proxy

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// outbound is the request forward sends upstream in place of the client's
// request line (and, when body is set, its body). Its header policy is in
// headers.go (writeHeader).
type outbound struct {
	up     *upstream
	target []byte // origin-form, gateway prefix stripped
	// body, when not nil, replaces the client's body. rewritten says it
	// differs from what the client sent: Content-Length is then its
	// length, and decoded drops Content-Encoding (callfix undid it to
	// rewrite).
	body               []byte
	rewritten, decoded bool
	// trace, when not nil, replaces the client's traceparent and
	// tracestate with callfix's client span.
	trace *traceHeaders
}

// passOn forwards a request callfix does not intercept, with body in
// place of the client's when it is not nil (the token exchange read it),
// traced when tracing.passthrough is on. It returns the upstream's status,
// 0 when callfix answered a failure.
func (s *Server) passOn(ctx *fasthttp.RequestCtx, st *state, h *head, body []byte) int {
	o := outbound{up: h.up, target: h.target, body: body}
	if st.snap.Config.Tracing.Passthrough && s.tel.Tracing() {
		return s.tracedPassthrough(ctx, h, &o)
	}
	start := time.Now()
	status := s.send(ctx, h, &o)
	s.tel.Passthrough(h.up.label, status, time.Since(start))
	return status
}

// send is forward, with a failure answered.
func (s *Server) send(ctx *fasthttp.RequestCtx, h *head, o *outbound) int {
	status, err := s.forward(ctx, o)
	if err != nil {
		s.fail(ctx, h, err, "")
	}
	return status
}

// forward sends o upstream and streams the answer back. It returns the
// upstream's status, or the error that kept the exchange from an answer
// (a *clientBodyError when the client's body failed while it streamed, an
// *upstreamError otherwise), which the caller answers with fail.
func (s *Server) forward(ctx *fasthttp.RequestCtx, o *outbound) (int, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	in := &ctx.Request
	o.writeHeader(&req.Header, &in.Header, ctx.RemoteIP(), s.tls)
	uri := req.URI()
	uri.SetScheme(o.up.scheme)
	uri.SetHostBytes(o.up.host)
	var cb *clientBody
	switch {
	case o.body != nil:
		req.SetBodyRaw(o.body)
	case in.Header.ContentLength() != 0 && !in.Header.IsGet() && !in.Header.IsHead() || in.Header.ContentLength() > 0:
		if ctx.RequestBodyStream() == nil {
			// fasthttp read the body whole: forward those bytes.
			req.SetBodyRaw(in.Body())
			break
		}
		cb = clientBodyPool.Get().(*clientBody)
		cb.r, cb.err = ctx.RequestBodyStream(), nil
		defer func() { cb.r, cb.err = nil, nil; clientBodyPool.Put(cb) }()
		req.SetBodyStream(cb, in.Header.ContentLength())
	}
	resp := fasthttp.AcquireResponse()
	if err := o.up.client.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		if cb != nil && cb.err != nil {
			// The client, not the upstream, failed. The upstream got a
			// cut-off request, never a complete one.
			return 0, &clientBodyError{err: cb.err, aborted: true}
		}
		return 0, &upstreamError{name: o.up.name, err: err}
	}
	status := resp.StatusCode()
	copyResponse(ctx, resp, in.Header.IsHead())
	return status, nil
}

// clientBody is the client's request body as it streams upstream. It keeps
// the client-side read error, so that a client that stops sending is not
// blamed on the upstream.
type clientBody struct {
	r   io.Reader
	err error
}

var clientBodyPool = sync.Pool{New: func() any { return new(clientBody) }}

// Read fails for good after the first error. fasthttp's request stream
// reports a chunk framing error once, with the chunk's bytes, and then
// parses on ("5\r\nhelloX5\r\nworld" reads as "hello", an error, "world"),
// and fasthttp's chunked writer sends the bytes and reads again: the
// upstream would get a spliced body as complete. Returning the error with
// no bytes, every time, makes the upstream exchange fail before its last
// chunk.
func (c *clientBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
		return 0, err
	}
	return n, err
}
