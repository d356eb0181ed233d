package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/metrics"
	"github.com/linq-sync/linq-sync/internal/sdnotify"
	"github.com/linq-sync/linq-sync/internal/sdnotify/sdnotifytest"
	"github.com/linq-sync/linq-sync/internal/watch"
)

const deadline = 10 * time.Second

// ---- fakes ----------------------------------------------------------------

// fakeClock is a Clock whose timers fire only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	d  time.Duration
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timers: map[*fakeTimer]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), d: d, ch: make(chan time.Time, 1)}
	c.timers[t] = true
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	active := t.c.timers[t]
	delete(t.c.timers, t)
	return active
}

// pending returns the durations of the timers that have not fired or been
// stopped, sorted.
func (c *fakeClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for t := range c.timers {
		ds = append(ds, t.d)
	}
	slices.Sort(ds)
	return ds
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			delete(c.timers, t)
			t.ch <- c.now
		}
	}
}

// call is one Reconcile the fake saw.
type call struct {
	cfg    *config.Config
	dryRun bool
	mode   Mode
}

// fakeReconciler records calls; do, when set, decides each call's result
// (n counts from 1).
type fakeReconciler struct {
	do func(ctx context.Context, n int) (Outcome, error)

	mu        sync.Mutex
	calls     []call
	active    int
	maxActive int
}

func (f *fakeReconciler) Reconcile(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{cfg, mode.DryRun, mode})
	n := len(f.calls)
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if f.do == nil {
		return Outcome{Planned: true}, nil
	}
	return f.do(ctx, n)
}

func (f *fakeReconciler) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeReconciler) call(i int) call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[i]
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.b.String(), sub)
}

// lines returns the decoded JSON log lines with message msg.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// ---- harness ---------------------------------------------------------------

func subscriptionsYAML(names ...string) string {
	var b strings.Builder
	b.WriteString("version: 1\nsubscriptions:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    target_url: https://hooks.example.com/%s\n    subscribed_events: [message.received]\n", n, n)
	}
	return b.String()
}

const brokenYAML = "version: 1\nsubscriptions:\n  - name: a\n    target_url: http://insecure.example.com\n    subscribed_events: [message.received]\n"

// replace writes content to a temporary file beside path and renames it
// over path, as editors do.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type harness struct {
	t      *testing.T
	path   string
	rec    *fakeReconciler
	clock  *fakeClock
	reg    *prometheus.Registry
	reload chan struct{}
	addr   string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// options returns Options for a daemon on a file with subscription "a",
// a fake clock, a fake reconciler and an HTTP listener on 127.0.0.1.
func newHarness(t *testing.T) (*harness, Options) {
	t.Helper()
	h := &harness{
		t:      t,
		path:   filepath.Join(t.TempDir(), "subscriptions.yaml"),
		rec:    &fakeReconciler{},
		clock:  newFakeClock(),
		reg:    prometheus.NewRegistry(),
		reload: make(chan struct{}),
		logs:   &syncBuffer{},
	}
	if err := os.WriteFile(h.path, []byte(subscriptionsYAML("a")), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	return h, Options{
		Path:       h.path,
		Reconciler: h.rec,
		Interval:   time.Hour,
		Jitter:     func(d time.Duration) time.Duration { return d },
		Listener:   ln,
		Metrics:    metrics.New(h.reg, "test"),
		Gatherer:   h.reg,
		Logger:     slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Reload:     h.reload,
		Clock:      h.clock,
		Watch:      watch.Options{Debounce: 10 * time.Millisecond, PollInterval: -1},
	}
}

// start runs the daemon until the test ends (or stop is called).
func (h *harness) start(opts Options) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- Run(ctx, opts) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(deadline):
			h.t.Error("Run did not return after cancel")
		}
	})
}

// stop cancels Run and returns its error and how long it took.
func (h *harness) stop() (error, time.Duration) {
	h.t.Helper()
	t0 := time.Now()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err, time.Since(t0)
	case <-time.After(deadline):
		h.t.Fatal("Run did not return after cancel")
		return nil, 0
	}
}

func (h *harness) sendReload() {
	h.t.Helper()
	select {
	case h.reload <- struct{}{}:
	case <-time.After(deadline):
		h.t.Fatal("reload not taken")
	}
}

