// Package sdnotify tells systemd about the daemon's state through the
// sd_notify protocol: READY=1, RELOADING=1 (with MONOTONIC_USEC, as
// Type=notify-reload requires), STOPPING=1 and WATCHDOG=1 pings. It is a thin
// layer over github.com/coreos/go-systemd/v22/daemon and does nothing when
// NOTIFY_SOCKET is unset, so callers need no "under systemd?" checks. It
// does not decide when to send what; the daemon does.
package sdnotify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages to the socket named by NOTIFY_SOCKET,
// read at every send. The zero value is ready to use.
type Notifier struct{}

// New returns a Notifier.
func New() *Notifier { return &Notifier{} }

// Ready reports that start-up or a reload finished.
func (n *Notifier) Ready() error { return send(daemon.SdNotifyReady) }

// Reloading reports that a reload started. The message carries the
// CLOCK_MONOTONIC time in microseconds (MONOTONIC_USEC), which systemd's
// Type=notify-reload uses to match the reload to the SIGHUP it sent. Ready
// must follow when the reload is over, whether it succeeded or not.
func (n *Notifier) Reloading() error {
	msg := daemon.SdNotifyReloading
	if ts := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); ts != "" {
		msg += "\n" + ts
	}
	return send(msg)
}

// Stopping reports that shutdown began.
func (n *Notifier) Stopping() error { return send(daemon.SdNotifyStopping) }

// Watchdog sends one keep-alive ping.
func (n *Notifier) Watchdog() error { return send(daemon.SdNotifyWatchdog) }

// WatchdogInterval returns how often to ping the watchdog: half the
// WATCHDOG_USEC timeout, as sd_watchdog_enabled(3) advises. It returns 0
// when the watchdog is off or meant for another process (WATCHDOG_PID), and
// also when WATCHDOG_USEC is malformed.
func (n *Notifier) WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// RunWatchdog pings the watchdog every WatchdogInterval until ctx is done.
// It returns at once when the watchdog is off. A caller with its own event
// loop may prefer to call Watchdog from that loop, so that a stuck loop
// stops the pings.
func (n *Notifier) RunWatchdog(ctx context.Context) {
	every := n.WatchdogInterval()
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = n.Watchdog() // systemd restarts us if pings stop; nothing to do here
		}
	}
}

// send writes one datagram to NOTIFY_SOCKET; without it, it does nothing.
func send(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		return fmt.Errorf("sd_notify %s: %w", first, err)
	}
	return nil
}
