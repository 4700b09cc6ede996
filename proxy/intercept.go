package proxy

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/rewrite"
)

// Where the country came from, for the 400's message, when it is not the
// snapshot's own (config.Snapshot.CountryOrigin).
const (
	originHeader = "sent in X-Callfix-Country"
	originClient = "set for this client in clients:; send `X-Callfix-Country` to choose another"
	originRule   = "set by the rule's own country; send `X-Callfix-Country` to choose another"
)

// interception is what the steps of one intercepted request returned;
// record makes the request's Record from it, in one place.
type interception struct {
	start time.Time
	who   who
	// origin says where who.country came from, once the body was read.
	origin                   string
	rewriteStart, rewriteEnd time.Time
	res                      rewrite.Result
	outcome                  rewrite.Outcome
	upstream                 int
	upstreamDur              time.Duration
	// failed is when callfix answered in place of the upstream (zero when
	// the upstream answered), with the error a step returned.
	failed time.Time
	// rejected is that error when enforce mode rejects addresses.
	rejected addressRejection
}

// who is who sent an intercepted request and what it asked for: its
// identity, and so its mode and country (config.Overrides.Resolve:
// X-Callfix-Country > client > rule > global, where country: auto learns
// the global one).
type who struct {
	client  telemetry.Client
	mode    rewrite.Mode
	country string
	// global says no header, client or rule chose the country.
	global bool
}

