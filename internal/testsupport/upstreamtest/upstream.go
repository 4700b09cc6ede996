package upstreamtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
)

// Header is one header line as received: name in its original case.
type Header struct{ Name, Value string }

// Request is one request as it arrived.
type Request struct {
	// Raw is the request line and header block, byte for byte, with the
	// final blank line.
	Raw    []byte
	Method string
	Target string // the request-target as sent
	Proto  string
	Header []Header
	// Body is the body (de-chunked) unless the upstream discards bodies.
	Body []byte
	// BodyLen and BodySHA256 describe the body even when it is discarded.
	BodyLen    int64
	BodySHA256 string
	// Chunked reports Transfer-Encoding: chunked framing.
	Chunked bool
	// Conn numbers the connection the request came on, from 1.
	Conn int
	// At is when the header block was complete.
	At time.Time
}

// Get returns the values of every header named name (case-insensitively).
func (r *Request) Get(name string) []string {
	var out []string
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Response is what the upstream answers.
type Response struct {
	Status int
	// Header lines, written in this order and case.
	Header []Header
	Body   []byte
	// BodyLen, when Body is nil, sends that many bytes of a repeating
	// pattern without holding them in memory (Content-Length framing).
	BodyLen int64
	// Raw, when set, is written instead of a response (garbage tests).
	Raw []byte
	// Delay waits before answering (timeout tests).
	Delay time.Duration
	// Reset closes the connection with an RST instead of answering.
	Reset bool
	// Close closes the connection without answering.
	Close bool
}

// Handler decides the answer to a request.
type Handler func(*Request) Response

// OK answers 200 with a small Genesys-like JSON body.
func OK(*Request) Response {
	return Response{Status: 200, Header: []Header{{"Content-Type", "application/json"}, {"ININ-Correlation-Id", "c0ffee00-0000-4000-8000-000000000001"}}, Body: []byte(`{"id":"3f1a9c2e-0000-4000-8000-000000000009","selfUri":"/api/v2/conversations/calls/3f1a9c2e"}`)}
}

// Upstream is a running recording server.
type Upstream struct {
	// URL is http://127.0.0.1:PORT.
	URL  string
	Addr string
	// DiscardBodies keeps only the length and hash of bodies.
	DiscardBodies bool

	srv     *testsupport.Conns
	handler Handler
	mu      sync.Mutex
	reqs    []Request
	arrived chan struct{}
}

// Start runs an upstream on a loopback port until the test ends.
func Start(t testing.TB, h Handler) *Upstream {
	t.Helper()
	u, err := Listen(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

// Listen runs an upstream on a loopback port; Close stops it.
func Listen(h Handler) (*Upstream, error) {
	if h == nil {
		h = OK
	}
	u := &Upstream{handler: h, arrived: make(chan struct{}, 1024)}
	srv, err := testsupport.ListenConns(u.serve)
	if err != nil {
		return nil, err
	}
	u.srv, u.Addr, u.URL = srv, srv.Addr, "http://"+srv.Addr
	return u, nil
}

// SetHandler replaces the handler for later requests.
func (u *Upstream) SetHandler(h Handler) { u.mu.Lock(); u.handler = h; u.mu.Unlock() }

// Requests returns a copy of what has arrived so far.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// Count returns how many requests have arrived.
func (u *Upstream) Count() int { u.mu.Lock(); defer u.mu.Unlock(); return len(u.reqs) }

// Wait blocks until n requests have arrived or d passes, and reports
// whether they did.
func (u *Upstream) Wait(n int, d time.Duration) bool {
	deadline := time.After(d)
	for u.Count() < n {
		select {
		case <-u.arrived:
		case <-deadline:
			return u.Count() >= n
		}
	}
	return true
}

// Close stops the server and closes every connection.
func (u *Upstream) Close() { u.srv.Close() }

func (u *Upstream) serve(c net.Conn, n int) {
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		req, err := u.read(br)
		if err != nil {
			return
		}
		req.Conn = n
		u.mu.Lock()
		u.reqs = append(u.reqs, *req)
		h := u.handler
		u.mu.Unlock()
		select {
		case u.arrived <- struct{}{}:
		default:
		}
		resp := h(req)
		if resp.Delay > 0 {
			time.Sleep(resp.Delay)
		}
		switch {
		case resp.Reset:
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			return
		case resp.Close:
			return
		case resp.Raw != nil:
			c.Write(resp.Raw)
			return
		}
		if err := writeResponse(c, &resp, req.Method == "HEAD"); err != nil {
			return
		}
	}
}

func (u *Upstream) read(br *bufio.Reader) (*Request, error) {
	var raw bytes.Buffer
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	raw.Write(line)
	parts := strings.SplitN(strings.TrimRight(string(line), "\r\n"), " ", 3)
	if len(parts) != 3 {
		return nil, errors.New("bad request line")
	}
	req := &Request{Method: parts[0], Target: parts[1], Proto: parts[2]}
	contentLength := int64(-1)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		raw.Write(line)
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return nil, errors.New("bad header line")
		}
		value = strings.TrimSpace(value)
		req.Header = append(req.Header, Header{name, value})
		switch strings.ToLower(name) {
		case "content-length":
			contentLength, _ = strconv.ParseInt(value, 10, 64)
		case "transfer-encoding":
			req.Chunked = strings.EqualFold(value, "chunked")
		}
	}
	req.Raw = raw.Bytes()
	req.At = time.Now()
	var body io.Reader
	switch {
	case req.Chunked:
		// net/http's own decoder: a body that ends before its last
		// chunk is io.ErrUnexpectedEOF, so io.Copy fails and the request
		// is not recorded.
		body = httputil.NewChunkedReader(br)
	case contentLength > 0:
		body = io.LimitReader(br, contentLength)
	default:
		body = bytes.NewReader(nil)
	}
	h := sha256.New()
	var keep bytes.Buffer
	w := io.Writer(h)
	if !u.DiscardBodies {
		w = io.MultiWriter(h, &keep)
	}
	n, err := io.Copy(w, body)
	if err != nil {
		return nil, err
	}
	if req.Chunked {
		if err := readTrailers(br); err != nil {
			return nil, err
		}
	}
	if contentLength > 0 && n != contentLength {
		return nil, io.ErrUnexpectedEOF
	}
	req.BodyLen, req.BodySHA256 = n, hex.EncodeToString(h.Sum(nil))
	if !u.DiscardBodies {
		req.Body = keep.Bytes()
	}
	return req, nil
}

