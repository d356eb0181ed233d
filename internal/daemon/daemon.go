// Package daemon is the long-running loop behind `linq-sync run`: it loads
// the subscriptions file, reconciles the account on start, on every good
// reload and on every interval, retries failed reconciles with backoff,
// serves /metrics, /healthz and /readyz, and tells systemd what it is doing.
//
// It owns scheduling, not the work: what one reconcile does is behind the
// Reconciler interface, file-change detection is package watch, metrics are
// package metrics and sd_notify is package sdnotify. Time and jitter are
// injected so that tests drive the schedule without sleeping.
//
// One goroutine (the loop in Run) owns every reload trigger (file changes,
// SIGHUP), the config in force and the schedule; reconciles run one at a
// time on a second goroutine. A trigger that arrives during a reconcile
// queues exactly one more, however many arrive.
package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/metrics"
	"github.com/linq-sync/linq-sync/internal/watch"
)

// Defaults for the zero Options.
const (
	DefaultInterval        = 5 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultSettle is how long the file's content must be unchanged
	// before a plan's deletes are applied.
	DefaultSettle = 2 * time.Second
	// DefaultRetryBase is the wait before retrying a failed reconcile the
	// first time; it doubles with every further failure.
	DefaultRetryBase = 5 * time.Second
	// DefaultRetryMax caps the retry wait; it is also kept below half the
	// interval.
	DefaultRetryMax = 2 * time.Minute
)

// cancelGrace is how long shutdown waits for a reconcile to return after
// its context was cancelled, before abandoning it.
const cancelGrace = 2 * time.Second

// Reconciler does one reconcile: list the account, plan against cfg and,
// unless mode.DryRun, apply the plan, without its deletes when
// mode.HoldDeletes (counting them in Outcome.HeldDeletes). It must return
// promptly once ctx is cancelled. An error means the reconcile failed and
// will be retried with backoff; the Outcome may still describe what was
// done before the failure.
type Reconciler interface {
	Reconcile(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error)
}

// Mode says what one reconcile may do.
type Mode struct {
	// DryRun: measure drift, never write.
	DryRun bool
	// HoldDeletes: apply creates and updates, leave deletes pending. Set
	// while the file has not been unchanged for Options.Settle.
	HoldDeletes bool
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error) {
	return f(ctx, cfg, mode)
}

// Outcome is what one reconcile found and did.
type Outcome struct {
	// Planned reports whether a plan was computed. When false (the account
	// could not be listed) Pending and Managed are unknown and the drift
	// metrics keep their previous values.
	Planned bool
	// Pending is the drift left after the reconcile: the whole plan in a
	// dry run, the changes that failed or were not attempted otherwise.
	// Unmanaged counts remote subscriptions the policy leaves alone.
	Pending diff.Summary
	// PendingChanges names the pending creates, updates and deletes
	// ("update crm", "delete ID"), at most maxPendingNames of them, so that
	// a log line says which subscriptions drift, not only how many.
	PendingChanges []string
	// Applied and Failed count the writes that took effect and that failed,
	// by action.
	Applied, Failed map[diff.Action]int
	// Managed is the number of remote subscriptions the file manages.
	Managed int
	// Losses are the subscriptions whose signing secret this reconcile
	// lost or found lost (by the journal or a record that does not match).
	// The daemon counts each subscription once, however many rounds
	// report it.
	Losses []apply.LostSecret
	// SecretsMissing is the number of managed subscriptions whose secret
	// is lost after the reconcile.
	SecretsMissing int
	// Following reports that another replica leads: nothing was planned
	// or written here, and the drift metrics keep their values.
	Following bool
	// HeldDeletes counts the deletes left pending because of
	// Mode.HoldDeletes; the daemon reconciles again once the file settles.
	HeldDeletes int
}

// Notifier tells the service manager about state changes. *sdnotify.Notifier
// satisfies it; errors are logged and otherwise ignored.
type Notifier interface {
	Ready() error
	Reloading() error
	Stopping() error
	Watchdog() error
	// WatchdogInterval is how often to call Watchdog; 0 means never.
	WatchdogInterval() time.Duration
}