// waitIdle waits until the loop has scheduled the next reconcile: one
// pending timer of duration want.
func (h *harness) waitIdle(want time.Duration) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("a %v timer", want), func() bool {
		return slices.Equal(h.clock.pending(), []time.Duration{want})
	})
}

func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample of family name whose labels
// include labels (name=value pairs), or -1 when there is none.
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ---- tests -----------------------------------------------------------------

func TestRunRefusesABadFileAtStart(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		check   func(t *testing.T, err error)
	}{
		{
			name: "missing file",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("err = %v, want one matching fs.ErrNotExist", err)
				}
			},
		},
		{
			name:    "invalid file",
			content: ptr(brokenYAML),
			check: func(t *testing.T, err error) {
				if !errors.Is(err, config.ErrInvalid) {
					t.Errorf("err = %v, want one matching config.ErrInvalid", err)
				}
				var ce *ConfigError
				if !errors.As(err, &ce) || len(ce.Diagnostics.Errors()) == 0 {
					t.Fatalf("err = %#v, want a *ConfigError with diagnostics", err)
				}
				// The message lists each diagnostic with its position.
				if want := ce.Diagnostics.Errors()[0].String(); !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to contain %q", err, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, opts := newHarness(t)
			if tt.content == nil {
				os.Remove(h.path)
			} else if err := os.WriteFile(h.path, []byte(*tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), opts)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			tt.check(t, err)
			if n := h.rec.count(); n != 0 {
				t.Errorf("reconciles = %d, want 0", n)
			}
			if got := metric(t, h.reg, "linq_sync_config_reloads_total", "result", "failure"); got != 1 {
				t.Errorf("config_reloads_total{result=failure} = %v, want 1", got)
			}
			if _, err := net.Dial("tcp", h.addr); err == nil {
				t.Error("listener still open after a failed start")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRunRequiresPathAndReconciler(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no path", Options{Reconciler: &fakeReconciler{}}},
		{"no reconciler", Options{Path: "x.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Run(context.Background(), tt.opts); err == nil {
				t.Error("Run succeeded, want an error")
			}
		})
	}
}

func TestRunPassesConfigAndDryRun(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry run %v", dry), func(t *testing.T) {
			h, opts := newHarness(t)
			opts.DryRun = dry
			h.start(opts)
			waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
			c := h.rec.call(0)
			if c.dryRun != dry {
				t.Errorf("dryRun = %v, want %v", c.dryRun, dry)
			}
			if c.cfg == nil || len(c.cfg.Subscriptions) != 1 || c.cfg.Subscriptions[0].Name != "a" {
				t.Errorf("config = %+v, want the file's one subscription \"a\"", c.cfg)
			}
		})
	}
}

func TestRunReconcilesEveryInterval(t *testing.T) {
	h, opts := newHarness(t)
	opts.Interval = 7 * time.Minute
	h.start(opts)
	for i := 1; i <= 3; i++ {
		waitFor(t, fmt.Sprintf("reconcile %d", i), func() bool { return h.rec.count() == i })
		h.waitIdle(7 * time.Minute)
		h.clock.Advance(7 * time.Minute)
	}
	waitFor(t, "reconcile 4", func() bool { return h.rec.count() == 4 })
}

