package proxy

import (
	"github.com/valyala/fasthttp"
)

// AdminHandler serves the admin listener: /healthz (the process is up),
// /readyz (the proxy accepts traffic; false during shutdown) and /metrics
// (Prometheus text from metrics, when not nil).
func (s *Server) AdminHandler(metrics fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/healthz":
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("ok\n")
		case "/readyz":
			ctx.SetContentType("text/plain; charset=utf-8")
			if s.Ready() {
				ctx.SetBodyString("ready\n")
			} else {
				ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
				ctx.SetBodyString("not ready\n")
			}
		case "/metrics":
			if metrics == nil {
				ctx.SetStatusCode(fasthttp.StatusNotFound)
				return
			}
			metrics(ctx)
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("not found: the admin listener serves /healthz, /readyz and /metrics\n")
		}
	}
}
