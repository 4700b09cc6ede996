package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/internal/apierror"
	"github.com/callfix/callfix/rewrite"
)

// Every answer callfix makes instead of forwarding, or in place of the
// upstream's, starts as a Go error on the request path. statusFor maps it
// to what the client gets (as Caddy's reverseproxy maps its errors in one
// statusError); fail writes it, in one place.

// refusal is an answer callfix gives instead of forwarding a request. The
// zero value (status 0) means none. It is an error, so that a refusal
// travels the request path like any other.
type refusal struct {
	status int
	code   string
	msg    string
	// reason is a stable code for logs, such as obs_fold. Logs carry it and
	// header, never a header value.
	reason string
	// header names the header at fault, when one is.
	header string
}

func (r refusal) Error() string { return r.reason }

// orNil returns r as an error, nil for the zero refusal.
func (r refusal) orNil() error {
	if r.status == 0 {
		return nil
	}
	return r
}

func badRequest(reason, header, msg string) refusal {
	return refusal{status: 400, code: apierror.CodeBadRequest, msg: msg, reason: reason, header: header}
}

// errTooLarge is a body longer than the limit it was read with.
var errTooLarge = errors.New("body larger than the limit")

// tooLargeError is an intercepted body, as sent (what is "request body")
// or decoded ("decoded request body"), above limits.max_body_bytes.
type tooLargeError struct {
	what  string
	limit int
}

func (e *tooLargeError) Error() string { return e.what + " too large" }
func (e *tooLargeError) Unwrap() error { return errTooLarge }

// clientBodyError is a request body that failed while callfix read it, to
// inspect it or to stream it upstream; aborted says the upstream exchange
// was under way (and got a cut-off request, never a complete one).
type clientBodyError struct {
	err     error
	aborted bool
}

func (e *clientBodyError) Error() string { return e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// upstreamError is an exchange with the upstream named name that failed
// before its answer's headers.
type upstreamError struct {
	name string
	err  error
}

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// panicError is a panic while a request was handled.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %T", e.value) }

// requestError is an error fasthttp met reading a request line, header
// block or body.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// addressRejection is enforce mode's 400 for addresses callfix cannot
// repair; its body lists them (apierror.InvalidAddressFrom), at most
// limits.max_details, masked by the request's policy (st).
type addressRejection struct {
	problems []rewrite.Problem
	origin   string
	st       *state
}

func (e *addressRejection) Error() string { return "invalid address" }

// statusFor maps an error on the request path to the status, code, message
// and reason the client gets. Go's error text never reaches the client.
// The errors are matched by type, not errors.As: the request path makes
// them itself, unwrapped, and a type switch lets them stay on the stack
// (errors.As, and a call of err's methods, would move every one to the
// heap). An error of another type is callfix's own failure: 500.
func statusFor(err error) refusal {
	switch e := err.(type) {
	case refusal:
		return e
	case *addressRejection:
		return refusal{status: 400, code: apierror.CodeInvalidAddress, reason: "invalid_address", msg: "callfix cannot repair an address"}
	case *tooLargeError:
		return tooLarge(e.what, e.limit)
	case *clientBodyError:
		return clientBodyRefusal(e.err)
	case *upstreamError:
		return upstreamRefusal(e.err, e.name)
	case *requestError:
		return requestErrorRefusal(e.err)
	}
	return refusal{status: 500, code: apierror.CodeInternal, reason: "internal",
		msg: "callfix failed to handle the request; the request was not forwarded if the failure came first"}
}

// tooLarge is the 413 for an intercepted body, as sent ("request body") or
// decoded, above limits.max_body_bytes.
func tooLarge(what string, limit int) refusal {
	return refusal{status: 413, code: apierror.CodeBodyTooLarge, reason: "body_too_large",
		msg: "the " + what + " is larger than limits.max_body_bytes (" + strconv.Itoa(limit) + " bytes), the most callfix reads to repair addresses"}
}

// upstreamRefusal is the answer to an exchange with the upstream that
// failed.
func upstreamRefusal(err error, name string) refusal {
	switch {
	case isTimeout(err), errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, context.DeadlineExceeded):
		return refusal{status: 504, code: apierror.CodeUpstreamTimeout, reason: "upstream_timeout",
			msg: "the Genesys Cloud " + name + " host did not answer in time"}
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return refusal{status: 502, code: apierror.CodeUpstreamUnavailable, reason: "upstream_busy",
			msg: "callfix has no free connection to the Genesys Cloud " + name + " host: too many requests at once"}
	}
	return refusal{status: 502, code: apierror.CodeUpstreamUnavailable, reason: "upstream_unavailable",
		msg: "callfix could not reach the Genesys Cloud " + name + " host, or it answered with something that is not HTTP"}
}

