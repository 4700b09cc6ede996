package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/callfix/callfix/config"
	"github.com/callfix/callfix/internal/telemetry"
	"github.com/callfix/callfix/internal/version"
	"github.com/callfix/callfix/proxy"
)

const serveHelp = `Usage: callfix [serve] [flags]

Runs the proxy: integrations change their Genesys Cloud base URL to
http://HOST:8080 and callfix forwards every request to the region's API
host (/oauth/* to its login host), repairing the addresses in call requests.

  proxy    --listen (default :8080)
  admin    --admin-listen (default 127.0.0.1:9090): /healthz, /readyz, /metrics

Configuration: defaults, then --config FILE (or $CALLFIX_CONFIG), then
CALLFIX_* variables, then flags; 'callfix config' shows the result and
docs/CONFIG.md lists every key. The config file is watched and reloaded on
change and on SIGHUP. SIGTERM or SIGINT: readiness turns false and callfix
keeps accepting and serving for server.shutdown_delay (5s: time for
Kubernetes to stop routing to it; responses then ask clients to
reconnect; a second signal ends the delay), then it accepts no new
connections, requests in flight finish within server.shutdown_grace, and
callfix exits 0.

Exit status: 0 after a clean shutdown, 1 when a listener cannot start or
shutdown timed out, 2 for bad usage or configuration.
`

func runServe(args []string, env Env) int {
	fs := newFlagSet("serve", serveHelp, env)
	cf := addConfigFlags(fs)
	if code, ok := parseNoArgs(fs, args, env, " (the config file goes in --config)"); !ok {
		return code
	}
	// The signals are ours before anything is loaded: Go's default action
	// for SIGHUP ends the process, and a SIGHUP sent while the
	// configuration loads (a deploy tool reloading at once) must be a
	// reload, not a crash. It waits in the channel until the watch runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Room for two: a second signal, however soon, ends the shutdown delay.
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)

	log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mgr, ok := cf.manager("serve", env, log)
	if !ok {
		return ExitUsage
	}
	snap := mgr.Current()
	c := snap.Config
	warnDangerous(log, &c)

	tel, closeAudit, err := newTelemetry(&c, env, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix serve: %v\n", err)
		return ExitUsage
	}
	defer closeAudit()
	mgr.OnReload(tel.ConfigReloaded)

	srv, err := proxy.New(proxy.Options{Config: mgr, Logger: log, Telemetry: tel, TLS: c.TLS.CertFile != ""})
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix serve: %v\n", err)
		return ExitUsage
	}
	// Each reloaded snapshot goes to the proxy before it is swapped in: a
	// snapshot the proxy cannot serve (an unreadable upstream.ca_file)
	// keeps the running one.
	mgr.SetApply(srv.Apply)
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		fmt.Fprintf(env.Stderr, "callfix serve: cannot listen on %s (listen): %v\n", c.Listen, err)
		return 1
	}
	adminLn, err := net.Listen("tcp", c.AdminListen)
	if err != nil {
		ln.Close()
		fmt.Fprintf(env.Stderr, "callfix serve: cannot listen on %s (admin_listen): %v\n", c.AdminListen, err)
		return 1
	}
	admin := &fasthttp.Server{Handler: srv.AdminHandler(fasthttpadaptor.NewFastHTTPHandler(tel.MetricsHandler())), NoDefaultServerHeader: true, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, CloseOnShutdown: true}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		if c.TLS.CertFile != "" {
			errc <- srv.ServeTLS(ln, c.TLS.CertFile, c.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	go func() { errc <- admin.Serve(adminLn) }()
	go mgr.Watch(ctx)
	go mgr.WatchSignals(ctx, hup)

	// The listeners are bound, so connections queue from now on: ready.
	srv.SetReady(true)
	log.Info("callfix serving", "version", version.Version, "listen", ln.Addr().String(), "admin_listen", adminLn.Addr().String(),
		"region", snap.Region.Name, "api", c.Upstream.API, "login", c.Upstream.Login, "country", snap.Country, "mode", c.Mode,
		"config_file", snap.File)

	select {
	case sig := <-term:
		if code, ok := drain(log, srv, mgr.Current().Config.Server, sig, term, errc); !ok {
			return code
		}
	case err := <-errc:
		log.Error("a listener stopped", "error", err.Error())
		return 1
	}
	return shutdown(log, srv, admin, tel, mgr.Current().Config.Server.ShutdownGrace)
}

// shutdown is the end of a shutdown, after drain: the proxy stops
// accepting and finishes the requests in flight within grace, then the
// admin server closes and the telemetry is flushed. It returns the exit
// code: 1 when requests were still in flight at the end of grace.
func shutdown(log *slog.Logger, srv *proxy.Server, admin *fasthttp.Server, tel *telemetry.Telemetry, grace time.Duration) int {
	log.Info("closing the listener, finishing requests in flight", "grace", grace.String(), "in_flight", srv.InFlight())
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	code := 0
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown grace period ended with requests still in flight", "in_flight", srv.InFlight(), "error", err.Error())
		code = 1
	}
	_ = admin.Shutdown()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := tel.Shutdown(fctx); err != nil {
		log.Warn("flushing telemetry at shutdown failed; some spans may be lost", "error", err.Error())
	}
	log.Info("callfix stopped")
	return code
}

