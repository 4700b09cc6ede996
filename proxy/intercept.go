package proxy

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	brotli "github.com/molecule-man/go-brrr"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/rewrite"
)

var errTooLarge = errors.New("body larger than the limit")

// intercept reads a request that matches a rule, rewrites it, and forwards
// it or answers 400 according to the mode.
func (s *Server) intercept(ctx *fasthttp.RequestCtx, st *state, up *upstream, target []byte, rt *rewrite.Route) {
	start := time.Now()
	in := &ctx.Request.Header
	rec := Record{Route: rt.Name(), Mode: st.snap.Mode, Country: st.snap.Country, Start: start}
	defer func() {
		if s.observer != nil && rec.Status != 0 {
			rec.Duration = time.Since(start)
			s.observer.Intercepted(&rec)
		}
	}()
	fail := func(status int, code, msg string) {
		rec.RequestID = s.requestID(ctx)
		rec.Status = status
		rec.Outcome = rewrite.OutcomeRejected
		s.answer(ctx, status, code, msg, rec.RequestID)
		ctx.SetConnectionClose() // the body may be unread
	}

	if v := in.PeekBytes(hdrCountry); len(v) > 0 {
		cc := strings.ToUpper(strings.TrimSpace(string(v)))
		if !rewrite.KnownCountry(cc) {
			fail(400, apierror.CodeBadRequest, "X-Callfix-Country must be an ISO 3166 alpha-2 country with a numbering plan, such as US or GB")
			return
		}
		rec.Country = cc
	}

	limit := st.maxBody
	if n := in.ContentLength(); n > limit {
		fail(413, apierror.CodeBodyTooLarge, "the request body is larger than limits.max_body_bytes ("+itoa(limit)+" bytes), the most callfix reads to repair addresses")
		return
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	if err := readLimited(buf, ctx.RequestBodyStream(), limit); err != nil {
		if errors.Is(err, errTooLarge) {
			fail(413, apierror.CodeBodyTooLarge, "the request body is larger than limits.max_body_bytes ("+itoa(limit)+" bytes), the most callfix reads to repair addresses")
		} else {
			fail(400, apierror.CodeBadRequest, "callfix could not read the whole request body")
		}
		return
	}
	raw := buf.B

	body := raw
	encoded := false
	if enc := in.PeekBytes(hdrContentEncode); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		dec := bytebufferpool.Get()
		defer bytebufferpool.Put(dec)
		switch err := decode(dec, enc, raw, limit); {
		case err == nil:
			body, encoded = dec.B, true
		case errors.Is(err, errTooLarge):
			fail(413, apierror.CodeBodyTooLarge, "the decoded request body is larger than limits.max_body_bytes ("+itoa(limit)+" bytes)")
			return
		case errors.Is(err, errUnsupportedEncoding):
			// Cannot be inspected: forwarded as sent, and recorded.
			rec.Skipped = rewrite.SkipNotJSON
			rec.Outcome = rewrite.OutcomeUnchanged
			rec.RequestID = s.requestID(ctx)
			rec.Upstream = s.forward(ctx, st, up, target, raw, -1, false)
			rec.Status = ctx.Response.StatusCode()
			return
		default:
			fail(400, apierror.CodeBadRequest, "the request body is not valid "+string(enc)+" as its Content-Encoding says")
			return
		}
	}

	res := st.snap.Engine.Rewrite(rt, body, rec.Country)
	d := rewrite.Decide(st.snap.Mode, body, &res)
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
		rec.Upstream = s.forward(ctx, st, up, target, d.Body, len(d.Body), encoded)
	} else {
		// Nothing changed (or audit): the bytes as the client sent them,
		// still encoded.
		rec.Upstream = s.forward(ctx, st, up, target, raw, -1, false)
	}
	rec.Status = ctx.Response.StatusCode()
}

// readLimited reads r into buf, failing with errTooLarge past limit bytes.
func readLimited(buf *bytebufferpool.ByteBuffer, r io.Reader, limit int) error {
	if r == nil {
		return nil
	}
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return err
	}
	if n > int64(limit) {
		return errTooLarge
	}
	return nil
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

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