func TestRunReloadsAChangedFileAndReconciles(t *testing.T) {
	tests := []struct {
		name string
		// layout creates the watched file in dir and returns its path and
		// a function that publishes new content.
		layout func(t *testing.T, dir string) (string, func(string))
	}{
		{
			name: "editor renames over the file",
			layout: func(t *testing.T, dir string) (string, func(string)) {
				f := filepath.Join(dir, "subscriptions.yaml")
				replace(t, f, subscriptionsYAML("a"))
				return f, func(c string) { replace(t, f, c) }
			},
		},
		{
			name: "kubelet swaps the ..data symlink",
			layout: func(t *testing.T, dir string) (string, func(string)) {
				n := 0
				version := func(c string) string {
					n++
					ts := fmt.Sprintf("..2026_01_02_03_04_05.%09d", n)
					if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, ts, "subscriptions.yaml"), []byte(c), 0o644); err != nil {
						t.Fatal(err)
					}
					return ts
				}
				cur := version(subscriptionsYAML("a"))
				must(t, os.Symlink(cur, filepath.Join(dir, "..data")))
				must(t, os.Symlink("..data/subscriptions.yaml", filepath.Join(dir, "subscriptions.yaml")))
				return filepath.Join(dir, "subscriptions.yaml"), func(c string) {
					next := version(c)
					must(t, os.Symlink(next, filepath.Join(dir, "..data_tmp")))
					must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
					must(t, os.RemoveAll(filepath.Join(dir, cur)))
					cur = next
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, opts := newHarness(t)
			path, publish := tt.layout(t, t.TempDir())
			opts.Path = path
			h.start(opts)
			waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
			publish(subscriptionsYAML("a", "b"))
			waitFor(t, "a reconcile of the new file", func() bool { return h.rec.count() >= 2 })
			if got := len(h.rec.call(1).cfg.Subscriptions); got != 2 {
				t.Errorf("second reconcile saw %d subscriptions, want 2", got)
			}
			if got := metric(t, h.reg, "linq_sync_config_reloads_total", "result", "success"); got < 2 {
				t.Errorf("config_reloads_total{result=success} = %v, want at least 2", got)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunKeepsTheLastGoodConfigWhenAReloadFails(t *testing.T) {
	h, opts := newHarness(t)
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	good := h.rec.call(0).cfg
	h.waitIdle(time.Hour)

	replace(t, h.path, brokenYAML)
	waitFor(t, "the failed reload to be counted", func() bool {
		return metric(t, h.reg, "linq_sync_config_reloads_total", "result", "failure") == 1
	})
	if got := metric(t, h.reg, "linq_sync_config_last_reload_successful"); got != 0 {
		t.Errorf("config_last_reload_successful = %v, want 0", got)
	}
	if n := h.rec.count(); n != 1 {
		t.Errorf("reconciles after a bad file = %d, want 1 (nothing applied from it)", n)
	}

	h.clock.Advance(time.Hour)
	waitFor(t, "the interval reconcile", func() bool { return h.rec.count() == 2 })
	if got := h.rec.call(1).cfg; got != good {
		t.Errorf("interval reconcile used %+v, want the last good config", got)
	}
	failed := h.logs.lines(t, "config reload failed; keeping the last good config")
	if len(failed) != 1 || !strings.Contains(fmt.Sprint(failed[0]["errors"]), "target_url") {
		t.Errorf("reload failure log lines = %v, want one naming target_url", failed)
	}

	// A fixed file is taken again.
	replace(t, h.path, subscriptionsYAML("a", "b"))
	waitFor(t, "a reconcile of the fixed file", func() bool { return h.rec.count() == 3 })
	if got := len(h.rec.call(2).cfg.Subscriptions); got != 2 {
		t.Errorf("reconcile after the fix saw %d subscriptions, want 2", got)
	}
	if got := metric(t, h.reg, "linq_sync_config_last_reload_successful"); got != 1 {
		t.Errorf("config_last_reload_successful = %v, want 1", got)
	}
}

func TestRunNeverOverlapsReconcilesAndQueuesOneMore(t *testing.T) {
	h, opts := newHarness(t)
	release := make(chan struct{})
	h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
		if n == 1 {
			<-release
		}
		return Outcome{Planned: true}, nil
	}
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	for range 5 {
		h.sendReload()
	}
	waitFor(t, "five reloads", func() bool {
		return metric(t, h.reg, "linq_sync_config_reloads_total", "result", "success") == 6
	})
	close(release)
	h.waitIdle(time.Hour)
	h.rec.mu.Lock()
	calls, maxActive := len(h.rec.calls), h.rec.maxActive
	h.rec.mu.Unlock()
	if calls != 2 {
		t.Errorf("reconciles = %d, want 2 (the first and one queued)", calls)
	}
	if maxActive != 1 {
		t.Errorf("reconciles at once = %d, want 1", maxActive)
	}
}

func TestRunRetriesFailuresWithBackoffBeforeTheInterval(t *testing.T) {
	h, opts := newHarness(t)
	opts.Interval = 10 * time.Minute
	h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
		if n <= 4 {
			return Outcome{}, errors.New("list subscriptions: 503")
		}
		return Outcome{Planned: true}, nil
	}
	h.start(opts)
	// 5s doubling, capped at half the interval; then the interval.
	waits := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 10 * time.Minute}
	for i, w := range waits {
		waitFor(t, fmt.Sprintf("reconcile %d", i+1), func() bool { return h.rec.count() == i+1 })
		h.waitIdle(w)
		if i == 3 {
			if got := metric(t, h.reg, "linq_sync_consecutive_failures"); got != 4 {
				t.Errorf("consecutive_failures = %v, want 4", got)
			}
		}
		h.clock.Advance(w)
	}
	if got := metric(t, h.reg, "linq_sync_consecutive_failures"); got != 0 {
		t.Errorf("consecutive_failures after a success = %v, want 0", got)
	}
	if got := metric(t, h.reg, "linq_sync_reconcile_total", "result", "failure"); got != 4 {
		t.Errorf("reconcile_total{result=failure} = %v, want 4", got)
	}
}

func TestRetryWaitStaysBelowTheInterval(t *testing.T) {
	tests := []struct {
		n        int
		interval time.Duration
		want     time.Duration
	}{
		{1, time.Hour, 5 * time.Second},
		{2, time.Hour, 10 * time.Second},
		{5, time.Hour, 80 * time.Second},
		{6, time.Hour, 2 * time.Minute},
		{1000, time.Hour, 2 * time.Minute},
		{3, 30 * time.Second, 15 * time.Second},
		{1, 4 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("failure %d every %v", tt.n, tt.interval), func(t *testing.T) {
			d := &daemon{opts: Options{Interval: tt.interval, Backoff: DefaultBackoff}}
			if got := d.retryWait(tt.n); got != tt.want {
				t.Errorf("retryWait(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestDefaultJitterAddsAtMostTenPercent(t *testing.T) {
	for range 100 {
		if got := defaultJitter(time.Minute); got < time.Minute || got >= time.Minute+6*time.Second {
			t.Fatalf("defaultJitter(1m) = %v, want within [1m, 1m6s)", got)
		}
	}
}

func TestRunRecordsOutcomeInMetricsAndLogs(t *testing.T) {
	h, opts := newHarness(t)
	h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
		return Outcome{
			Planned: true,
			Pending: diff.Summary{Delete: 1, Unmanaged: 2},
			Applied: map[diff.Action]int{diff.ActionCreate: 3, diff.ActionUpdate: 1},
			Failed:  map[diff.Action]int{diff.ActionDelete: 1},
			Managed: 4,
		}, errors.New("1 of 5 changes failed")
	}
	h.start(opts)
	h.waitIdle(5 * time.Second)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"linq_sync_drift_subscriptions", []string{"kind", "create"}, 0},
		{"linq_sync_drift_subscriptions", []string{"kind", "delete"}, 1},
		{"linq_sync_drift_subscriptions", []string{"kind", "unmanaged"}, 2},
		{"linq_sync_changes_applied_total", []string{"action", "create"}, 3},
		{"linq_sync_changes_applied_total", []string{"action", "update"}, 1},
		{"linq_sync_change_failures_total", []string{"action", "delete"}, 1},
		{"linq_sync_managed_subscriptions", nil, 4},
		{"linq_sync_reconcile_total", []string{"result", "failure"}, 1},
		{"linq_sync_consecutive_failures", nil, 1},
		{"linq_sync_reconcile_duration_seconds", nil, 1},
		{"linq_sync_last_reconcile_timestamp_seconds", nil, float64(h.clock.Now().Unix())},
		{"linq_sync_last_reconcile_success_timestamp_seconds", nil, 0},
	}
	for _, tt := range tests {
		if got := metric(t, h.reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	lines := h.logs.lines(t, "reconcile failed")
	if len(lines) != 1 {
		t.Fatalf("reconcile log lines = %d, want 1", len(lines))
	}
	for k, want := range map[string]any{"created": 3.0, "updated": 1.0, "deleted": 0.0, "failed": 1.0, "pending_delete": 1.0, "err": "1 of 5 changes failed"} {
		if got := lines[0][k]; got != want {
			t.Errorf("log %s = %v, want %v", k, got, want)
		}
	}
}

func TestRunServesHealthReadinessAndMetrics(t *testing.T) {
	h, opts := newHarness(t)
	release := make(chan struct{})
	h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
		<-release
		return Outcome{Planned: true}, nil
	}
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })

	if code, _ := h.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the first reconcile = %d, want 503", code)
	}
	if code, _ := h.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	close(release)
	waitFor(t, "/readyz 200", func() bool { code, _ := h.get("/readyz"); return code == http.StatusOK })

	code, body := h.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, name := range []string{"linq_sync_build_info", "linq_sync_reconcile_total", "linq_sync_drift_subscriptions", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestRunShutsDownWithinTheTimeout(t *testing.T) {
	tests := []struct {
		name string
		// finishes: the reconcile returns on its own after shutdown starts;
		// otherwise it runs until its context is cancelled.
		finishes    bool
		wantCancel  bool
		wantMinTime time.Duration
	}{
		{name: "in-flight reconcile finishes in time", finishes: true},
		{name: "in-flight reconcile is cancelled at the timeout", wantCancel: true, wantMinTime: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, opts := newHarness(t)
			opts.Clock = nil // the shutdown bound runs on real time
			opts.ShutdownTimeout = 100 * time.Millisecond
			if tt.finishes {
				opts.ShutdownTimeout = time.Hour
			}
			release := make(chan struct{})
			cancelled := make(chan bool, 1)
			h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
				select {
				case <-release:
					cancelled <- false
					return Outcome{Planned: true}, nil
				case <-ctx.Done():
					cancelled <- true
					return Outcome{}, ctx.Err()
				}
			}
			h.start(opts)
			waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
			if tt.finishes {
				go func() {
					for !h.logs.contains(`"msg":"shutting down"`) {
						time.Sleep(time.Millisecond)
					}
					close(release)
				}()
			}
			err, took := h.stop()
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
			if got := <-cancelled; got != tt.wantCancel {
				t.Errorf("reconcile context cancelled = %v, want %v", got, tt.wantCancel)
			}
			if took < tt.wantMinTime {
				t.Errorf("shutdown took %v, want at least the %v timeout", took, tt.wantMinTime)
			}
			if got := metric(t, h.reg, "linq_sync_reconcile_duration_seconds"); got != 1 {
				t.Errorf("reconciles recorded = %v, want 1 (the in-flight one)", got)
			}
		})
	}
}

func TestRunNotifiesSystemdInOrder(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "")
	h, opts := newHarness(t)
	opts.Notifier = sdnotify.New()
	h.start(opts)

	if got := sock.Next(t, deadline); got != "READY=1" {
		t.Fatalf("first message = %q, want READY=1", got)
	}
	h.sendReload()
	if got := sock.Next(t, deadline); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("message after a reload = %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got := sock.Next(t, deadline); got != "READY=1" {
		t.Errorf("message after RELOADING = %q, want READY=1", got)
	}
	// A failed reload is bracketed too, so systemd leaves the reloading
	// state.
	replace(t, h.path, brokenYAML)
	h.sendReload()
	if got := sock.Next(t, deadline); !strings.HasPrefix(got, "RELOADING=1\n") {
		t.Errorf("message after a failed reload = %q, want RELOADING=1", got)
	}
	if got := sock.Next(t, deadline); got != "READY=1" {
		t.Errorf("message after a failed reload's RELOADING = %q, want READY=1", got)
	}
	if err, _ := h.stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	// The watcher may have reported the broken file too: its
	// RELOADING/READY pair may come first; nothing else may.
	for {
		got := sock.Next(t, deadline)
		if got == "STOPPING=1" {
			break
		}
		if got != "READY=1" && !strings.HasPrefix(got, "RELOADING=1\n") {
			t.Fatalf("message before STOPPING=1 = %q, want only a reload pair", got)
		}
	}
}

