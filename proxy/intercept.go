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

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/rewrite"
)

var errTooLarge = errors.New("body larger than the limit")

// Where the country came from, for the 400's message, when it is not the
// snapshot's own (config.Snapshot.CountryOrigin).
const (
	originHeader = "sent in X-Callfix-Country"
	originClient = "set for this client in clients:; send `X-Callfix-Country` to choose another"
	originRule   = "set by the rule's own country; send `X-Callfix-Country` to choose another"
)

// intercept reads a request that matches a rule, rewrites it, and forwards
// it or answers 400 according to the mode; ref, when set, is the refusal
// inspect decided from the headers, answered at once. It records a server
// span, the callfix.rewrite span, a client span for the upstream call,
// metrics, the audit record, and tells the Observer.
func (s *Server) intercept(ctx *fasthttp.RequestCtx, st *state, h *head, ref refusal) {
	start := time.Now()
	up, target, rt := h.up, h.target, h.rule
	rec := Record{Route: rt.Name(), Mode: st.snap.Mode, Country: st.snap.Country, Start: start, Mask: st.masker, MaxListed: st.maxDetails, UpstreamLabel: s.tel.Upstream(up.name)}
	sctx := context.Background()
	var server trace.Span
	if s.tel.Tracing() {
		sctx, server = s.startServerSpan(ctx, rt.Name(), rt.Pattern(), h.path)
	}
	defer func() {
		// A panic is answered 500 by ServeHTTP, after this runs: the
		// record and the span say so too, and the panic goes on there.
		p := recover()
		if p != nil {
			rec.Status = 500
		}
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
		if p != nil {
			panic(p)
		}
	}()
	// The request ID is taken once: requestID is stable within a request
	// (the client's, or callfix's from fasthttp's request ID), but reads
	// the headers for the client's each time.
	setID := func() {
		if rec.RequestID == "" {
			rec.RequestID = s.requestID(ctx)
		}
	}
	fail := func(r refusal) {
		setID()
		rec.Status = r.status
		rec.Outcome = rewrite.OutcomeRejected
		if rec.RewriteStart.IsZero() {
			rec.RewriteStart = time.Now()
		}
		rec.RewriteEnd = time.Now()
		s.logRefusal("refused an intercepted request", rec.RequestID, r)
		s.answer(ctx, r.status, r.code, r.msg, rec.RequestID)
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

	if ref.status != 0 {
		fail(ref)
		return
	}
	// Who sent it, and so its mode and country (config.Overrides.Resolve:
	// X-Callfix-Country > client > rule > global, where country: auto
	// learns the global one).
	rec.Client = s.identify(ctx, st, h)
	hdrCC := ""
	if v := h.country; len(v) > 0 {
		hdrCC = strings.ToUpper(strings.TrimSpace(string(v)))
		if !rewrite.KnownCountry(hdrCC) {
			fail(badRequest("invalid_country", "X-Callfix-Country", "X-Callfix-Country must be an ISO 3166 alpha-2 country with a numbering plan, such as US or GB"))
			return
		}
	}
	resolved := st.snap.Overrides.Resolve(rt.Name(), rec.Client.ID, rec.Client.TokenID, hdrCC)
	rec.Mode, rec.Country = resolved.Mode, resolved.Country
	// origin says where rec.Country came from, for the 400's message.
	origin := st.snap.CountryOrigin
	switch resolved.CountryOrigin {
	case config.OriginHeader:
		origin = originHeader
	case config.OriginClient:
		origin = originClient
	case config.OriginRule:
		origin = originRule
	}

	limit := st.maxBody
	tooLarge := func(what string) refusal {
		return refusal{status: 413, code: apierror.CodeBodyTooLarge, reason: "body_too_large",
			msg: "the " + what + " is larger than limits.max_body_bytes (" + strconv.Itoa(limit) + " bytes), the most callfix reads to repair addresses"}
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
			fail(tooLarge("request body"))
		} else {
			fail(clientBodyRefusal(err))
		}
		return
	}
	raw := buf.B

	// country: auto, and the client did not choose: the organisation's.
	if resolved.CountryOrigin == config.OriginGlobal && st.snap.CountryAuto {
		if tok := bearerHeader(h.auth); tok != nil {
			setID()
			if cc, ok := s.learnCountry(sctx, st, tok, rec.RequestID); ok {
				rec.Country, origin = cc, originLearnt
			}
		}
	}

	rec.CountryOrigin = origin

	body := raw
	encoded := false
	rec.RewriteStart = time.Now()
	if codings, _ := countCodings(h.encoding); codings > 0 {
		// inspect refused codings callfix does not know, and more than
		// limits.max_content_codings.
		dec := bytebufferpool.Get()
		defer bytebufferpool.Put(dec)
		switch err := decode(dec, h.encoding, raw, limit); {
		case err == nil:
			body, encoded = dec.B, true
		case errors.Is(err, errTooLarge):
			fail(tooLarge("decoded request body"))
			return
		default:
			fail(badRequest("bad_content_encoding", "Content-Encoding", "the request body is not encoded as its Content-Encoding says"))
			return
		}
	}

	res := st.snap.Engine.Rewrite(rt, body, rec.Country)
	d := rewrite.Decide(rec.Mode, body, &res)
	rec.RewriteEnd = time.Now()
	setID()
	rec.Outcome, rec.Changes, rec.Problems, rec.Kept, rec.Skipped = d.Outcome, res.Changes, res.Problems, res.Kept, res.Skipped
	if d.Reject && d.Unreadable != rewrite.SkipNone {
		// Enforce mode fails closed: Genesys may read what callfix cannot.
		rec.Status = 400
		r := badRequest("unreadable_body", "", apierror.UnreadableMessage(d.Unreadable))
		s.logRefusal("refused an intercepted request", rec.RequestID, r)
		s.answer(ctx, r.status, r.code, r.msg, rec.RequestID)
		ctx.SetConnectionClose()
		return
	}
	if d.Reject {
		rec.Status = 400
		writeError(ctx, 400, rec.RequestID, apierror.InvalidAddressFrom(res.Problems, origin, st.maxDetails, st.masker.Mask, rec.RequestID).JSON())
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

// decode undoes the content codings enc lists (gzip, deflate, br,
// identity), the last applied first (RFC 9110 section 8.4), into dst, each
// at most limit bytes: a small compressed body cannot expand into
// unbounded memory. inspect has checked that enc names only these and at
// most limits.max_content_codings of them.
//
// fasthttp's Request.BodyUncompressedWithLimit undoes one coding, not a
// list; its decoders allocate their output on every call, and its deflate
// takes zlib only, where some clients send raw DEFLATE
// (TestIntercept_EncodedBody_RewrittenAndForwardedDecoded): so callfix
// keeps its own, streaming into pooled buffers.
func decode(dst *bytebufferpool.ByteBuffer, enc, raw []byte, limit int) error {
	var list [8][]byte
	codings := list[:0]
	for v := enc; len(v) > 0; {
		var c []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			c, v = v[:i], v[i+1:]
		} else {
			c, v = v, nil
		}
		if c = bytes.Trim(c, " \t"); coding(c) != codingIdentity {
			codings = append(codings, c)
		}
	}
	// Step k writes into dst when an even number of steps follow it, so
	// that the last writes into dst and no step reads what it writes.
	in := raw
	var tmp *bytebufferpool.ByteBuffer
	for k := range codings {
		out := dst
		if (len(codings)-1-k)%2 == 1 {
			if tmp == nil {
				tmp = bytebufferpool.Get()
				defer bytebufferpool.Put(tmp)
			}
			out = tmp
		}
		if err := decodeOne(out, coding(codings[len(codings)-1-k]), in, limit); err != nil {
			return err
		}
		in = out.B
	}
	return nil
}

// decodeOne undoes one coding of raw into dst, at most limit bytes.
func decodeOne(dst *bytebufferpool.ByteBuffer, c codingKind, raw []byte, limit int) error {
	var r io.Reader
	switch c {
	case codingGzip:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	case codingDeflate:
		// RFC 9110 "deflate" is zlib; some clients send raw DEFLATE.
		if zr, err := zlib.NewReader(bytes.NewReader(raw)); err == nil {
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(bytes.NewReader(raw))
			defer fr.Close()
			r = fr
		}
	case codingBrotli:
		r = brotli.NewReader(bytes.NewReader(raw))
	default:
		return errors.New("not a coding callfix undoes")
	}
	return readLimited(dst, r, limit)
}
