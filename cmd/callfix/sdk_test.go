package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callfix/callfix/e2e"
	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// sdkRig starts callfix (the binary of TestMain) with recording upstreams;
// it stops when the test ends.
func sdkRig(t *testing.T, variants ...e2e.Variant) *e2e.Rig {
	t.Helper()
	r, err := e2e.Start(binary, variants...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// sdkHTTP is the Go SDK's transport as it talks to callfix: loopback, never
// through an environment proxy.
var sdkHTTP = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 20 * time.Second}

// sdkGoClient does what the Go (platformclientv2), Python and .NET SDKs do
// with a base path: the login URL is the base path with //api. replaced by
// //login., the token comes from a client-credentials POST, and API calls
// carry it as a bearer token.
type sdkGoClient struct {
	basePath, loginURL, token string
}

func newSDKGoClient(basePath string) *sdkGoClient {
	return &sdkGoClient{basePath: basePath, loginURL: strings.Replace(basePath, "//api.", "//login.", 1)}
}

func (c *sdkGoClient) authorizeClientCredentials(t *testing.T, id, secret string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	req, err := http.NewRequest("POST", c.loginURL+"/oauth/token", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(id, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body := sdkDo(t, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("POST %s/oauth/token = %d %s, want 200 and a token", c.loginURL, status, body)
	}
	c.token = tok.AccessToken
}

// call sends an API request as the SDKs do: JSON in and out, bearer token.
func (c *sdkGoClient) call(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.basePath+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "PureCloud SDK/go")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return sdkDo(t, req)
}

func sdkDo(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := sdkHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, b
}

// sdkNew returns what up received after the first n requests.
func sdkNew(up *upstreamtest.Upstream, n int) []upstreamtest.Request { return up.Requests()[n:] }

// The platformclientv2 model of POST /api/v2/conversations/calls, as the Go
// SDK marshals it: pointers, omitempty, in the SDK's field order.
type sdkCreateCallRequest struct {
	PhoneNumber     *string           `json:"phoneNumber,omitempty"`
	CallerId        *string           `json:"callerId,omitempty"`
	CallerIdName    *string           `json:"callerIdName,omitempty"`
	CallFromQueueId *string           `json:"callFromQueueId,omitempty"`
	CallQueueId     *string           `json:"callQueueId,omitempty"`
	CallUserId      *string           `json:"callUserId,omitempty"`
	Priority        *int              `json:"priority,omitempty"`
	LanguageId      *string           `json:"languageId,omitempty"`
	RoutingSkillIds *[]string         `json:"routingSkillsIds,omitempty"`
	ConversationIds *[]string         `json:"conversationIds,omitempty"`
	Participants    *[]sdkDestination `json:"participants,omitempty"`
	UuiData         *string           `json:"uuiData,omitempty"`
	ExternalContact *string           `json:"externalContactId,omitempty"`
}

type sdkDestination struct {
	Address *string `json:"address,omitempty"`
	Name    *string `json:"name,omitempty"`
}

func sdkStr(s string) *string { return &s }

const sdkUUID = "2ca3b6e8-0000-4000-8000-000000000001"

// The Go, Python and .NET SDKs with their base path swapped to callfix: the
// token request reaches the login upstream, call bodies reach the API
// upstream repaired, other calls pass untouched, an unfixable number is
// answered 400 in Genesys's format and never forwarded.
func TestSDK_GoPythonDotNet_BasePathSwap(t *testing.T) {
	in := sdkRig(t, e2e.Plain).Instance(e2e.Plain.Name)
	c := newSDKGoClient("http://" + in.Addr)
	if c.loginURL != c.basePath {
		t.Fatalf("login URL %q, want the base path %q unchanged", c.loginURL, c.basePath)
	}

	c.authorizeClientCredentials(t, "id", "secret")
	if c.token != "tok-123" {
		t.Errorf("token = %q, want the login upstream's tok-123", c.token)
	}
	logins := in.Login.Requests()
	if len(logins) != 1 || logins[0].Method != "POST" || logins[0].Target != "/oauth/token" || string(logins[0].Body) != "grant_type=client_credentials" {
		t.Fatalf("the login upstream got %+v, want one POST /oauth/token grant_type=client_credentials", logins)
	}
	if got := logins[0].Get("Authorization"); len(got) != 1 || got[0] != "Basic aWQ6c2VjcmV0" {
		t.Errorf("token request Authorization = %q, want [Basic aWQ6c2VjcmV0]", got)
	}
	if n := in.API.Count(); n != 0 {
		t.Errorf("the API upstream got %d requests during login, want 0", n)
	}

	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"national number", sdkCreateCallRequest{PhoneNumber: sdkStr("(317) 555-0100")}, `{"phoneNumber":"tel:+13175550100"}`},
		{"raw user ID in participants", sdkCreateCallRequest{Participants: &[]sdkDestination{{Address: sdkStr(sdkUUID)}}}, `{"participants":[{"address":"user:` + sdkUUID + `"}]}`},
		{"callUserId stays raw", sdkCreateCallRequest{PhoneNumber: sdkStr("317-555-0100"), CallerId: sdkStr("tel:317.555.0199"), CallUserId: sdkStr(sdkUUID)},
			`{"phoneNumber":"tel:+13175550100","callerId":"+13175550199","callUserId":"` + sdkUUID + `"}`},
		// Legacy integrations that send maps: encoding/json sorts the keys.
		{"seed shape", map[string]any{"to": map[string]any{"to": "13172224567"}, "from": map[string]any{"from": sdkUUID}},
			`{"from":{"from":"user:` + sdkUUID + `"},"to":{"to":"tel:+13172224567"}}`},
	} {
		n := in.API.Count()
		status, answer := c.call(t, "POST", "/api/v2/conversations/calls", tc.body)
		if status != 200 || string(answer) != e2e.Conversation {
			t.Errorf("%s: answer %d %s, want the upstream's 200 %s", tc.name, status, answer, e2e.Conversation)
		}
		got := sdkNew(in.API, n)
		if len(got) != 1 {
			t.Errorf("%s: the API upstream got %d requests, want 1", tc.name, len(got))
			continue
		}
		q := got[0]
		if q.Method != "POST" || q.Target != "/api/v2/conversations/calls" || string(q.Body) != tc.want {
			t.Errorf("%s: the API upstream got %s %s %s, want POST /api/v2/conversations/calls %s", tc.name, q.Method, q.Target, q.Body, tc.want)
		}
		if auth := q.Get("Authorization"); len(auth) != 1 || auth[0] != "Bearer tok-123" {
			t.Errorf("%s: Authorization = %q, want [Bearer tok-123]", tc.name, auth)
		}
		if cl := q.Get("Content-Length"); len(cl) != 1 || cl[0] != fmt.Sprint(len(tc.want)) {
			t.Errorf("%s: Content-Length = %q, want [%d]", tc.name, cl, len(tc.want))
		}
	}

	n := in.API.Count()
	status, answer := c.call(t, "GET", "/api/v2/users/me?expand=presence%2Cauthorization", nil)
	if status != 200 || string(answer) != e2e.User {
		t.Errorf("GET /api/v2/users/me: %d %s, want the upstream's 200 %s", status, answer, e2e.User)
	}
	if got := sdkNew(in.API, n); len(got) != 1 || got[0].Method != "GET" || got[0].Target != "/api/v2/users/me?expand=presence%2Cauthorization" || len(got[0].Body) != 0 ||
		strings.Join(got[0].Get("Authorization"), ",") != "Bearer tok-123" || strings.Join(got[0].Get("User-Agent"), ",") != "PureCloud SDK/go" {
		t.Errorf("the API upstream got %+v, want the GET untouched", got)
	}

	n = in.API.Count()
	status, answer = c.call(t, "POST", "/api/v2/conversations/calls", sdkCreateCallRequest{PhoneNumber: sdkStr("1-800-FLOWERS")})
	var apiErr struct {
		Code, Message, ContextID string
		Status                   int
		Details                  []struct{ ErrorCode, FieldName string }
	}
	if err := json.Unmarshal(answer, &apiErr); err != nil || status != 400 || apiErr.Code != "callfix.invalid.address" || apiErr.Status != 400 ||
		len(apiErr.Details) != 1 || apiErr.Details[0].FieldName != "phoneNumber" {
		t.Errorf("unfixable number: %d %s, want 400 callfix.invalid.address naming phoneNumber", status, answer)
	}
	if got := sdkNew(in.API, n); len(got) != 0 {
		t.Errorf("unfixable number: the API upstream got %+v, want nothing", got)
	}
	if n := in.Login.Count(); n != 1 {
		t.Errorf("the login upstream got %d requests in all, want only the token request", n)
	}
}

