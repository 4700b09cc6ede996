package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// request is one request the campaign sends.
type request struct {
	method, path string
	header       [][2]string
	body         []byte
}

// marked returns r with the marker and the fault for the upstream.
func (r request) marked(id, fault string) request {
	r.header = append(append([][2]string(nil), r.header...), [2]string{hdrID, id})
	if fault != "" && fault != faultAnswer {
		r.header = append(r.header, [2]string{hdrFault, fault})
	}
	return r
}

func (r request) bytes(keepAlive bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: callfix.chaos\r\n", r.method, r.path)
	for _, h := range r.header {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if !keepAlive {
		b.WriteString("Connection: close\r\n")
	}
	if r.body != nil || r.method == "POST" || r.method == "PUT" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// callRequest is a CreateCallRequest with a national number callfix
// repairs (tel:+13172224567) in every mode but audit.
func callRequest() request {
	return request{method: "POST", path: "/api/v2/conversations/calls",
		header: [][2]string{{"Content-Type", "application/json"}, {"Authorization", "Bearer chaos"}},
		body:   []byte(`{"phoneNumber":"(317) 222-4567"}`)}
}

// getRequest is a pass-through GET.
func getRequest() request {
	return request{method: "GET", path: "/api/v2/users/me", header: [][2]string{{"Authorization", "Bearer chaos"}}}
}

// reply is what came back for one request.
type reply struct {
	status     int
	code       string // a callfix error's code, from its body
	retryAfter string
	body       []byte // at most the first 4 KiB
	closeAsked bool   // Connection: close
}

// client is one connection to callfix that writes requests and reads the
// answers itself: nothing is retried or hidden, as net/http's Transport
// would for a request on a reused connection. A request that gets no
// HTTP answer is an error. It reconnects when asked to (Connection:
// close) and after an error.
type client struct {
	addr      string
	keepAlive bool
	timeout   time.Duration
	c         net.Conn
	br        *bufio.Reader
}

func newClient(addr string, keepAlive bool) *client {
	return &client{addr: addr, keepAlive: keepAlive, timeout: 10 * time.Second}
}

func (k *client) Close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

func (k *client) do(r request) (reply, error) {
	if k.c == nil {
		c, err := net.DialTimeout("tcp", k.addr, k.timeout)
		if err != nil {
			return reply{}, err
		}
		k.c, k.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	k.c.SetDeadline(time.Now().Add(k.timeout))
	var out reply
	_, err := k.c.Write(r.bytes(k.keepAlive))
	if err == nil {
		var resp *http.Response
		if resp, err = http.ReadResponse(k.br, &http.Request{Method: r.method}); err == nil {
			out.status, out.closeAsked, out.retryAfter = resp.StatusCode, resp.Close, resp.Header.Get("Retry-After")
			out.body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
			out.code = errorCode(out.body)
		}
	}
	if err != nil || out.closeAsked || !k.keepAlive {
		k.Close()
	}
	return out, err
}

// errorCode returns the "code" of a Genesys-format error body, or "".
func errorCode(body []byte) string {
	const key = `"code":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return ""
}