// Clock is the time source for the schedule, the shutdown bound and the
// metric timestamps. Tests substitute a fake; nil means the real clock.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; after it returns, C delivers
	// nothing.
	Stop() bool
}

// Options configure Run. Path and Reconciler are required.
type Options struct {
	// Path is the subscriptions file.
	Path string
	// Load reads and validates a file; nil means config.Load. A file is
	// good when the error is nil, the diagnostics hold no error and the
	// config is not nil.
	Load func(path string) (*config.Config, config.Diagnostics, error)
	// Reconciler does the work.
	Reconciler Reconciler
	// DryRun is passed to every Reconcile: measure drift, never write.
	DryRun bool
	// Settle is how long the file's content must have been unchanged
	// (since it was loaded, and re-read and compared just before) for a
	// reconcile to apply deletes; until then creates and updates are
	// applied and deletes held, and one more reconcile follows when the
	// time is up. It keeps a file caught half-written, which lacks the
	// entries of its missing half, from deleting them. 0 means
	// DefaultSettle.
	Settle time.Duration

	// Interval is the time from the end of one successful reconcile to the
	// start of the next; 0 means DefaultInterval.
	Interval time.Duration
	// Backoff returns the wait before retrying after the n-th consecutive
	// failure (n >= 1); nil means DefaultRetryBase doubling up to
	// DefaultRetryMax. Whatever it returns is capped at half the interval,
	// so a retry always comes before the next interval would.
	Backoff func(n int) time.Duration
	// Jitter spreads a wait; nil adds up to 10% at random. Tests pass an
	// identity function.
	Jitter func(time.Duration) time.Duration
	// ShutdownTimeout bounds how long an in-flight reconcile may run after
	// ctx is cancelled before its own context is cancelled; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Listen is the address of the HTTP endpoints (/metrics, /healthz,
	// /readyz). Empty, with Listener nil, means no HTTP server.
	Listen string
	// Listener, when set, is used instead of listening on Listen (tests
	// pass one on 127.0.0.1:0). Run closes it.
	Listener net.Listener
	// MaxConnections caps the connections the HTTP server holds open; 0
	// means DefaultMaxConnections. At the cap, the longest-idle connection
	// is closed to make room for a new one.
	MaxConnections int
	// Metrics records the daemon's metrics; nil records none.
	Metrics *metrics.Metrics
	// Gatherer is what /metrics serves, normally the registry Metrics was
	// registered on; nil means no /metrics.
	Gatherer prometheus.Gatherer

	// Logger receives one line per reconcile and per reload; nil discards.
	Logger *slog.Logger
	// LevelVar, when set, is the level source of Logger's handler. Its
	// level at start is the default; every good load sets it to the file's
	// log_level, or back to that default when the file has none, so
	// verbosity changes with a reload and no restart.
	LevelVar *slog.LevelVar
	// Notifier receives sd_notify states; nil sends none.
	Notifier Notifier
	// Reload delivers reload requests. Nil means Run listens for SIGHUP
	// itself.
	Reload <-chan struct{}
	// Wake asks for a reconcile now, without a reload: leader election
	// sends on it when this replica starts leading.
	Wake <-chan struct{}
	// Clock is the time source; nil means the real clock.
	Clock Clock
	// Watch tunes the file watcher (debounce, poll interval).
	Watch watch.Options
}

// ConfigError is a subscriptions file that could not be used: unreadable
// (Err) or invalid (Diagnostics). errors.Is(err, config.ErrInvalid) holds
// for an invalid one.
type ConfigError struct {
	Path        string
	Diagnostics config.Diagnostics
	Err         error
}

func (e *ConfigError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	errs := e.Diagnostics.Errors()
	if len(errs) == 0 {
		return fmt.Sprintf("load config %q: no config", e.Path)
	}
	noun := "errors"
	if len(errs) == 1 {
		noun = "error"
	}
	return fmt.Sprintf("invalid config %q (%d %s):\n%s", e.Path, len(errs), noun, errs.Error())
}