// sdkRoot is the repository's root, two levels above cmd/callfix.
func sdkRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var sdkNodeSummary = regexp.MustCompile(`(?m)^# (pass|fail) (\d+)$`)

// The official JavaScript SDK (e2e/*.test.js, run by `node --test`)
// against this binary, with and without gateway path params.
func TestSDK_JavaScript(t *testing.T) {
	root := sdkRoot(t)
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if b, err := os.ReadFile(filepath.Join(root, "e2e", "package.json")); err != nil || json.Unmarshal(b, &pkg) != nil {
		t.Fatalf("reading e2e/package.json: %v", err)
	}
	const sdk = "purecloud-platform-client-v2"
	var installed struct{ Version string }
	b, err := os.ReadFile(filepath.Join(root, "e2e", "node_modules", sdk, "package.json"))
	if err != nil {
		t.Fatalf("the JavaScript SDK is not installed (no e2e/node_modules/%s): run `make e2e-deps` (npm ci --prefix e2e), then test again", sdk)
	}
	if json.Unmarshal(b, &installed) != nil || installed.Version != pkg.Dependencies[sdk] {
		t.Fatalf("e2e/node_modules has %s %q but e2e/package.json pins %q: run `make e2e-deps` (npm ci --prefix e2e), then test again", sdk, installed.Version, pkg.Dependencies[sdk])
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: install Node.js 20 or later, run `make e2e-deps`, then test again")
	}

	// Node 20 searches a directory given to --test; Node 21 and later take
	// globs and fail on a bare directory. Files named explicitly work on
	// both: this is `node --test e2e/`.
	files, _ := filepath.Glob(filepath.Join(root, "e2e", "*.test.js"))
	if len(files) == 0 {
		t.Fatal("no e2e/*.test.js")
	}
	args := []string{"--test"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		args = append(args, filepath.ToSlash(rel))
	}

	r := sdkRig(t)
	env := append(testsupport.CleanEnv(os.Environ()), r.Env()...)
	// The SDK reads ~/.genesyscloudjavascript/config: a developer's must not count.
	env = append(env, "HOME="+t.TempDir(), "NODE_OPTIONS=")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	err = e2e.RunTests(ctx, root, env, &out, node, args...)
	t.Logf("node %s took %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	counts := map[string]string{}
	for _, m := range sdkNodeSummary.FindAllStringSubmatch(out.String(), -1) {
		counts[m[1]] = m[2]
	}
	if err != nil || counts["fail"] != "0" || counts["pass"] == "" || counts["pass"] == "0" {
		t.Fatalf("node %s: %v (pass %q, fail %q)\n%s\n%s", strings.Join(args, " "), err, counts["pass"], counts["fail"], out.String(), r.Logs())
	}
	if testing.Verbose() {
		t.Logf("node %s: %s passed\n%s", strings.Join(args, " "), counts["pass"], out.String())
	}
}
