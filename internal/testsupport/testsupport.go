package testsupport

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// CleanEnv returns environ without what would make a child behave
// differently from one machine to the next: CALLFIX_* and OTEL_* (callfix
// configuration) and proxy variables (a test talks to loopback only), in
// any letter case. NO_PROXY=* (both spellings) is added so that no HTTP
// library sends loopback traffic to a proxy.
func CleanEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		if strings.HasPrefix(u, "CALLFIX_") || strings.HasPrefix(u, "OTEL_") ||
			u == "HTTP_PROXY" || u == "HTTPS_PROXY" || u == "ALL_PROXY" || u == "NO_PROXY" {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "NO_PROXY=*", "no_proxy=*")
}

// Buffer is a bytes.Buffer that is safe for concurrent use: a child's
// stderr or a logger writes while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ParseMetrics parses the Prometheus text exposition format (UTF-8 metric
// names allowed), as /metrics serves it.
func ParseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// ScrapeMetrics fetches url with GET and parses the body as
// [ParseMetrics] does.
func ScrapeMetrics(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return ParseMetrics(resp.Body)
}

// ServeMetrics asks a /metrics handler in memory, as the admin server
// would, and returns its status, Content-Type and body.
func ServeMetrics(h http.Handler) (status int, contentType, body string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}
