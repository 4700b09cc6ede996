package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/callfix/callfix/internal/testsupport"
	"github.com/callfix/callfix/internal/testsupport/upstreamtest"
)

// Token is what the login upstream answers to POST /oauth/token.
const Token = `{"access_token":"tok-123","token_type":"bearer","expires_in":86400}`

// User is what the API upstream answers to GET /api/v2/users/me.
const User = `{"id":"2ca3b6e8-0000-4000-8000-000000000001","name":"Ada Example","email":"ada@example.com","state":"active","username":"ada@example.com","version":3,"selfUri":"/api/v2/users/2ca3b6e8-0000-4000-8000-000000000001"}`

// Conversation is what the API upstream answers to a call-creating POST.
const Conversation = `{"id":"3f1a9c2e-0000-4000-8000-000000000009","selfUri":"/api/v2/conversations/calls/3f1a9c2e-0000-4000-8000-000000000009"}`

// Variant is one callfix instance of a rig: a name and its extra flags.
type Variant struct {
	Name string
	Args []string
}

// Plain is callfix as README tells Go, Python and .NET users to run it.
var Plain = Variant{Name: "callfix"}

// Gateway is callfix for the JavaScript SDK's setGateway with
// path_params_login 'login' and path_params_api 'api'.
var Gateway = Variant{Name: "gateway", Args: []string{"--set", "gateway.login_prefixes=/login", "--set", "gateway.api_prefixes=/api"}}

// Instance is one running callfix with its two recording upstreams.
type Instance struct {
	Name  string
	Addr  string // callfix's listen address, 127.0.0.1:PORT
	Admin string // callfix's admin address
	Login *upstreamtest.Upstream
	API   *upstreamtest.Upstream

	cmd *exec.Cmd
	srv *testsupport.Serve
	log testsupport.Buffer
}

// Log returns what callfix has logged so far.
func (in *Instance) Log() string { return in.log.String() }

// Running reports whether the callfix process has not exited.
func (in *Instance) Running() bool { return in.srv.Running() }

// Rig is a set of callfix instances and the control endpoint.
type Rig struct {
	Instances []*Instance
	// Control is the control endpoint's base URL, http://127.0.0.1:PORT.
	Control string

	srv  *http.Server
	once sync.Once
}