// requestErrorRefusal maps an error fasthttp met reading a request line,
// header block or body to the answer and a stable reason code. The error's
// text is matched, never repeated: it may quote a header value.
func requestErrorRefusal(err error) refusal {
	var sizeErr *fasthttp.ErrSmallBuffer
	var chunkErr fasthttp.ErrBrokenChunk
	text := err.Error()
	has := func(s string) bool { return strings.Contains(text, s) }
	switch {
	case isTimeout(err):
		return refusal{status: 408, code: apierror.CodeBadRequest, reason: "read_timeout", msg: "the request was not received within server.read_timeout"}
	case errors.As(err, &sizeErr):
		return refusal{status: 431, code: apierror.CodeBadRequest, reason: "headers_too_large", msg: "the request line and headers are larger than server.max_header_bytes"}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return refusal{status: 413, code: apierror.CodeBodyTooLarge, reason: "body_too_large", msg: "the request body is too large"}
	case errors.Is(err, errBareLF):
		return badRequest("bare_lf", "", "the request's header block ends with a bare LF: end every line with CRLF and the block with an empty CRLF line")
	case errors.Is(err, fasthttp.ErrDuplicateContentLength), errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return badRequest("ambiguous_length", "", "the request's length is ambiguous (several Content-Length or Transfer-Encoding headers): send one")
	case errors.As(err, &chunkErr):
		return badRequest("bad_chunked_body", "", "the request's chunked body is malformed")
	case errors.Is(err, fasthttp.ErrBadTrailer), has("trailer"):
		return badRequest("invalid_trailer", "", "the request's chunked body has a trailer callfix does not accept")
	case has("invalid header value"):
		return badRequest("invalid_header_value", "", "a header value holds a control character or a bare CR")
	case has("invalid header key"), has("malformed mime header line"), has("cannot start with space"):
		return badRequest("invalid_header_name", "", "a header name holds whitespace or a character a name cannot have (RFC 9112 section 5.1)")
	case has("missing colon"):
		return badRequest("malformed_header_line", "", "a header line has no name and colon")
	case has("too many host headers"):
		return badRequest("duplicate_host", "Host", "the request has more than one Host header: send one")
	case has("http version"):
		return badRequest("unsupported_version", "", "callfix speaks HTTP/1.1: send the request as HTTP/1.1 (or HTTP/1.0)")
	case errors.Is(err, fasthttp.ErrMissingRequestMethod), errors.Is(err, fasthttp.ErrUnsupportedRequestMethod), has("request method"):
		return badRequest("invalid_method", "", "the request line has no valid method")
	case errors.Is(err, fasthttp.ErrEmptyRequestURI), errors.Is(err, fasthttp.ErrorInvalidURI), has("request uri"), has("first line"):
		return badRequest("invalid_target", "", "the request line has no valid target")
	case has("unexpected EOF"), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("truncated", "", "the connection closed before the whole request arrived")
	}
	return badRequest("malformed_request", "", "callfix could not read the request: it is not valid HTTP/1.1")
}

// clientBodyRefusal is the answer to a request whose body failed while
// callfix read it (to inspect it, or to stream it upstream).
func clientBodyRefusal(err error) refusal {
	r := requestErrorRefusal(err)
	switch r.reason {
	case "read_timeout":
		r.msg = "the request body was not received within server.read_timeout"
	case "malformed_request", "truncated":
		r.reason, r.msg = "body_incomplete", "callfix could not read the whole request body from the client"
	}
	return r
}

// fail answers err, the one place that writes callfix's error answers:
// statusFor's status, code and message, in Genesys's API format or in the
// OAuth format of its login host when the request was routed there (where
// SDK token code reads errors), with the request's ID. It logs why (what
// logMsg says, a reason code and a header name, never a value) and closes
// the connection unless the upstream answered the request: what is left of
// it is not read as another one. logMsg "" logs nothing (the errors of
// forward and panics have lines of their own). It returns the answer's
// status.
func (s *Server) fail(ctx *fasthttp.RequestCtx, h *head, err error, logMsg string) int {
	id := h.requestID(s, ctx)
	r := statusFor(err)
	switch e := err.(type) {
	case *addressRejection:
		// Not logged: the audit record lists the problems.
		writeError(ctx, r.status, id, apierror.InvalidAddressFrom(e.problems, e.origin, e.st.maxDetails, e.st.masker.Mask, id).JSON())
		return r.status
	case *upstreamError:
		s.log.Warn("upstream request failed", "request_id", id, "upstream", e.name, "status", r.status, "error", e.err.Error())
		s.answer(ctx, h.login, r, id)
		return r.status
	case *panicError:
		// The panic's value may quote request data (a phone number): its
		// type and the stack locate the bug without it.
		s.log.Error("panic while handling a request", "request_id", id, "panic_type", fmt.Sprintf("%T", e.value), "stack", string(e.stack))
		ctx.Response.Reset()
	case *clientBodyError:
		if e.aborted {
			// The client, not the upstream, failed: its body stopped
			// coming, or broke its framing. The error may quote a
			// trailer's value: only its reason is logged.
			logMsg = "the client's request body failed; the upstream request was aborted"
		}
	}
	if logMsg != "" {
		s.logRefusal(logMsg, id, r)
	}
	s.answer(ctx, h.login, r, id)
	ctx.SetConnectionClose()
	return r.status
}