func TestRunPingsTheWatchdog(t *testing.T) {
	sock := sdnotifytest.Listen(t)
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", "")
	h, opts := newHarness(t)
	opts.Notifier = sdnotify.New()
	h.start(opts)
	pings := 0
	for pings < 2 {
		if sock.Next(t, deadline) == "WATCHDOG=1" {
			pings++
		}
	}
}

func TestRunReloadsOnSIGHUP(t *testing.T) {
	h, opts := newHarness(t)
	opts.Reload = nil // Run listens for SIGHUP itself
	h.start(opts)
	// Run subscribes to SIGHUP before its first reconcile, so the signal
	// cannot hit the default action (exit) after this.
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	// The file is unchanged, so only the signal can cause this reload.
	must(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	waitFor(t, "a reload and reconcile", func() bool {
		return h.rec.count() == 2 && metric(t, h.reg, "linq_sync_config_reloads_total", "result", "success") == 2
	})
	lines := h.logs.lines(t, "config reloaded")
	if len(lines) != 1 || lines[0]["trigger"] != "SIGHUP" {
		t.Errorf("config reloaded log lines = %v, want one with trigger SIGHUP", lines)
	}
}

func TestRunAppliesTheFilesLogLevelOnEveryReload(t *testing.T) {
	h, opts := newHarness(t)
	lv := new(slog.LevelVar) // the --log-level default: info
	opts.LevelVar = lv
	replace(t, h.path, strings.Replace(subscriptionsYAML("a"), "version: 1\n", "version: 1\nlog_level: debug\n", 1))
	h.start(opts)
	waitFor(t, "the file's log_level at start", func() bool { return lv.Level() == slog.LevelDebug })

	replace(t, h.path, strings.Replace(subscriptionsYAML("a"), "version: 1\n", "version: 1\nlog_level: error\n", 1))
	h.sendReload()
	waitFor(t, "log_level error after a reload", func() bool { return lv.Level() == slog.LevelError })

	// A broken file changes nothing, the level included.
	replace(t, h.path, strings.Replace(brokenYAML, "version: 1\n", "version: 1\nlog_level: debug\n", 1))
	h.sendReload()
	h.sendReload() // taken only once the first reload is done
	if got := lv.Level(); got != slog.LevelError {
		t.Errorf("level after a broken file = %v, want error", got)
	}

	// Without log_level, the flag's level comes back.
	replace(t, h.path, subscriptionsYAML("a"))
	h.sendReload()
	waitFor(t, "the --log-level default again", func() bool { return lv.Level() == slog.LevelInfo })
}

// TestRestoringAMissingFileSetsLastReloadSuccessfulBackToOne: a reload
// while the file is gone fails; putting back the same file must mark the
// config healthy again without another signal, or the reload alert fires
// for a config that is fine. The disappearance is logged at once.
func TestRestoringAMissingFileSetsLastReloadSuccessfulBackToOne(t *testing.T) {
	h, opts := newHarness(t)
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })

	must(t, os.Remove(h.path))
	waitFor(t, "a warning that the file is missing", func() bool {
		for _, l := range h.logs.lines(t, "file is missing; keeping the last good config until it is back") {
			if l["level"] == "WARN" {
				return true
			}
		}
		return false
	})
	h.sendReload()
	waitFor(t, "the failed reload", func() bool {
		return metric(t, h.reg, "linq_sync_config_reloads_total", "result", "failure") == 1
	})
	if got := metric(t, h.reg, "linq_sync_config_last_reload_successful"); got != 0 {
		t.Fatalf("config_last_reload_successful = %v after a reload of a missing file, want 0", got)
	}

	replace(t, h.path, subscriptionsYAML("a")) // the same content as before
	waitFor(t, "config_last_reload_successful back at 1", func() bool {
		return metric(t, h.reg, "linq_sync_config_last_reload_successful") == 1
	})
}