// Unwrap returns the I/O error, or the diagnostics (which match
// config.ErrInvalid).
func (e *ConfigError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return e.Diagnostics.Err()
}

// Run loads the file, reconciles once, reports ready and then keeps the
// account in line with the file until ctx is cancelled. A file that is not
// good at start is fatal: Run returns a *ConfigError and reconciles
// nothing. Later bad files are logged and counted, and the last good config
// stays in force. On cancellation Run stops taking work, gives an
// in-flight reconcile ShutdownTimeout to finish (then cancels it), and
// returns nil. Other errors are start-up failures (the watcher, the
// listener).
func Run(ctx context.Context, opts Options) error {
	d, err := newDaemon(opts)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// daemon is the state of one Run; the fields below mu are shared with the
// HTTP handlers, the rest belongs to the loop goroutine.
type daemon struct {
	opts  Options
	log   *slog.Logger
	clock Clock

	cfg *config.Config // last good config
	// sum is the hash of the file the config was read from, when it was
	// read the same before and after loading; stableSince is when that
	// content was first loaded.
	sum         contentSum
	stableSince time.Time
	failures    int         // consecutive failed reconciles
	notified    bool        // READY=1 sent once
	baseLevel   slog.Level  // LevelVar's level at start, used when the file sets none
	losses      lossCounter // lost secrets already counted

	ready atomic.Bool
	conns *limitListener // the HTTP server's listener; nil without one
}

func newDaemon(opts Options) (*daemon, error) {
	if opts.Path == "" {
		return nil, errors.New("daemon: no config path")
	}
	if opts.Reconciler == nil {
		return nil, errors.New("daemon: no reconciler")
	}
	if opts.Load == nil {
		opts.Load = config.Load
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Jitter == nil {
		opts.Jitter = defaultJitter
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Notifier == nil {
		opts.Notifier = nopNotifier{}
	}
	if opts.Watch.Logger == nil {
		opts.Watch.Logger = opts.Logger
	}
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	return &daemon{opts: opts, log: opts.Logger, clock: clock}, nil
}

// DefaultBackoff is the retry wait after the n-th consecutive failure:
// DefaultRetryBase doubling, capped at DefaultRetryMax.
func DefaultBackoff(n int) time.Duration {
	d := DefaultRetryBase
	for i := 1; i < n && d < DefaultRetryMax; i++ {
		d *= 2
	}
	return min(d, DefaultRetryMax)
}

func defaultJitter(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d + rand.N(d/10)
}

// retryWait is the wait before the next attempt after n consecutive
// failures, kept at or below half the interval.
func (d *daemon) retryWait(n int) time.Duration {
	return min(d.opts.Backoff(n), d.opts.Interval/2)
}

func (d *daemon) run(ctx context.Context) error {
	// The watcher takes its baseline before the first load, so a change
	// made in between is reported (and reloaded) rather than lost.
	w, err := watch.New(d.opts.Path, d.opts.Watch)
	if err != nil {
		if d.opts.Listener != nil {
			_ = d.opts.Listener.Close()
		}
		return fmt.Errorf("watch config: %w", err)
	}
	cfg, sum, err := d.load()
	if err != nil {
		_ = w.Close()
		if d.opts.Listener != nil {
			_ = d.opts.Listener.Close()
		}
		return err
	}
	d.swap(cfg, sum)
	if d.opts.LevelVar != nil {
		d.baseLevel = d.opts.LevelVar.Level()
	}
	d.applyLogLevel(cfg)
	d.log.Info("config loaded", "file", d.opts.Path, "subscriptions", len(cfg.Subscriptions), "policy", cfg.Policy,
		"dry_run", d.opts.DryRun, "interval", d.opts.Interval, "log_level", d.logLevel())

	srv, err := d.serve()
	if err != nil {
		_ = w.Close()
		return err
	}

	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { _ = w.Run(wctx) })
	defer func() {
		stopWatch()
		wg.Wait()
	}()

	reload := d.opts.Reload
	var hup chan os.Signal
	if reload == nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}

	d.loop(ctx, w.Changes(), reload, hup)

	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	}
	d.log.Info("stopped")
	return nil
}