// intercept reads a request that matches a rule, rewrites it, and forwards
// it or answers 400 according to the mode; ref, when set, is the refusal
// inspect decided from the headers, answered at once. It records a server
// span, the callfix.rewrite span, a client span for the upstream call,
// metrics, the audit record, and tells the Observer.
func (s *Server) intercept(ctx *fasthttp.RequestCtx, st *state, h *head, ref refusal) {
	x := interception{start: time.Now(), who: who{mode: st.snap.Mode, country: st.snap.Country}}
	sctx := context.Background()
	var server trace.Span
	if s.tel.Tracing() {
		sctx, server = s.startServerSpan(ctx, h.rule.Name(), h.rule.Pattern(), h.path)
	}
	defer func() {
		// A panic is answered 500 by serveHTTP, after this runs: the
		// record and the span say so too, and the panic goes on there.
		p := recover()
		status := ctx.Response.StatusCode()
		if p != nil {
			status = 500
		}
		rec := x.record(st, h, h.requestID(s, ctx), status)
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
	err := ref.orNil()
	if err == nil {
		err = s.interceptSteps(ctx, sctx, server, st, h, &x)
	}
	if err != nil {
		x.failed = time.Now()
		s.fail(ctx, h, err, "refused an intercepted request")
	}
}

// interceptSteps runs read → decode → rewrite → decide → respond, each a
// function that returns its values, and keeps them in x for the record. It
// returns what callfix answers in place of the upstream, if anything.
func (s *Server) interceptSteps(ctx *fasthttp.RequestCtx, sctx context.Context, server trace.Span, st *state, h *head, x *interception) error {
	var err error
	origin := ""
	if x.who, origin, err = s.identifyAndResolve(ctx, st, h); err != nil {
		return err
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	raw, err := readBody(ctx, buf, st.maxBody)
	if err != nil {
		return err
	}
	x.who.country, x.origin = s.learnt(sctx, ctx, st, h, x.who, origin)

	x.rewriteStart = time.Now()
	body, decoded := raw, false
	if h.codings > 0 {
		// inspect refused codings callfix does not know, and more than
		// limits.max_content_codings.
		dec := bytebufferpool.Get()
		defer bytebufferpool.Put(dec)
		if body, err = decodeBody(dec, h.encoding, raw, st.maxBody); err != nil {
			return err
		}
		decoded = true
	}

	x.res = st.snap.Engine.Rewrite(h.rule, body, x.who.country)
	d := rewrite.Decide(x.who.mode, body, &x.res)
	x.rewriteEnd, x.outcome = time.Now(), d.Outcome
	if d.Reject {
		// Enforce mode fails closed on a body it cannot read: Genesys may
		// read what callfix cannot.
		if d.Unreadable != rewrite.SkipNone {
			return badRequest("unreadable_body", "", apierror.UnreadableMessage(d.Unreadable))
		}
		x.rejected = addressRejection{problems: x.res.Problems, origin: x.origin, st: st}
		return &x.rejected
	}

	o := outbound{up: h.up, target: h.target, body: raw}
	if d.Outcome == rewrite.OutcomeRewritten {
		o.body, o.rewritten, o.decoded = d.Body, true, decoded
	}
	// Otherwise (nothing changed, or audit): the bytes as the client sent
	// them, still encoded.
	x.upstream, x.upstreamDur, err = s.respond(ctx, sctx, server, &o)
	return err
}

// identifyAndResolve returns who sent the request and where its country
// came from, for the 400's message; a bad X-Callfix-Country is refused.
func (s *Server) identifyAndResolve(ctx *fasthttp.RequestCtx, st *state, h *head) (who, string, error) {
	w := who{client: s.identify(ctx, st, h), mode: st.snap.Mode, country: st.snap.Country}
	hdrCC := ""
	if v := h.country; len(v) > 0 {
		hdrCC = strings.ToUpper(strings.TrimSpace(string(v)))
		if !rewrite.KnownCountry(hdrCC) {
			return w, "", badRequest("invalid_country", "X-Callfix-Country", "X-Callfix-Country must be an ISO 3166 alpha-2 country with a numbering plan, such as US or GB")
		}
	}
	resolved := st.snap.Overrides.Resolve(h.rule.Name(), w.client.ID, w.client.TokenID, hdrCC)
	w.mode, w.country, w.global = resolved.Mode, resolved.Country, resolved.CountryOrigin == config.OriginGlobal
	origin := st.snap.CountryOrigin
	switch resolved.CountryOrigin {
	case config.OriginHeader:
		origin = originHeader
	case config.OriginClient:
		origin = originClient
	case config.OriginRule:
		origin = originRule
	}
	return w, origin, nil
}

// readBody reads the client's body into buf: a *tooLargeError past limit
// bytes, a *clientBodyError when the client fails to send it.
func readBody(ctx *fasthttp.RequestCtx, buf *bytebufferpool.ByteBuffer, limit int) ([]byte, error) {
	var err error
	if src := ctx.RequestBodyStream(); src != nil {
		err = readLimited(buf, src, limit)
	} else if b := ctx.Request.Body(); len(b) > limit {
		// fasthttp read the body whole (a server without StreamRequestBody,
		// or a request built in memory).
		err = errTooLarge
	} else {
		buf.B = append(buf.B[:0], b...)
	}
	switch {
	case err == nil:
		return buf.B, nil
	case errors.Is(err, errTooLarge):
		return nil, &tooLargeError{what: "request body", limit: limit}
	}
	return nil, &clientBodyError{err: err}
}

// learnt returns the country national numbers are read in and where it
// came from: with country: auto and no choice by the client, the
// organisation's, learnt from its bearer token.
func (s *Server) learnt(sctx context.Context, ctx *fasthttp.RequestCtx, st *state, h *head, w who, origin string) (string, string) {
	if w.global && st.snap.CountryAuto {
		if tok := bearerHeader(h.auth); tok != nil {
			if cc, ok := s.learnCountry(sctx, st, tok, h.requestID(s, ctx)); ok {
				return cc, originLearnt
			}
		}
	}
	return w.country, origin
}

// decodeBody undoes the content codings enc lists into dec: a
// *tooLargeError when the decoded body is past limit, a 400 when raw is
// not encoded as enc says.
func decodeBody(dec *bytebufferpool.ByteBuffer, enc, raw []byte, limit int) ([]byte, error) {
	switch err := decode(dec, enc, raw, limit); {
	case err == nil:
		return dec.B, nil
	case errors.Is(err, errTooLarge):
		return nil, &tooLargeError{what: "decoded request body", limit: limit}
	}
	return nil, badRequest("bad_content_encoding", "Content-Encoding", "the request body is not encoded as its Content-Encoding says")
}

// respond forwards o, with a client span when the request is traced. It
// returns the upstream's status and how long the exchange took, or the
// error that kept it from an answer.
func (s *Server) respond(ctx *fasthttp.RequestCtx, sctx context.Context, server trace.Span, o *outbound) (int, time.Duration, error) {
	var client trace.Span
	if server != nil {
		client, o.trace = s.startClientSpan(sctx, ctx, o.up)
	}
	t0 := time.Now()
	status, err := s.forward(ctx, o)
	dur := time.Since(t0)
	if client != nil {
		endWithStatus(client, status)
	}
	return status, dur, err
}

// record is the Record of the request x describes, which got status.
func (x *interception) record(st *state, h *head, id string, status int) Record {
	rec := Record{RequestID: id, Route: h.rule.Name(), Mode: x.who.mode, Country: x.who.country, CountryOrigin: x.origin,
		Client: x.who.client, Outcome: x.outcome, Status: status, Upstream: x.upstream,
		Changes: x.res.Changes, Problems: x.res.Problems, Kept: x.res.Kept, Skipped: x.res.Skipped,
		Start: x.start, RewriteStart: x.rewriteStart, RewriteEnd: x.rewriteEnd, UpstreamDur: x.upstreamDur,
		Mask: st.masker, MaxListed: st.maxDetails, UpstreamLabel: h.up.label}
	if !x.failed.IsZero() && x.rewriteEnd.IsZero() {
		// Refused before the engine ran: the rewrite spans the refusal.
		rec.Outcome = rewrite.OutcomeRejected
		if rec.RewriteStart.IsZero() {
			rec.RewriteStart = x.failed
		}
		rec.RewriteEnd = x.failed
	}
	rec.Duration = time.Since(x.start)
	return rec
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

// decode undoes the content codings enc lists (gzip, deflate, br, zstd,
// identity), the last applied first (RFC 9110 section 8.4), into dst, each
// at most limit bytes: a small compressed body cannot expand into
// unbounded memory. inspect has checked that enc names only these and at
// most limits.max_content_codings of them.
//
// Each coding is undone by fasthttp's own decoder with the limit
// (Request.BodyGunzipWithLimit and its kin: pooled readers, a zstd window
// capped by the limit). What callfix adds is what fasthttp does not do
// (TestDecode_WhatFasthttpDoesNot): a list of codings, undone last first,
// and raw DEFLATE under "deflate", which some clients send where RFC 9110
// means zlib (TestIntercept_EncodedBody_RewrittenAndForwardedDecoded).
func decode(dst *bytebufferpool.ByteBuffer, enc, raw []byte, limit int) error {
	var list [8][]byte
	codings := list[:0]
	for v := enc; len(v) > 0; {
		var c []byte
		if c, v = nextListItem(v); coding(c) != codingIdentity {
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
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetBodyRaw(raw)
	var out []byte
	var err error
	switch c {
	case codingGzip:
		out, err = req.BodyGunzipWithLimit(limit)
	case codingDeflate:
		if out, err = req.BodyInflateWithLimit(limit); err != nil && !errors.Is(err, fasthttp.ErrBodyTooLarge) {
			// Not zlib: raw DEFLATE, which fasthttp does not read.
			fr := flate.NewReader(bytes.NewReader(raw))
			defer fr.Close()
			return readLimited(dst, fr, limit)
		}
	case codingBrotli:
		out, err = req.BodyUnbrotliWithLimit(limit)
	case codingZstd:
		out, err = req.BodyUnzstdWithLimit(limit)
	default:
		return errors.New("not a coding callfix undoes")
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return errTooLarge
	}
	if err != nil {
		return err
	}
	dst.B = append(dst.B[:0], out...)
	return nil
}