// readTrailers reads what follows a chunked body's last chunk: trailer
// lines, then the blank line. httputil's chunked reader stops before them
// (net/http reads them itself); a body that ends before the blank line is
// cut off, not complete.
func readTrailers(br *bufio.Reader) error {
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if strings.TrimRight(l, "\r\n") == "" {
			return nil
		}
	}
}

func writeResponse(c net.Conn, r *Response, head bool) error {
	bw := bufio.NewWriterSize(c, 64<<10)
	status := r.Status
	if status == 0 {
		status = 200
	}
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, statusText(status))
	hasLen := false
	for _, h := range r.Header {
		if strings.EqualFold(h.Name, "Content-Length") {
			hasLen = true
		}
		fmt.Fprintf(bw, "%s: %s\r\n", h.Name, h.Value)
	}
	size := int64(len(r.Body))
	if r.Body == nil {
		size = r.BodyLen
	}
	if !hasLen {
		fmt.Fprintf(bw, "Content-Length: %d\r\n", size)
	}
	bw.WriteString("\r\n")
	if !head {
		if r.Body != nil {
			bw.Write(r.Body)
		} else {
			var chunk [32 << 10]byte
			for i := range chunk {
				chunk[i] = byte('a' + i%26)
			}
			for left := size; left > 0; {
				n := min(left, int64(len(chunk)))
				if _, err := bw.Write(chunk[:n]); err != nil {
					return err
				}
				left -= n
			}
		}
	}
	return bw.Flush()
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status"
}