// Start runs binary (a built callfix) once per variant, Plain and Gateway
// when none are given, and the control endpoint. Close stops everything;
// on an error nothing is left running.
func Start(binary string, variants ...Variant) (*Rig, error) {
	if len(variants) == 0 {
		variants = []Variant{Plain, Gateway}
	}
	r := &Rig{}
	for _, v := range variants {
		in, err := startInstance(binary, v)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.Instances = append(r.Instances, in)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("control endpoint: %w", err)
	}
	r.Control = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: r.handler(), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// Instance returns the instance named name, or nil.
func (r *Rig) Instance(name string) *Instance {
	for _, in := range r.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// Info maps each instance's name to its callfix address, and "rig" to the
// control endpoint: the JSON line the rig program prints.
func (r *Rig) Info() map[string]string {
	m := map[string]string{"rig": r.Control}
	for _, in := range r.Instances {
		m[in.Name] = in.Addr
	}
	return m
}

// Env is the environment a test process needs: CALLFIX_RIG, the control
// endpoint.
func (r *Rig) Env() []string { return []string{"CALLFIX_RIG=" + r.Control} }

// Logs returns every instance's log, for failure messages.
func (r *Rig) Logs() string {
	var b strings.Builder
	for _, in := range r.Instances {
		fmt.Fprintf(&b, "--- callfix %s (%s) log:\n%s", in.Name, in.Addr, in.Log())
	}
	return b.String()
}

// Close stops the control endpoint, every callfix (SIGTERM, SIGKILL after
// 5 s) and every upstream. It is safe to call more than once.
func (r *Rig) Close() {
	r.once.Do(func() {
		if r.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.srv.Shutdown(ctx)
			cancel()
			r.srv.Close()
		}
		var wg sync.WaitGroup
		for _, in := range r.Instances {
			wg.Add(1)
			go func() { defer wg.Done(); in.stop() }()
		}
		wg.Wait()
	})
}

func startInstance(binary string, v Variant) (*Instance, error) {
	in := &Instance{Name: v.Name}
	var err error
	if in.Login, err = upstreamtest.Listen(LoginHandler); err != nil {
		return nil, err
	}
	if in.API, err = upstreamtest.Listen(APIHandler); err != nil {
		in.Login.Close()
		return nil, err
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream-api", in.API.URL, "--upstream-login", in.Login.URL,
		// Nothing routes to a test instance by readiness: stop at once.
		"--set", "server.shutdown_delay=0"}
	in.cmd = exec.Command(binary, append(args, v.Args...)...)
	in.cmd.Env = testsupport.CleanEnv(os.Environ())
	in.cmd.Stdout = &in.log
	setProcAttr(in.cmd, false)
	srv, err := testsupport.StartServe(in.cmd, func(line []byte) { in.log.Write(append(line, '\n')) })
	if err != nil {
		in.closeUpstreams()
		return nil, fmt.Errorf("starting callfix %s: %w", v.Name, err)
	}
	in.srv = srv
	if in.Addr, in.Admin, err = srv.Serving(15*time.Second, nil); err != nil {
		in.stop()
		return nil, fmt.Errorf("callfix %s %v (%v):\n%s", v.Name, err, srv.Err(), in.Log())
	}
	return in, nil
}

// stop ends callfix, politely first, and the upstreams.
func (in *Instance) stop() {
	if in.Running() {
		terminate(in.cmd)
		select {
		case <-in.srv.Exited():
		case <-time.After(5 * time.Second):
			in.srv.Kill()
		}
	}
	in.closeUpstreams()
}

func (in *Instance) closeUpstreams() {
	if in.Login != nil {
		in.Login.Close()
	}
	if in.API != nil {
		in.API.Close()
	}
}

// Header is one header line as it arrived.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Recorded is one request as an upstream received it.
type Recorded struct {
	Method  string   `json:"method"`
	Target  string   `json:"target"`
	Proto   string   `json:"proto"`
	Headers []Header `json:"headers"`
	Body    string   `json:"body"`
	Conn    int      `json:"conn"`
}

// Records converts what an upstream recorded.
func Records(u *upstreamtest.Upstream) []Recorded {
	out := []Recorded{}
	for _, q := range u.Requests() {
		rec := Recorded{Method: q.Method, Target: q.Target, Proto: q.Proto, Body: string(q.Body), Conn: q.Conn, Headers: []Header{}}
		for _, h := range q.Header {
			rec.Headers = append(rec.Headers, Header(h))
		}
		out = append(out, rec)
	}
	return out
}

func (r *Rig) handler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	instance := func(w http.ResponseWriter, q *http.Request) *Instance {
		name := q.URL.Query().Get("instance")
		in := r.Instance(name)
		if in == nil {
			http.Error(w, fmt.Sprintf("no instance %q: the rig has %v", name, r.Info()), http.StatusNotFound)
		}
		return in
	}
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, q *http.Request) { writeJSON(w, r.Info()) })
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, q *http.Request) {
		in := instance(w, q)
		if in == nil {
			return
		}
		switch up := q.URL.Query().Get("upstream"); up {
		case "login":
			writeJSON(w, Records(in.Login))
		case "api":
			writeJSON(w, Records(in.API))
		default:
			http.Error(w, fmt.Sprintf("upstream %q: use login or api", up), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, q *http.Request) {
		if in := instance(w, q); in != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, in.Log())
		}
	})
	return mux
}

func jsonResponse(status int, body string) upstreamtest.Response {
	return upstreamtest.Response{Status: status, Header: []upstreamtest.Header{
		{Name: "Content-Type", Value: "application/json"},
		{Name: "ININ-Correlation-Id", Value: "c0ffee00-0000-4000-8000-000000000001"},
	}, Body: []byte(body)}
}

func notFound(host string, q *upstreamtest.Request) upstreamtest.Response {
	msg := fmt.Sprintf("the %s upstream has no %s %s", host, q.Method, q.Target)
	b, _ := json.Marshal(map[string]any{"message": msg, "code": "not.found", "status": 404,
		"messageWithParams": msg, "messageParams": map[string]string{}, "contextId": "e2e-not-found", "details": []any{}, "errors": []any{}})
	return jsonResponse(404, string(b))
}

func path(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

// LoginHandler answers POST /oauth/token with Token, anything else 404.
func LoginHandler(q *upstreamtest.Request) upstreamtest.Response {
	if q.Method == "POST" && path(q.Target) == "/oauth/token" {
		return jsonResponse(200, Token)
	}
	return notFound("login", q)
}

// APIHandler answers GET /api/v2/users/me with User and the call-creating
// POSTs with Conversation; anything else 404 (a request that lost or kept
// a gateway prefix shows up as a 404 in the client).
func APIHandler(q *upstreamtest.Request) upstreamtest.Response {
	p := path(q.Target)
	switch {
	case q.Method == "GET" && p == "/api/v2/users/me":
		return jsonResponse(200, User)
	case q.Method == "POST" && (p == "/api/v2/conversations/calls" || strings.HasPrefix(p, "/api/v2/conversations/calls/user/")):
		return jsonResponse(200, Conversation)
	}
	return notFound("api", q)
}

// RunTests runs a test command (node --test) in dir with env, writing its
// output to out, and kills it with everything it started when ctx ends.
func RunTests(ctx context.Context, dir string, env []string, out io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd, true)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	// Test runners start workers: none may outlive the run.
	killGroup(cmd)
	if ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return err
}