func (s *Server) logRefusal(msg, id string, r refusal) {
	if r.header != "" {
		s.log.Info(msg, "request_id", id, "status", r.status, "reason", r.reason, "header", r.header)
	} else {
		s.log.Info(msg, "request_id", id, "status", r.status, "reason", r.reason)
	}
}

// answer writes r in Genesys's API format, or in the OAuth format of
// Genesys's login host for a request routed there.
func (s *Server) answer(ctx *fasthttp.RequestCtx, login bool, r refusal, id string) {
	if login {
		writeError(ctx, r.status, id, apierror.NewOAuth(r.status, r.msg).JSON())
		return
	}
	writeError(ctx, r.status, id, apierror.New(r.status, r.code, r.msg, id).JSON())
}

// writeError writes a callfix error body with the request ID in
// X-Request-Id and in ININ-Correlation-Id, the header Genesys's own errors
// carry and SDKs read into their errors (the Go SDK's shows it in brackets).
func writeError(ctx *fasthttp.RequestCtx, status int, id string, body []byte) {
	ctx.Response.Header.DisableNormalizing()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Request-Id", id)
	ctx.Response.Header.Set("ININ-Correlation-Id", id)
	ctx.SetBody(body)
}

// serverError answers what fasthttp itself refuses (malformed requests,
// timeouts reading a request, oversized headers) in Genesys's format. The
// log says why with a reason code and, when the connection saw it, the
// header's name: fasthttp's error text quotes header values, so it is
// never logged.
func (s *Server) serverError(ctx *fasthttp.RequestCtx, err error) {
	s.forgetEarly(&ctx.Request.Header)
	r := statusFor(&requestError{err: err})
	if wc := watchOf(ctx.Conn()); wc != nil && r.header == "" && (r.reason == "invalid_header_value" || r.reason == "invalid_header_name") {
		r.header = wc.badHeader()
	}
	h := head{login: s.state.Load().loginTarget(ctx.Request.Header.RequestURI())}
	s.fail(ctx, &h, r, "refused a malformed request")
}

// busyAnswer is the 503 for a connection beyond server.max_conns, given
// what the client sent of its request head: with the client's request ID
// when it sent a sane one, in the OAuth format on the login routes.
func (s *Server) busyAnswer(head []byte) []byte {
	const msg = "callfix is serving server.max_conns connections already; retry later"
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i+2]
	}
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	var clientID []byte
	for it := (headerIter{raw: rest}); it.next(); {
		if bytes.EqualFold(it.key, hdrRequestID) {
			clientID = it.value
			break
		}
	}
	id := s.idFrom(clientID)
	login := false
	if f := bytes.Fields(line); len(f) == 3 {
		login = s.state.Load().loginTarget(f[1])
	}
	var body []byte
	if login {
		body = apierror.NewOAuth(503, msg).JSON()
	} else {
		body = apierror.New(503, apierror.CodeServerBusy, msg, id).JSON()
	}
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nX-Request-Id: " + id +
		"\r\nININ-Correlation-Id: " + id + "\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// requestID returns the request's ID, made once: the client's X-Request-Id
// (the first, which inspect took) when it is a sane token, or callfix's
// own: 8 hex digits of this process and fasthttp's ID of the request (its
// connection and its number on it). Every answer, log line, span and audit
// record of the request carries it.
func (h *head) requestID(s *Server, ctx *fasthttp.RequestCtx) string {
	if h.id == "" {
		v := h.clientID
		if !h.headersRead {
			// Refused before inspect read the whole header block.
			v = header(&ctx.Request.Header, hdrRequestID)
		}
		if saneID(v) {
			h.id = string(v)
		} else {
			h.id = s.idPrefix + "-" + strconv.FormatUint(ctx.ID(), 16)
		}
	}
	return h.id
}

// idFrom returns the client's request ID v when it is a sane token, or a
// new one, for a connection refused before fasthttp saw it.
func (s *Server) idFrom(v []byte) string {
	if saneID(v) {
		return string(v)
	}
	return s.idPrefix + "-b" + strconv.FormatUint(s.idSeq.Add(1), 16)
}

func saneID(v []byte) bool { return len(v) > 0 && len(v) <= 128 && isToken(v) }