// applyLogLevel sets the logger's level from cfg's log_level, or back to
// the level Run started with.
func (d *daemon) applyLogLevel(cfg *config.Config) {
	lv := d.opts.LevelVar
	if lv == nil {
		return
	}
	want := d.baseLevel
	if cfg.LogLevel != "" {
		if err := want.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
			return // the loader accepts only valid levels
		}
	}
	if lv.Level() != want {
		lv.Set(want)
		d.log.Info("log level changed", "log_level", want.String())
	}
}

func (d *daemon) logLevel() string {
	if d.opts.LevelVar == nil {
		return ""
	}
	return d.opts.LevelVar.Level().String()
}

// result is one finished reconcile.
type result struct {
	out      Outcome
	err      error
	end      time.Time
	duration time.Duration
	trigger  string
	cfg      *config.Config // the config it reconciled
}

// loop is the one goroutine that owns the config, the triggers and the
// schedule. It returns after shutdown.
func (d *daemon) loop(ctx context.Context, changes <-chan struct{}, reload <-chan struct{}, hup <-chan os.Signal) {
	// Reconciles outlive ctx by up to ShutdownTimeout; rcancel ends them.
	rctx, rcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer rcancel()

	var (
		running bool
		queued  string // trigger of the queued reconcile; "" when none
		done    = make(chan result, 1)
		next    Timer // the scheduled reconcile; nil while one runs
		nextWhy string
		settle  Timer // the reconcile that applies held deletes; nil when none
	)
	start := func(trigger string) {
		if running {
			if queued == "" {
				queued = trigger
			}
			return
		}
		if next != nil {
			next.Stop()
			next = nil
		}
		running = true
		mode := Mode{DryRun: d.opts.DryRun, HoldDeletes: !d.opts.DryRun && !d.settled()}
		if !mode.HoldDeletes && settle != nil {
			settle.Stop()
			settle = nil
		}
		cfg, t0 := d.cfg, d.clock.Now()
		go func() {
			out, err := d.opts.Reconciler.Reconcile(rctx, cfg, mode)
			end := d.clock.Now()
			done <- result{out: out, err: err, end: end, duration: end.Sub(t0), trigger: trigger, cfg: cfg}
		}()
	}

	var watchdog <-chan time.Time
	if iv := d.opts.Notifier.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
	}

	start("start")
	for {
		var nextC, settleC <-chan time.Time
		if next != nil {
			nextC = next.C()
		}
		if settle != nil {
			settleC = settle.C()
		}
		select {
		case <-ctx.Done():
			if next != nil {
				next.Stop()
			}
			if settle != nil {
				settle.Stop()
			}
			d.shutdown(running, done, rcancel)
			return

		case <-changes:
			if d.reload("file changed") {
				start("config changed")
			}
		case <-reload:
			if d.reload("reload requested") {
				start("config reloaded")
			}
		case <-hup:
			if d.reload("SIGHUP") {
				start("config reloaded")
			}
		case <-d.opts.Wake:
			start("woken")

		case <-nextC:
			next = nil
			start(nextWhy)

		case <-settleC:
			settle = nil
			if d.changedSinceLoad() {
				// Changed under us and not (yet) reported: take it now,
				// which starts the settle time again.
				if d.reload("file changed while settling") {
					start("config changed")
				}
				continue
			}
			start("settled")

		case r := <-done:
			running = false
			d.finish(r)
			if r.out.HeldDeletes == 0 && r.err == nil && r.cfg == d.cfg && settle != nil {
				// The config in force deletes nothing: no need to come back.
				settle.Stop()
				settle = nil
			}
			if r.out.HeldDeletes > 0 {
				if settle != nil {
					settle.Stop()
				}
				wait := d.stableSince.Add(d.opts.Settle).Sub(d.clock.Now())
				if wait <= 0 {
					wait = d.opts.Settle // held because the content changed
				}
				settle = d.clock.NewTimer(wait)
				d.log.Info("deletes held until the file has been unchanged for the settle time",
					"held_deletes", r.out.HeldDeletes, "settle", d.opts.Settle, "apply_in", wait)
			}
			if !d.notified {
				d.notified = true
				d.ready.Store(true)
				d.notify("READY=1", d.opts.Notifier.Ready)
			}
			if queued != "" {
				why := queued
				queued = ""
				start(why)
				continue
			}
			wait, why := d.opts.Interval, "interval"
			if r.err != nil {
				wait, why = d.retryWait(d.failures), "retry"
			}
			next, nextWhy = d.clock.NewTimer(d.opts.Jitter(wait)), why

		case <-watchdog:
			d.notify("WATCHDOG=1", d.opts.Notifier.Watchdog)
		}
	}
}

