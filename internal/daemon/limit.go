package daemon

import (
	"net"
	"net/http"
	"sync"
)

// DefaultMaxConnections caps the connections the HTTP server holds open at
// once. Prometheus, a kubelet's probes and an operator's curl need a few;
// the cap keeps a flood of idle connections from costing a goroutine and
// buffers each, and file descriptors the daemon needs for its own work.
const DefaultMaxConnections = 64

// limitListener holds at most max connections open. When a new connection
// arrives at the cap it closes the connection that has been waiting
// longest without a request in progress (idle between keep-alive requests,
// or connected and not yet sending one) to make room, so that idle
// connections can never lock out a probe; when every held connection is
// busy with a request, the new one is closed at once. net/http's ConnState
// hook (connState) tells it which connections are busy.
type limitListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	seq   uint64
	conns map[net.Conn]*connInfo
}

// connInfo is what limitListener knows of one held connection.
type connInfo struct {
	busy  bool
	since uint64 // order in which it last became idle (or arrived)
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, max: max, conns: map[net.Conn]*connInfo{}}
}

// Accept returns the next connection, making room for it first.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.conns) >= l.max && !l.evictLocked() {
			l.mu.Unlock()
			_ = c.Close() // every held connection is busy: refuse this one
			continue
		}
		l.seq++
		l.conns[c] = &connInfo{since: l.seq}
		l.mu.Unlock()
		return c, nil
	}
}

// evictLocked closes the longest-idle connection and reports whether there
// was one.
func (l *limitListener) evictLocked() bool {
	var (
		victim net.Conn
		oldest uint64
	)
	for c, info := range l.conns {
		if !info.busy && (victim == nil || info.since < oldest) {
			victim, oldest = c, info.since
		}
	}
	if victim == nil {
		return false
	}
	delete(l.conns, victim)
	_ = victim.Close()
	return true
}

// connState is the http.Server ConnState hook.
func (l *limitListener) connState(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info, ok := l.conns[c]
	switch {
	case st == http.StateClosed || st == http.StateHijacked:
		delete(l.conns, c)
	case !ok:
	case st == http.StateActive:
		info.busy = true
	case st == http.StateIdle:
		l.seq++
		info.busy, info.since = false, l.seq
	}
}

// open returns the number of connections held.
func (l *limitListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