// TestAReadErrorOtherThanMissingIsAFailedReload: descriptors exhausted
// while reading the file is a failed reload, counted and logged with the
// cause.
func TestAReadErrorOtherThanMissingIsAFailedReload(t *testing.T) {
	h, opts := newHarness(t)
	var fail atomic.Bool
	opts.Load = func(path string) (*config.Config, config.Diagnostics, error) {
		if fail.Load() {
			return nil, nil, fmt.Errorf("load config: %w", &os.PathError{Op: "open", Path: path, Err: syscall.EMFILE})
		}
		return config.Load(path)
	}
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	fail.Store(true)
	h.sendReload()
	// The failure is counted, then logged: wait for both.
	waitFor(t, "the failed reload", func() bool {
		return metric(t, h.reg, "linq_sync_config_reloads_total", "result", "failure") == 1 &&
			len(h.logs.lines(t, "config reload failed; keeping the last good config")) > 0
	})
	failed := h.logs.lines(t, "config reload failed; keeping the last good config")
	if len(failed) != 1 || !strings.Contains(fmt.Sprint(failed[0]["err"]), "too many open files") {
		t.Errorf("reload failure log lines = %v, want one with the cause", failed)
	}
}

// holdingReconciler reports one held delete whenever deletes are held, as a
// plan with one delete would.
func holdingReconciler(h *harness) {
	h.rec.do = func(ctx context.Context, n int) (Outcome, error) {
		if h.rec.call(n - 1).mode.HoldDeletes {
			return Outcome{Planned: true, HeldDeletes: 1}, nil
		}
		return Outcome{Planned: true}, nil
	}
}