// shutdown lets a running reconcile finish within ShutdownTimeout, then
// cancels it and waits a little longer for it to return.
func (d *daemon) shutdown(running bool, done <-chan result, rcancel context.CancelFunc) {
	d.ready.Store(false)
	d.log.Info("shutting down", "reconcile_in_flight", running)
	d.notify("STOPPING=1", d.opts.Notifier.Stopping)
	if !running {
		return
	}
	t := d.clock.NewTimer(d.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		d.finish(r)
		return
	case <-t.C():
	}
	d.log.Warn("reconcile still running at the shutdown timeout; cancelling it", "shutdown_timeout", d.opts.ShutdownTimeout)
	rcancel()
	grace := time.NewTimer(cancelGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		d.finish(r)
	case <-grace.C:
		d.log.Error("reconcile did not stop after cancellation; abandoning it")
	}
}

// load reads and validates the file and records the result in the
// metrics. It returns a *ConfigError for a file that is not good.
func (d *daemon) load() (*config.Config, contentSum, error) {
	before := hashFile(d.opts.Path)
	cfg, diags, err := d.opts.Load(d.opts.Path)
	sum := hashFile(d.opts.Path)
	if before != sum {
		sum = contentSum{} // read while it changed: not known to be what was loaded
	}
	if err != nil {
		err = &ConfigError{Path: d.opts.Path, Err: err}
	} else if diags.HasErrors() || cfg == nil {
		err = &ConfigError{Path: d.opts.Path, Diagnostics: diags}
	}
	d.opts.Metrics.ObserveReload(d.clock.Now(), err)
	if err == nil {
		for _, w := range diags.Warnings() {
			d.log.Warn("config warning", "diagnostic", w.String())
		}
	}
	return cfg, sum, err
}

// contentSum is the hash of the file's bytes; ok is false when the file
// could not be read, or changed while it was loaded.
type contentSum struct {
	ok  bool
	sum [sha256.Size]byte
}

// hashFile hashes the file at path, reading at most what the loader would.
func hashFile(path string) contentSum {
	f, err := os.Open(path)
	if err != nil {
		return contentSum{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, config.MaxFileSize+1)); err != nil {
		return contentSum{}
	}
	s := contentSum{ok: true}
	h.Sum(s.sum[:0])
	return s
}

// swap puts cfg, loaded from content sum, in force. The settle time starts
// again unless the content is the same as before.
func (d *daemon) swap(cfg *config.Config, sum contentSum) {
	if !sum.ok || sum != d.sum {
		d.stableSince = d.clock.Now()
	}
	d.cfg, d.sum = cfg, sum
}

// changedSinceLoad re-reads the file and reports whether its content
// differs from the one the config in force was loaded from (or cannot be
// known to be the same).
func (d *daemon) changedSinceLoad() bool {
	s := hashFile(d.opts.Path)
	return !s.ok || !d.sum.ok || s != d.sum
}

// settled reports whether deletes may be applied: the config in force was
// loaded at least Settle ago, and the file, re-read now, still holds the
// content it was loaded from.
func (d *daemon) settled() bool {
	if d.clock.Now().Sub(d.stableSince) < d.opts.Settle {
		return false
	}
	return !d.changedSinceLoad()
}

