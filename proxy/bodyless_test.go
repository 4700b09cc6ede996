package proxy_test

import (
	"strings"
	"testing"
)

// A request without a body reaches the upstream without a Content-Length
// the client did not send, whatever its method.
func TestPassThrough_BodylessRequest_NoContentLengthAdded(t *testing.T) {
	for _, method := range []string{"DELETE", "POST", "OPTIONS", "GET", "PUT"} {
		r := startRig(t, rigOptions{})
		resp := r.do(method + " /api/v2/users/me/x?y=1 HTTP/1.1\r\nHost: c\r\nx-Odd-Case: 1\r\nAuthorization: Bearer t\r\n\r\n")
		if resp.Status != 200 {
			t.Errorf("%s: status = %d, want 200", method, resp.Status)
		}
		got := only(t, "api", r.api)
		raw := string(got.Raw)
		if strings.Contains(strings.ToLower(raw), "content-length") || strings.Contains(strings.ToLower(raw), "transfer-encoding") {
			t.Errorf("%s: upstream got a length the client did not send:\n%s", method, raw)
		}
		if want := method + " /api/v2/users/me/x?y=1 HTTP/1.1\r\nHost: " + r.expand("{api}") + "\r\nx-Odd-Case: 1\r\nAuthorization: Bearer t\r\n"; !strings.HasPrefix(raw, want) {
			t.Errorf("%s: upstream got\n%q\nwant it to start with\n%q", method, raw, want)
		}
		r.stop()
	}
}
