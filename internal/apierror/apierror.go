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

// InvalidAddress returns the 400 body for addresses callfix cannot repair in
// enforce mode: the message names each field and why, with its value passed
// through mask (which may return "" to omit it).
func InvalidAddress(problems []rewrite.Problem, mask func(string) string, contextID string) Body {
	var parts []string
	details := make([]Detail, 0, len(problems))
	for _, p := range problems {
		s := p.Path
		if m := mask(p.Value); m != "" {
			s += " (" + strconv.Quote(m) + ")"
		}
		parts = append(parts, s+" "+strings.TrimPrefix(p.Message(), p.Path+" "))
		details = append(details, Detail{ErrorCode: CodeInvalidAddress + "." + p.Reason.Code(), FieldName: p.Path})
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

// JSON returns the body encoded, without HTML escaping and without a
// trailing newline.
func (b Body) JSON() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		// Only strings, ints and maps of strings: encoding cannot fail.
		return []byte(`{"message":"internal error","code":"callfix.internal","status":500}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