// reload loads the file again and swaps the config in on success. It tells
// systemd (after the first READY=1) and logs one line either way.
func (d *daemon) reload(trigger string) bool {
	if d.notified {
		d.notify("RELOADING=1", d.opts.Notifier.Reloading)
		defer d.notify("READY=1", d.opts.Notifier.Ready)
	}
	cfg, sum, err := d.load()
	if err != nil {
		attrs := []any{"trigger", trigger, "file", d.opts.Path}
		var ce *ConfigError
		if errors.As(err, &ce) && ce.Err == nil {
			msgs := make([]string, 0, len(ce.Diagnostics))
			for _, e := range ce.Diagnostics.Errors() {
				msgs = append(msgs, e.String())
			}
			attrs = append(attrs, "errors", msgs)
		} else {
			attrs = append(attrs, "err", err)
		}
		d.log.Error("config reload failed; keeping the last good config", attrs...)
		return false
	}
	d.swap(cfg, sum)
	d.applyLogLevel(cfg)
	d.log.Info("config reloaded", "trigger", trigger, "file", d.opts.Path, "subscriptions", len(cfg.Subscriptions), "policy", cfg.Policy)
	return true
}

// finish records a finished reconcile in the metrics and logs one line.
func (d *daemon) finish(r result) {
	m := d.opts.Metrics
	if r.out.Following && r.err == nil {
		// Another replica leads: nothing was done here to record.
		d.failures = 0
		return
	}
	m.ObserveReconcile(r.end, r.duration, r.err)
	if r.out.Planned {
		m.SetDrift(r.out.Pending)
		m.SetManaged(r.out.Managed)
		m.SetSecretsMissing(r.out.SecretsMissing)
	}
	for _, a := range []diff.Action{diff.ActionCreate, diff.ActionUpdate, diff.ActionDelete} {
		m.AddChanges(a, r.out.Applied[a], r.out.Failed[a])
	}
	for _, l := range r.out.Losses {
		if d.losses.first(l) {
			m.AddSecretsLost(l.Reason, 1)
		}
	}
	if r.err != nil {
		d.failures++
	} else {
		d.failures = 0
	}

	attrs := []any{
		"trigger", r.trigger,
		"duration", r.duration,
		"dry_run", d.opts.DryRun,
		"created", r.out.Applied[diff.ActionCreate],
		"updated", r.out.Applied[diff.ActionUpdate],
		"deleted", r.out.Applied[diff.ActionDelete],
		"failed", r.out.Failed[diff.ActionCreate] + r.out.Failed[diff.ActionUpdate] + r.out.Failed[diff.ActionDelete],
	}
	if r.out.HeldDeletes > 0 {
		attrs = append(attrs, "held_deletes", r.out.HeldDeletes)
	}
	if r.out.Planned {
		p := r.out.Pending
		attrs = append(attrs, "pending_create", p.Create, "pending_update", p.Update, "pending_delete", p.Delete,
			"unmanaged", p.Unmanaged, "managed", r.out.Managed)
		if len(r.out.PendingChanges) > 0 {
			attrs = append(attrs, "pending", r.out.PendingChanges)
		}
	}
	if r.err != nil {
		attrs = append(attrs, "consecutive_failures", d.failures, "retry_in", d.retryWait(d.failures), "err", r.err)
		d.log.Error("reconcile failed", attrs...)
		return
	}
	d.log.Info("reconcile finished", attrs...)
}

func (d *daemon) notify(state string, f func() error) {
	if err := f(); err != nil {
		d.log.Warn("cannot notify the service manager", "state", state, "err", err)
	}
}

type nopNotifier struct{}

func (nopNotifier) Ready() error                    { return nil }
func (nopNotifier) Reloading() error                { return nil }
func (nopNotifier) Stopping() error                 { return nil }
func (nopNotifier) Watchdog() error                 { return nil }
func (nopNotifier) WatchdogInterval() time.Duration { return 0 }

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
