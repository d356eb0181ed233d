package linq

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientReusesConnectionsAcrossConcurrentCalls(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"subscriptions":[]}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				if _, err := c.List(context.Background()); err != nil {
					t.Error(err)
					return
				}
				// Work between calls (apply fsyncs each secret), so that
				// connections come back while no call is waiting for one.
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	// About one connection per worker (the transport may dial a spare
	// while another is being returned); net/http's default idle pool of 2
	// per host opens a new one for many of the 80 calls.
	t.Logf("connections: %d", conns.Load())
	if got := conns.Load(); got > 2*workers {
		t.Errorf("opened %d connections for %d workers × %d calls, want at most %d", got, workers, calls, 2*workers)
	}
}
