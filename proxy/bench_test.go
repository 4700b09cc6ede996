package proxy

import (
	"strconv"
	"testing"
)

func benchProxy(b *testing.B, raw []byte, wantStatus int) {
	benchProxyWith(b, nil, raw, wantStatus)
}

// benchProxyWith is benchProxy with config overrides.
func benchProxyWith(b *testing.B, flags map[string]string, raw []byte, wantStatus int) {
	run := inmemRoundTrip(b, inmemProxy(b, flags), raw, wantStatus)
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}

// benchRewrite is benchProxy for a body that must reach the upstream
// repaired: it fails when nothing was rewritten.
func benchRewrite(b *testing.B, raw []byte) {
	before := rewrittenSeen.Load()
	benchProxy(b, raw, 200)
	if rewrittenSeen.Load() == before {
		b.Fatal("the upstream never received a repaired body: the benchmark measured no rewrite")
	}
}

// BenchmarkProxy_Passthrough: a GET that is not intercepted, through the
// handler to an in-memory upstream and back.
func BenchmarkProxy_Passthrough(b *testing.B) { benchProxy(b, passthroughRequest, 200) }

const callBody = `{"phoneNumber":"(317) 555-0100","callerId":"3175550199","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}]}`

// BenchmarkProxy_InterceptedCall: a CreateCallRequest with two numbers to
// repair, read, rewritten and forwarded.
func BenchmarkProxy_InterceptedCall(b *testing.B) {
	raw := []byte("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: callfix.local\r\nAuthorization: Bearer abc.def.ghi\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(callBody)) + "\r\n\r\n" + callBody)
	benchRewrite(b, raw)
}

// BenchmarkProxy_InterceptedCanonical: the same call already canonical.
func BenchmarkProxy_InterceptedCanonical(b *testing.B) {
	body := `{"phoneNumber":"tel:+13175550100","callerId":"+13175550199","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"user:2ca3b6e8-0000-4000-8000-000000000001"}]}`
	raw := []byte("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: callfix.local\r\nAuthorization: Bearer abc.def.ghi\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	benchProxy(b, raw, 200)
}

func callRequest(body string) []byte {
	return []byte("POST /api/v2/conversations/calls HTTP/1.1\r\nHost: callfix.local\r\nAuthorization: Bearer abc.def.ghi\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

// BenchmarkProxy_InterceptedKept: the call with an emergency number, an
// extension and a network address, all kept and forwarded as sent.
func BenchmarkProxy_InterceptedKept(b *testing.B) {
	body := `{"phoneNumber":"911","callerId":"+13175550199","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"tel:30005"},{"address":"ForceDisconnect@localhost"}]}`
	before := rewrittenSeen.Load()
	benchProxy(b, callRequest(body), 200)
	if rewrittenSeen.Load() != before {
		b.Fatal("the upstream received a body with tel:+1: the kept values were changed")
	}
}

// notValidBody holds a Sydney number written nationally: possible in the
// US (the region's country), not valid there.
const notValidBody = `{"phoneNumber":"(02) 9374 4000","callerId":"3175550199","callFromQueueId":"7d3cd1a5-2f0e-4c8b-9b3f-0b1c5a8e9d21","participants":[{"address":"(317) 555-0100"}]}`

// BenchmarkProxy_InterceptedNotValid_Enforce: a number not valid in the
// country it is read in: enforce mode answers 400 not_valid_in_country.
func BenchmarkProxy_InterceptedNotValid_Enforce(b *testing.B) {
	benchProxy(b, callRequest(notValidBody), 400)
}

// BenchmarkProxy_InterceptedNotValid_Rewrite: the same in rewrite mode: the
// number is forwarded as sent, callerId and the participant repaired.
func BenchmarkProxy_InterceptedNotValid_Rewrite(b *testing.B) {
	before := rewrittenSeen.Load()
	benchProxyWith(b, map[string]string{"mode": "rewrite"}, callRequest(notValidBody), 200)
	if rewrittenSeen.Load() == before {
		b.Fatal("the upstream never received the repaired participant")
	}
}