// TestDeletesWaitUntilTheFileHasBeenUnchangedForTheSettleTime: a
// reconcile right after a load applies creates and updates at once but
// holds deletes; once the content has stayed the same for Settle (re-read
// and compared) one more reconcile applies them. A change meanwhile, as a
// slow in-place rewrite makes, starts the settle time again.
func TestDeletesWaitUntilTheFileHasBeenUnchangedForTheSettleTime(t *testing.T) {
	const settle = 2 * time.Second
	h, opts := newHarness(t)
	opts.Settle = settle
	holdingReconciler(h)
	h.start(opts)

	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	if c := h.rec.call(0); !c.mode.HoldDeletes {
		t.Fatalf("first reconcile, right after the load, mode %+v; want deletes held", c.mode)
	}
	waitFor(t, "the settle and interval timers", func() bool {
		return slices.Equal(h.clock.pending(), []time.Duration{settle, time.Hour})
	})

	// Half-written: the file changes within the settle time.
	h.clock.Advance(settle / 2)
	replace(t, h.path, subscriptionsYAML("a", "b"))
	waitFor(t, "a reconcile of the changed file", func() bool { return h.rec.count() == 2 })
	if c := h.rec.call(1); !c.mode.HoldDeletes {
		t.Errorf("reconcile of a file changed %v ago: mode %+v; want deletes held", settle/2, c.mode)
	}
	waitFor(t, "a new settle timer", func() bool {
		return len(h.logs.lines(t, "deletes held until the file has been unchanged for the settle time")) == 2
	})
	h.clock.Advance(settle / 2) // the first settle time would be up now
	if n := h.rec.count(); n != 2 {
		t.Fatalf("%d reconciles; the change must start the settle time again", n)
	}

	h.clock.Advance(settle / 2)
	waitFor(t, "the settled reconcile", func() bool { return h.rec.count() == 3 })
	if c := h.rec.call(2); c.mode.HoldDeletes || len(c.cfg.Subscriptions) != 2 {
		t.Errorf("settled reconcile: mode %+v with %d subscriptions; want deletes applied from the new file", c.mode, len(c.cfg.Subscriptions))
	}
	waitIdle := func() {
		waitFor(t, "only the interval timer", func() bool { return slices.Equal(h.clock.pending(), []time.Duration{time.Hour}) })
	}
	waitIdle()
	// Stable since: the interval reconcile applies deletes at once.
	h.clock.Advance(time.Hour)
	waitFor(t, "the interval reconcile", func() bool { return h.rec.count() == 4 })
	if c := h.rec.call(3); c.mode.HoldDeletes {
		t.Errorf("interval reconcile of a long-stable file holds deletes")
	}
}

