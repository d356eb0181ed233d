package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestHTTPServerHasTimeoutsAndAHeaderLimit(t *testing.T) {
	d := &daemon{log: slog.New(slog.DiscardHandler)}
	srv := d.newServer()
	if v := srv.ReadHeaderTimeout; v <= 0 || v > 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v, want (0, 10s]", v)
	}
	if v := srv.IdleTimeout; v <= 0 || v > 120*time.Second {
		t.Errorf("IdleTimeout = %v, want (0, 120s]", v)
	}
	if v := srv.MaxHeaderBytes; v <= 0 || v > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d, want (0, 64 KiB]", v)
	}
	if srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 {
		t.Errorf("ReadTimeout = %v, WriteTimeout = %v; want both set", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// TestIdleConnectionsBeyondTheCapDoNotStarveHealthz floods the server with
// connections that never send a request, and keep-alive connections left
// idle, beyond the cap: /healthz still answers, and the server has closed
// the oldest idle connections to stay at the cap instead of holding them
// all.
func TestIdleConnectionsBeyondTheCapDoNotStarveHealthz(t *testing.T) {
	const max = 4
	h, opts := newHarness(t)
	opts.MaxConnections = max
	h.start(opts)
	waitFor(t, "ready", func() bool { code, _ := h.get("/readyz"); return code == http.StatusOK })

	// Keep-alive connections that made one request and stay idle.
	var clients []*http.Client
	for range 2 {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		t.Cleanup(c.CloseIdleConnections)
		resp, err := c.Get("http://" + h.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		clients = append(clients, c)
	}
	// Connections that never send a request (each is accepted in order).
	const flood = 3 * max
	var conns []net.Conn
	for range flood {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}

	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: deadline}
	resp, err := probe.Get("http://" + h.addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz behind %d idle connections: %v", flood+len(clients), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}

	// The probe was accepted after every flood connection, each arrival
	// at the cap closing the longest-idle one: all but the newest max-1
	// flood connections are closed by now.
	// They were closed before the probe was answered, so a read sees that
	// at once; the wait below is far shorter than the server's read-header
	// timeout, which would close them too.
	closed := 0
	for i, c := range conns[:flood-(max-1)] {
		c.SetReadDeadline(time.Now().Add(serverReadHeaderTimeout / 5))
		_, err := c.Read(make([]byte, 1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("flood connection %d is still held open by the server", i)
		case err != nil:
			closed++
		}
	}
	if want := flood - (max - 1); closed != want {
		t.Errorf("%d flood connections closed by the server, want %d", closed, want)
	}
}