// drain is the first part of a shutdown: readiness turns false at once and
// callfix goes on accepting and serving for server.shutdown_delay, so that
// the clients whose endpoint lists still name this instance are served,
// not refused; a second signal ends the delay. It returns false (and the
// exit code) when a listener failed meanwhile.
func drain(log *slog.Logger, srv *proxy.Server, c config.ServerConfig, sig os.Signal, term <-chan os.Signal, errc <-chan error) (int, bool) {
	srv.Drain()
	log.Info("shutting down: readiness is false; serving on until the shutdown delay ends, then finishing requests in flight",
		"signal", sig.String(), "delay", c.ShutdownDelay.String(), "grace", c.ShutdownGrace.String(), "in_flight", srv.InFlight())
	if c.ShutdownDelay <= 0 {
		return 0, true
	}
	timer := time.NewTimer(c.ShutdownDelay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case sig := <-term:
		log.Info("a second signal: the shutdown delay ends now", "signal", sig.String())
	case err := <-errc:
		log.Error("a listener stopped", "error", err.Error())
		return 1, false
	}
	return 0, true
}

// newTelemetry builds tracing, metrics and the audit log from the
// configuration and the process's OTEL_* environment (read by
// internal/telemetry and the OpenTelemetry exporter).
func newTelemetry(c *config.Config, env Env, log *slog.Logger) (*telemetry.Telemetry, func(), error) {
	closeAudit := func() {}
	var audit io.Writer
	if c.Audit.Enabled {
		audit = env.Stderr
		if c.Audit.File != "" {
			f, err := os.OpenFile(c.Audit.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return nil, nil, fmt.Errorf("audit.file: cannot open %s: %v", c.Audit.File, err)
			}
			audit = f
			closeAudit = func() { f.Close() }
		}
	}
	headers := map[string]string{}
	for k, v := range c.Tracing.Headers {
		headers[k] = v.Value()
	}
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Version:     version.Version,
		Endpoint:    c.Tracing.Endpoint,
		Protocol:    c.Tracing.Protocol,
		Headers:     headers,
		SampleRatio: c.Tracing.SampleRatio,
		Logger:      log,
		AuditWriter: audit,
		// Batched audit records: written on shutdown (tel.Shutdown) and,
		// on every other way out of serve, by closeAudit below.
		AuditFlushInterval: c.Audit.FlushInterval,
		AuditBufferBytes:   int(c.Audit.BufferBytes),
		MaxClients:         c.Metrics.MaxClients,
	})
	if err != nil {
		closeAudit()
		return nil, nil, fmt.Errorf("tracing: %v", err)
	}
	closeFile := closeAudit
	closeAudit = func() {
		tel.CloseAudit()
		closeFile()
	}
	if tel.Tracing() {
		log.Info("tracing on", "passthrough", c.Tracing.Passthrough)
	}
	return tel, closeAudit, nil
}

// warnDangerous says loudly at start what weakens security or privacy.
func warnDangerous(log *slog.Logger, c *config.Config) {
	if c.Upstream.AllowInsecureHTTP {
		log.Warn("upstream.allow_insecure_http is on: tokens may cross the network in clear text")
	}
	if c.Mask == "full" {
		log.Warn("mask is full: complete phone numbers reach logs, traces and error bodies")
	}
	if host, _, err := net.SplitHostPort(c.AdminListen); err == nil && host != "127.0.0.1" && host != "localhost" && host != "::1" {
		log.Warn("the admin listener is not on loopback: /metrics is reachable from the network", "admin_listen", c.AdminListen)
	}
	if c.Identity.TokenKey == "" {
		log.Info("identity.token_key is not set: token IDs are random per process, so they differ between replicas and restarts; set one key for all replicas to group records by token_id")
	}
}
