package proxy

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/rewrite"
)

var errTooLarge = errors.New("body larger than the limit")

// intercept reads a request that matches a rule, rewrites it, and forwards
// it or answers 400 according to the mode. It records a server span, the
// callfix.rewrite span, a client span for the upstream call, metrics, the
// audit record, and tells the Observer.
func (s *Server) intercept(ctx *fasthttp.RequestCtx, st *state, up *upstream, target []byte, rt *rewrite.Route) {
	start := time.Now()
	in := &ctx.Request.Header
	rec := Record{Route: rt.Name(), Mode: st.snap.Mode, Country: st.snap.Country, Start: start, Mask: st.masker}
	sctx := context.Background()
	var server trace.Span
	if s.tel.Tracing() {
		path := target
		if i := bytes.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		sctx, server = s.startServerSpan(ctx, rt.Name(), rt.Pattern(), path)
	}
	defer func() {
		rec.Duration = time.Since(start)
		if rec.RequestID == "" {
			rec.RequestID = s.requestID(ctx)
		}
		if rec.Status == 0 {
			rec.Status = ctx.Response.StatusCode()
		}
		if server != nil {
			server.SetAttributes(attribute.String(telemetry.AttrRequestID, rec.RequestID))
			server.SetAttributes(rec.Client.SpanAttributes()...)
			s.tel.RecordRewriteSpan(sctx, &rec)
		}
		s.tel.Intercepted(sctx, &rec)
		if server != nil {
			endWithStatus(server, rec.Status)
		}
		s.notify(&rec)
	}()
	fail := func(status int, code, msg string) {
		rec.RequestID = s.requestID(ctx)
		rec.Status = status
		rec.Outcome = rewrite.OutcomeRejected
		rec.RewriteStart, rec.RewriteEnd = time.Now(), time.Now()
		s.answer(ctx, status, code, msg, rec.RequestID)
		ctx.SetConnectionClose() // the body may be unread
	}
	send := func(body []byte, newLen int, dropEncoding bool) {
		var inj *traceHeaders
		var client trace.Span
		if server != nil {
			client, inj = s.startClientSpan(sctx, ctx, up)
		}
		t0 := time.Now()
		rec.Upstream = s.forward(ctx, st, up, target, body, newLen, dropEncoding, inj)
		rec.UpstreamDur = time.Since(t0)
		if client != nil {
			endWithStatus(client, rec.Upstream)
		}
		rec.Status = ctx.Response.StatusCode()
	}

	// One pass over the client's headers for the two callfix reads.
	var countryHdr, encoding []byte
	for it := (headerIter{raw: in.RawHeaders()}); it.next(); {
		switch {
		case countryHdr == nil && bytes.EqualFold(it.key, hdrCountry):
			countryHdr = it.value
		case encoding == nil && bytes.EqualFold(it.key, hdrContentEncode):
			encoding = it.value
		}
	}
	// Who sent it, and so its mode and country (config.Overrides.Resolve:
	// X-Callfix-Country > client > rule > global).
	rec.Client = s.identify(ctx, st)
	hdrCC := ""
	if v := countryHdr; len(v) > 0 {
		hdrCC = strings.ToUpper(strings.TrimSpace(string(v)))
		if !rewrite.KnownCountry(hdrCC) {
			fail(400, apierror.CodeBadRequest, "X-Callfix-Country must be an ISO 3166 alpha-2 country with a numbering plan, such as US or GB")
			return
		}
	}
	resolved := st.snap.Overrides.Resolve(rt.Name(), rec.Client.ID, rec.Client.TokenID, hdrCC)
	rec.Mode, rec.Country = resolved.Mode, resolved.Country

	limit := st.maxBody
	if n := in.ContentLength(); n > limit {
		fail(413, apierror.CodeBodyTooLarge, "the request body is larger than limits.max_body_bytes ("+strconv.Itoa(limit)+" bytes), the most callfix reads to repair addresses")
		return
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	var err error
	if src := ctx.RequestBodyStream(); src != nil {
		err = readLimited(buf, src, limit)
	} else {
		// fasthttp read the body whole (a server without StreamRequestBody,
		// or a request built in memory).
		if b := ctx.Request.Body(); len(b) > limit {
			err = errTooLarge
		} else {
			buf.B = append(buf.B[:0], b...)
		}
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			fail(413, apierror.CodeBodyTooLarge, "the request body is larger than limits.max_body_bytes ("+strconv.Itoa(limit)+" bytes), the most callfix reads to repair addresses")
		} else {
			fail(400, apierror.CodeBadRequest, "callfix could not read the whole request body")
		}
		return
	}
	raw := buf.B

	body := raw
	encoded := false
	rec.RewriteStart = time.Now()
	if enc := encoding; len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		dec := bytebufferpool.Get()
		defer bytebufferpool.Put(dec)
		switch err := decode(dec, enc, raw, limit); {
		case err == nil:
			body, encoded = dec.B, true
		case errors.Is(err, errTooLarge):
			fail(413, apierror.CodeBodyTooLarge, "the decoded request body is larger than limits.max_body_bytes ("+strconv.Itoa(limit)+" bytes)")
			return
		case errors.Is(err, errUnsupportedEncoding):
			// Cannot be inspected: forwarded as sent, and recorded.
			rec.Skipped = rewrite.SkipNotJSON
			rec.Outcome = rewrite.OutcomeUnchanged
			rec.RewriteEnd = time.Now()
			rec.RequestID = s.requestID(ctx)
			send(raw, -1, false)
			return
		default:
			fail(400, apierror.CodeBadRequest, "the request body is not valid "+string(enc)+" as its Content-Encoding says")
			return
		}
	}

	res := st.snap.Engine.Rewrite(rt, body, rec.Country)
	d := rewrite.Decide(rec.Mode, body, &res)
	rec.RewriteEnd = time.Now()
	rec.Outcome, rec.Changes, rec.Problems, rec.Skipped = d.Outcome, res.Changes, res.Problems, res.Skipped
	rec.RequestID = s.requestID(ctx)
	if d.Reject {
		rec.Status = 400
		b := apierror.InvalidAddress(res.Problems, st.masker.Mask, rec.RequestID)
		ctx.Response.Header.DisableNormalizing()
		ctx.SetStatusCode(400)
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("X-Request-Id", rec.RequestID)
		ctx.SetBody(b.JSON())
		return
	}
	if d.Outcome == rewrite.OutcomeRewritten {
		send(d.Body, len(d.Body), encoded)
	} else {
		// Nothing changed (or audit): the bytes as the client sent them,
		// still encoded.
		send(raw, -1, false)
	}
}

