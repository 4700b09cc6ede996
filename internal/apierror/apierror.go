package apierror

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/callfix/callfix/rewrite"
)

// Codes of the errors callfix itself answers (docs/ARCHITECTURE.md, Contracts).
const (
	CodeInvalidAddress      = "callfix.invalid.address"      // 400
	CodeBadRequest          = "callfix.bad.request"          // 400: malformed HTTP framing or headers
	CodeBodyTooLarge        = "callfix.body.too.large"       // 413
	CodeUpstreamUnavailable = "callfix.upstream.unavailable" // 502
	CodeUpstreamTimeout     = "callfix.upstream.timeout"     // 504
	CodeInternal            = "callfix.internal"             // 500
	CodeServerBusy          = "callfix.server.busy"          // 503: beyond server.max_conns
)

// Detail names one field that is wrong.
type Detail struct {
	ErrorCode string `json:"errorCode"`
	FieldName string `json:"fieldName,omitempty"`
}

// Body is a Genesys Cloud error body.
type Body struct {
	Message           string            `json:"message"`
	Code              string            `json:"code"`
	Status            int               `json:"status"`
	MessageWithParams string            `json:"messageWithParams"`
	MessageParams     map[string]string `json:"messageParams"`
	ContextID         string            `json:"contextId"`
	Details           []Detail          `json:"details"`
	Errors            []Body            `json:"errors"`
}

// New returns a body with no details.
func New(status int, code, message, contextID string) Body {
	return Body{Message: message, Code: code, Status: status, MessageWithParams: message,
		MessageParams: map[string]string{}, ContextID: contextID, Details: []Detail{}, Errors: []Body{}}
}

// InvalidAddressFrom returns the 400 body for addresses callfix cannot
// repair in enforce mode: the message names each field and why, with its
// value passed through mask (which may return "" to omit it). Its messages
// for numbers that are not valid in the country they were read in also say
// where that country came from: origin, such as "sent in X-Callfix-Country" or "the default
// country of region eu-west-1; set `country` or send `X-Callfix-Country`"
// (rewrite.Problem.MessageFrom). It lists at most max problems (in details
// and in the message, which then says how many more there are; a negative
// max lists all): a request with thousands of bad addresses gets a small
// answer. The count is always the total.
func InvalidAddressFrom(problems []rewrite.Problem, origin string, max int, mask func(string) string, contextID string) Body {
	listed := problems
	if max >= 0 && len(listed) > max {
		listed = listed[:max]
	}
	parts := make([]string, 0, len(listed)+1)
	details := make([]Detail, 0, len(listed))
	for _, p := range listed {
		s := p.Path
		if m := mask(p.Value); m != "" {
			s += " (" + strconv.Quote(m) + ")"
		}
		parts = append(parts, s+" "+strings.TrimPrefix(p.MessageFrom(origin), p.Path+" "))
		details = append(details, Detail{ErrorCode: CodeInvalidAddress + "." + p.Reason.Code(), FieldName: p.Path})
	}
	if more := len(problems) - len(listed); more > 0 {
		parts = append(parts, "and "+strconv.Itoa(more)+" more")
	}
	noun := "address"
	if len(problems) != 1 {
		noun = "addresses"
	}
	list := strings.Join(parts, "; ")
	b := New(400, CodeInvalidAddress, "callfix cannot repair "+strconv.Itoa(len(problems))+" "+noun+": "+list, contextID)
	b.MessageWithParams = "callfix cannot repair {count} " + noun + ": {problems}"
	b.MessageParams = map[string]string{"count": strconv.Itoa(len(problems)), "problems": list}
	b.Details = details
	return b
}

// UnreadableMessage is the message of the 400 callfix.bad.request enforce
// mode answers to an intercepted body it cannot read as exactly one JSON
// object: it says why, and what to send. Genesys's own JSON reader takes
// some such bodies (UTF-16, data after the object), so callfix, which
// could not inspect them, does not forward them.
func UnreadableMessage(skip rewrite.Skip) string {
	why := "it is " + skip.String()
	switch skip {
	case rewrite.SkipTrailingData:
		why = "there is data after the JSON object"
	case rewrite.SkipNotUTF8:
		why = "it is not UTF-8 (UTF-16 or UTF-32)"
	case rewrite.SkipTooDeep:
		why = "its arrays and objects nest deeper than " + strconv.Itoa(rewrite.MaxNesting) + " levels"
	case rewrite.SkipTruncated:
		why = "it is truncated JSON"
	case rewrite.SkipNotObject:
		why = "it is not a JSON object"
	case rewrite.SkipNotJSON:
		why = "it is not JSON"
	}
	return "callfix cannot read the request body as one JSON object: " + why +
		"; in enforce mode callfix forwards no body it cannot inspect: send exactly one JSON object in UTF-8"
}

// Unreadable returns the 400 body of UnreadableMessage.
func Unreadable(skip rewrite.Skip, contextID string) Body {
	return New(400, CodeBadRequest, UnreadableMessage(skip), contextID)
}

// JSON returns the body encoded, without HTML escaping and without a
// trailing newline.
func (b Body) JSON() []byte {
	return encode(b, `{"message":"internal error","code":"callfix.internal","status":500}`)
}

// OAuth error codes (RFC 6749, sections 4.1.2.1 and 5.2) of callfix's own
// answers on the login routes.
const (
	// OAuthInvalidRequest: the request itself is at fault (400, 408, 413,
	// 431): sending it again unchanged fails again.
	OAuthInvalidRequest = "invalid_request"
	// OAuthServerError: callfix failed (500).
	OAuthServerError = "server_error"
	// OAuthTemporarilyUnavailable: the login host could not be reached or
	// did not answer in time, or callfix is at server.max_conns (502, 503,
	// 504): a later attempt may succeed.
	OAuthTemporarilyUnavailable = "temporarily_unavailable"
)

// OAuth is the error body of Genesys Cloud's login host, which SDKs read
// when a token request fails: the RFC 6749 error code, and the message twice
// (Genesys's description and the standard error_description).
type OAuth struct {
	Error            string `json:"error"`
	Description      string `json:"description"`
	ErrorDescription string `json:"error_description"`
}

// NewOAuth returns the OAuth body of a callfix error with this status.
func NewOAuth(status int, message string) OAuth {
	return OAuth{Error: OAuthCode(status), Description: message, ErrorDescription: message}
}

// OAuthCode maps the status of a callfix error to its OAuth error code:
// temporarily_unavailable for 502, 503 and 504, server_error for any other
// 5xx, invalid_request for the rest.
func OAuthCode(status int) string {
	switch {
	case status == 502 || status == 503 || status == 504:
		return OAuthTemporarilyUnavailable
	case status >= 500:
		return OAuthServerError
	}
	return OAuthInvalidRequest
}

// JSON returns the body encoded, without HTML escaping and without a
// trailing newline.
func (o OAuth) JSON() []byte {
	return encode(o, `{"error":"server_error","description":"internal error","error_description":"internal error"}`)
}

func encode(v any, fallback string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only strings, ints and maps of strings: encoding cannot fail.
		return []byte(fallback)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