// TestSettleComparesTheFileReReadNotOnlyTheWatcher: a change the watcher
// has not reported yet is found when the settle time is up, by re-reading
// the file; it is loaded and its deletes wait again.
func TestSettleComparesTheFileReReadNotOnlyTheWatcher(t *testing.T) {
	const settle = 2 * time.Second
	h, opts := newHarness(t)
	opts.Settle = settle
	opts.Watch = watch.Options{Debounce: time.Hour, PollInterval: -1} // reports nothing during the test
	holdingReconciler(h)
	h.start(opts)
	waitFor(t, "first reconcile and the settle timer", func() bool {
		return h.rec.count() == 1 && slices.Contains(h.clock.pending(), settle)
	})
	if err := os.WriteFile(h.path, []byte(subscriptionsYAML("a", "b")), 0o644); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(settle)
	waitFor(t, "a reconcile of the changed file", func() bool { return h.rec.count() == 2 })
	if c := h.rec.call(1); !c.mode.HoldDeletes || len(c.cfg.Subscriptions) != 2 {
		t.Errorf("after a change found at settle time: mode %+v, %d subscriptions; want the new file with deletes held", c.mode, len(c.cfg.Subscriptions))
	}
}

// TestDryRunNeverHoldsDeletes: a dry run writes nothing, so there is
// nothing to hold.
func TestDryRunNeverHoldsDeletes(t *testing.T) {
	h, opts := newHarness(t)
	opts.DryRun = true
	h.start(opts)
	waitFor(t, "first reconcile", func() bool { return h.rec.count() == 1 })
	if c := h.rec.call(0); c.mode.HoldDeletes || !c.mode.DryRun {
		t.Errorf("mode %+v; want a dry run without held deletes", c.mode)
	}
}
