package proxy

// Drain starts a graceful shutdown without refusing anyone: readiness
// turns false (/readyz answers 503), so that Kubernetes and load balancers
// stop sending new connections here, while the server keeps accepting and
// serving. Every response from now on carries Connection: close, so that a
// client on a keep-alive connection reconnects, through its load balancer,
// to a server that is not going away, instead of meeting a connection
// closed under it when Shutdown comes. Shutdown follows, after
// server.shutdown_delay.
func (s *Server) Drain() {
	s.ready.Store(false)
	s.draining.Store(true)
}

// Draining reports whether Drain or Shutdown has been called.
func (s *Server) Draining() bool { return s.draining.Load() }
