package proxy

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/callfix/callfix/internal/apierror"
)

// statusFor maps every kind of error on the request path to one answer:
// status, code, reason and message, byte for byte what docs/ERRORS.md and
// the socket-level tests pin. Go's error text never reaches the message.
func TestStatusFor_EveryErrorKind(t *testing.T) {
	const secret = "+13172224567 Bearer abc"
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		reason string
		msg    string
	}{
		{"refusal", badRequest("obs_fold", "Accept", "a header line starts with whitespace"),
			400, apierror.CodeBadRequest, "obs_fold", "a header line starts with whitespace"},
		{"415", refusal{status: 415, code: apierror.CodeBadRequest, reason: "unsupported_content_encoding", msg: "m"},
			415, apierror.CodeBadRequest, "unsupported_content_encoding", "m"},
		{"invalid address", &addressRejection{}, 400, apierror.CodeInvalidAddress, "invalid_address", "callfix cannot repair an address"},
		{"body too large", &tooLargeError{what: "request body", limit: 64}, 413, apierror.CodeBodyTooLarge, "body_too_large",
			"the request body is larger than limits.max_body_bytes (64 bytes), the most callfix reads to repair addresses"},
		{"decoded body too large", &tooLargeError{what: "decoded request body", limit: 1024}, 413, apierror.CodeBodyTooLarge, "body_too_large",
			"the decoded request body is larger than limits.max_body_bytes (1024 bytes), the most callfix reads to repair addresses"},
		{"client body timeout", &clientBodyError{err: os.ErrDeadlineExceeded}, 408, apierror.CodeBadRequest, "read_timeout",
			"the request body was not received within server.read_timeout"},
		{"client body cut short", &clientBodyError{err: io.ErrUnexpectedEOF, aborted: true}, 400, apierror.CodeBadRequest, "body_incomplete",
			"callfix could not read the whole request body from the client"},
		{"client body other", &clientBodyError{err: errors.New(secret)}, 400, apierror.CodeBadRequest, "body_incomplete",
			"callfix could not read the whole request body from the client"},
		{"client body bad trailer", &clientBodyError{err: fasthttp.ErrBadTrailer}, 400, apierror.CodeBadRequest, "invalid_trailer",
			"the request's chunked body has a trailer callfix does not accept"},
		{"upstream timeout", &upstreamError{name: "api", err: fasthttp.ErrTimeout}, 504, apierror.CodeUpstreamTimeout, "upstream_timeout",
			"the Genesys Cloud api host did not answer in time"},
		{"upstream dial timeout", &upstreamError{name: "login", err: fasthttp.ErrDialTimeout}, 504, apierror.CodeUpstreamTimeout, "upstream_timeout",
			"the Genesys Cloud login host did not answer in time"},
		{"upstream deadline", &upstreamError{name: "api", err: context.DeadlineExceeded}, 504, apierror.CodeUpstreamTimeout, "upstream_timeout",
			"the Genesys Cloud api host did not answer in time"},
		{"upstream no free conns", &upstreamError{name: "api", err: fasthttp.ErrNoFreeConns}, 502, apierror.CodeUpstreamUnavailable, "upstream_busy",
			"callfix has no free connection to the Genesys Cloud api host: too many requests at once"},
		{"upstream unreachable", &upstreamError{name: "api", err: errors.New(secret)}, 502, apierror.CodeUpstreamUnavailable, "upstream_unavailable",
			"callfix could not reach the Genesys Cloud api host, or it answered with something that is not HTTP"},
		{"panic", &panicError{value: secret}, 500, apierror.CodeInternal, "internal",
			"callfix failed to handle the request; the request was not forwarded if the failure came first"},
		{"unknown", errors.New(secret), 500, apierror.CodeInternal, "internal",
			"callfix failed to handle the request; the request was not forwarded if the failure came first"},
		{"fasthttp read timeout", &requestError{err: os.ErrDeadlineExceeded}, 408, apierror.CodeBadRequest, "read_timeout",
			"the request was not received within server.read_timeout"},
		{"fasthttp version", &requestError{err: errors.New("unsupported http version")}, 400, apierror.CodeBadRequest, "unsupported_version",
			"callfix speaks HTTP/1.1: send the request as HTTP/1.1 (or HTTP/1.0)"},
		{"fasthttp body too large", &requestError{err: fasthttp.ErrBodyTooLarge}, 413, apierror.CodeBodyTooLarge, "body_too_large",
			"the request body is too large"},
		{"fasthttp bare LF", &requestError{err: errBareLF}, 400, apierror.CodeBadRequest, "bare_lf",
			"the request's header block ends with a bare LF: end every line with CRLF and the block with an empty CRLF line"},
		{"fasthttp duplicate length", &requestError{err: fasthttp.ErrDuplicateContentLength}, 400, apierror.CodeBadRequest, "ambiguous_length",
			"the request's length is ambiguous (several Content-Length or Transfer-Encoding headers): send one"},
		{"fasthttp header value", &requestError{err: errors.New("invalid header value " + secret)}, 400, apierror.CodeBadRequest, "invalid_header_value",
			"a header value holds a control character or a bare CR"},
		{"fasthttp host", &requestError{err: errors.New("too many host headers")}, 400, apierror.CodeBadRequest, "duplicate_host",
			"the request has more than one Host header: send one"},
		{"fasthttp other", &requestError{err: errors.New(secret)}, 400, apierror.CodeBadRequest, "malformed_request",
			"callfix could not read the request: it is not valid HTTP/1.1"},
	}
	for _, tc := range cases {
		r := statusFor(tc.err)
		if r.status != tc.status || r.code != tc.code || r.reason != tc.reason || r.msg != tc.msg {
			t.Errorf("%s: statusFor = %d %s %s %q, want %d %s %s %q", tc.name, r.status, r.code, r.reason, r.msg, tc.status, tc.code, tc.reason, tc.msg)
		}
		if strings.Contains(r.msg, secret) {
			t.Errorf("%s: the message quotes the error's text: %q", tc.name, r.msg)
		}
	}
}

// The errors a request path makes stay off the heap: statusFor matches
// them by type, so a rejected request costs no allocation for its error.
func TestStatusFor_NoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	var rej addressRejection
	n := testing.AllocsPerRun(100, func() {
		var err error = &rej
		if statusFor(err).status != 400 {
			t.Fatal("not 400")
		}
		err = badRequest("x", "", "y")
		if statusFor(err).status != 400 {
			t.Fatal("not 400")
		}
	})
	if n != 0 {
		t.Errorf("statusFor allocations = %v, want 0", n)
	}
}