// notify tells the Observer, shielding the client's answer from a panic in
// it.
func (s *Server) notify(rec *Record) {
	if s.observer == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in the observer, recovered; the request was answered", "request_id", rec.RequestID, "panic_type", fmt.Sprintf("%T", r))
		}
	}()
	s.observer.Intercepted(rec)
}

// readLimited reads r into buf, failing with errTooLarge past limit bytes.
// It reads straight into buf's spare capacity: no allocation once the
// pooled buffer has grown.
func readLimited(buf *bytebufferpool.ByteBuffer, r io.Reader, limit int) error {
	if r == nil {
		return nil
	}
	b := buf.B[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > limit {
			buf.B = b
			return errTooLarge
		}
		if err == io.EOF {
			buf.B = b
			return nil
		}
		if err != nil {
			buf.B = b
			return err
		}
	}
}

var errUnsupportedEncoding = errors.New("unsupported content encoding")

// decode decompresses raw by Content-Encoding enc (gzip, deflate, br) into
// dst, at most limit bytes: a small compressed body cannot expand into
// unbounded memory.
func decode(dst *bytebufferpool.ByteBuffer, enc, raw []byte, limit int) error {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(string(enc))) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	case "deflate":
		// RFC 9110 "deflate" is zlib; some clients send raw DEFLATE.
		if zr, err := zlib.NewReader(bytes.NewReader(raw)); err == nil {
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(bytes.NewReader(raw))
			defer fr.Close()
			r = fr
		}
	case "br":
		r = brotli.NewReader(bytes.NewReader(raw))
	default:
		return errUnsupportedEncoding
	}
	return readLimited(dst, r, limit)
}
