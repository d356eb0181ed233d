// Package sdnotifytest provides a fake systemd notify socket for tests: it
// listens on a unixgram socket in a temporary directory, points
// NOTIFY_SOCKET at it and hands back the datagrams in order. It is for
// tests only.
package sdnotifytest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Socket is a listening notify socket.
type Socket struct {
	conn *net.UnixConn
	msgs chan string
}

// Listen creates the socket, sets NOTIFY_SOCKET to it for the rest of the
// test (so the test must not be parallel) and closes it at cleanup.
func Listen(t testing.TB) *Socket {
	t.Helper()
	// A short directory: socket paths are limited to about 108 bytes and
	// t.TempDir embeds the test's name.
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Socket{conn: conn, msgs: make(chan string, 1024)}
	go s.read()
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return s
}

func (s *Socket) read() {
	defer close(s.msgs)
	buf := make([]byte, 4096)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			return
		}
		s.msgs <- string(buf[:n])
	}
}

// Next returns the next datagram, failing the test if none arrives within
// timeout.
func (s *Socket) Next(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no sd_notify message within %v", timeout)
		return ""
	}
}

// Pending returns the datagrams received so far without waiting.
func (s *Socket) Pending() []string {
	var out []string
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}
