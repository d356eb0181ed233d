package sdnotify

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linq-sync/linq-sync/internal/sdnotify/sdnotifytest"
)

const deadline = 5 * time.Second

func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

func TestNotifierSendsStates(t *testing.T) {
	tests := []struct {
		name string
		send func(*Notifier) error
		want string
	}{
		{"ready", (*Notifier).Ready, "READY=1"},
		{"stopping", (*Notifier).Stopping, "STOPPING=1"},
		{"watchdog", (*Notifier).Watchdog, "WATCHDOG=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := sdnotifytest.Listen(t)
			if err := tt.send(New()); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := sock.Next(t, deadline); got != tt.want {
				t.Errorf("datagram = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReloadingCarriesMonotonicTimestamp(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	before := monotonicUsec(t)
	if err := New().Reloading(); err != nil {
		t.Fatalf("Reloading: %v", err)
	}
	after := monotonicUsec(t)
	got := sock.Next(t, deadline)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("datagram = %q, want \"RELOADING=1\\nMONOTONIC_USEC=<usec>\"", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil {
		t.Fatalf("MONOTONIC_USEC: %v", err)
	}
	if usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC = %d, want between %d and %d", usec, before, after)
	}
}

func TestNotifierIsANoOpWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := New()
	for name, f := range map[string]func() error{
		"Ready": n.Ready, "Reloading": n.Reloading, "Stopping": n.Stopping, "Watchdog": n.Watchdog,
	} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET = %v, want nil", name, err)
		}
	}
}

func TestNotifierReportsUnreachableSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
	err := New().Reloading()
	if err == nil || !strings.HasPrefix(err.Error(), "sd_notify RELOADING=1: ") {
		t.Errorf("Reloading to a missing socket = %v, want an error starting with \"sd_notify RELOADING=1: \"", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name       string
		usec, wpid string
		want       time.Duration
	}{
		{"off", "", "", 0},
		{"on", "2000000", "", time.Second},
		{"on for this process", "2000000", pid, time.Second},
		{"meant for another process", "2000000", "1", 0},
		{"malformed", "soon", "", 0},
		{"negative", "-5", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.wpid)
			if got := New().WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunWatchdogPingsUntilCancelled(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "20000") // pings every 10ms
	t.Setenv("WATCHDOG_PID", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New().RunWatchdog(ctx); close(done) }()
	for range 3 {
		if got := sock.Next(t, deadline); got != "WATCHDOG=1" {
			t.Fatalf("datagram = %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("RunWatchdog did not return after cancel")
	}
}

func TestRunWatchdogReturnsAtOnceWhenOff(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	done := make(chan struct{})
	go func() { New().RunWatchdog(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("RunWatchdog kept running with the watchdog off")
	}
}
