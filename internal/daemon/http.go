package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serve starts the HTTP server, or returns nil when none is configured.
func (d *daemon) serve() (*http.Server, error) {
	ln := d.opts.Listener
	if ln == nil {
		if d.opts.Listen == "" {
			return nil, nil
		}
		var err error
		if ln, err = net.Listen("tcp", d.opts.Listen); err != nil {
			return nil, fmt.Errorf("listen on %q: %w", d.opts.Listen, err)
		}
	}
	max := d.opts.MaxConnections
	if max <= 0 {
		max = DefaultMaxConnections
	}
	lim := newLimitListener(ln, max)
	d.conns = lim
	srv := d.newServer()
	srv.ConnState = lim.connState
	ln = lim
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	d.log.Info("serving metrics and health checks", "addr", ln.Addr().String())
	return srv, nil
}

// Timeouts and limits of the HTTP server. A client must send its request
// headers within serverReadHeaderTimeout and the whole request within
// serverReadTimeout; a keep-alive connection is closed after serverIdle
// without a request.
const (
	serverReadHeaderTimeout = 5 * time.Second
	serverReadTimeout       = 10 * time.Second
	serverWriteTimeout      = 30 * time.Second
	serverIdleTimeout       = 60 * time.Second
	serverMaxHeaderBytes    = 16 << 10
)

// newServer returns the HTTP server of the endpoints, with the timeouts and
// limits that keep slow or idle clients from holding resources.
func (d *daemon) newServer() *http.Server {
	return &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
}

// handler routes the HTTP endpoints.
//
//   - /metrics: the Gatherer in the Prometheus text format.
//   - /healthz: 200 while the process serves requests.
//   - /readyz: 200 once a good config is loaded and the first reconcile has
//     finished (successfully or not: a sidecar must not make its pod
//     unready because the API is down; the metrics report that), 503 before
//     and during shutdown.
func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	if d.opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(d.opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !d.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}
