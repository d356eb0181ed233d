package watch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

const deadline = 10 * time.Second

// probe counts the Watcher's examinations and signals.
type probe struct {
	checks  atomic.Int64
	signals atomic.Int64
}

func (p *probe) afterCheck(changed bool) {
	if changed {
		p.signals.Add(1)
	}
	p.checks.Add(1)
}

// start creates a Watcher for path with a probe and runs it until the test
// ends.
func start(t *testing.T, path string, opts Options) (*Watcher, *probe) {
	t.Helper()
	p := &probe{}
	opts.afterCheck = p.afterCheck
	w, err := New(path, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(deadline):
			t.Errorf("Run did not return after cancel")
		}
	})
	return w, p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSignal waits for a value on w.Changes().
func waitSignal(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case <-w.Changes():
	case <-time.After(deadline):
		t.Fatal("no change signalled")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// kubelet lays out dir the way the kubelet's atomic writer populates a
// ConfigMap volume and returns a function that publishes a new version the
// same way: a new timestamped directory, a `..data_tmp` symlink to it
// renamed over `..data` in one step, then the old directory removed.
// dir/subscriptions.yaml is a symlink to ..data/subscriptions.yaml
// throughout.
func kubelet(t *testing.T, dir, content string) (file string, publish func(content string)) {
	t.Helper()
	n := 0
	version := func(content string) string {
		n++
		ts := "..2026_01_02_03_04_05.00000000" + string(rune('0'+n))
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, ts, "subscriptions.yaml"), content)
		return ts
	}
	current := version(content)
	symlink(t, current, filepath.Join(dir, "..data"))
	symlink(t, filepath.Join("..data", "subscriptions.yaml"), filepath.Join(dir, "subscriptions.yaml"))
	return filepath.Join(dir, "subscriptions.yaml"), func(content string) {
		next := version(content)
		symlink(t, next, filepath.Join(dir, "..data_tmp"))
		rename(t, filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data"))
		if err := os.RemoveAll(filepath.Join(dir, current)); err != nil {
			t.Fatal(err)
		}
		current = next
	}
}

func TestWatcherSignalsRealChanges(t *testing.T) {
	tests := []struct {
		name string
		// setup creates the watched file in dir and returns its path and
		// the change to make.
		setup func(t *testing.T, dir string) (string, func())
	}{
		{
			name: "write in place",
			setup: func(t *testing.T, dir string) (string, func()) {
				f := filepath.Join(dir, "subscriptions.yaml")
				write(t, f, "v1")
				return f, func() { write(t, f, "v2") }
			},
		},
		{
			name: "editor writes a temp file and renames it over",
			setup: func(t *testing.T, dir string) (string, func()) {
				f := filepath.Join(dir, "subscriptions.yaml")
				write(t, f, "v1")
				return f, func() {
					tmp := filepath.Join(dir, ".subscriptions.yaml.swp")
					write(t, tmp, "v2")
					rename(t, tmp, f)
				}
			},
		},
		{
			name: "mv from another directory",
			setup: func(t *testing.T, dir string) (string, func()) {
				f := filepath.Join(dir, "subscriptions.yaml")
				write(t, f, "v1")
				other := t.TempDir()
				return f, func() {
					src := filepath.Join(other, "new.yaml")
					write(t, src, "v2")
					rename(t, src, f)
				}
			},
		},
		{
			name: "kubelet ConfigMap symlink swap",
			setup: func(t *testing.T, dir string) (string, func()) {
				f, publish := kubelet(t, dir, "v1")
				return f, func() { publish("v2") }
			},
		},
		{
			name: "kubelet swap to identical content changes the resolved target",
			setup: func(t *testing.T, dir string) (string, func()) {
				f, publish := kubelet(t, dir, "v1")
				return f, func() { publish("v1") }
			},
		},
		{
			name: "delete then recreate with new content",
			setup: func(t *testing.T, dir string) (string, func()) {
				f := filepath.Join(dir, "subscriptions.yaml")
				write(t, f, "v1")
				return f, func() {
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
					write(t, f, "v2")
				}
			},
		},
		{
			name: "file appears after start",
			setup: func(t *testing.T, dir string) (string, func()) {
				f := filepath.Join(dir, "subscriptions.yaml")
				return f, func() { write(t, f, "v1") }
			},
		},
		{
			name: "in-place write to the target of a symlink in another directory",
			setup: func(t *testing.T, dir string) (string, func()) {
				target := filepath.Join(t.TempDir(), "real.yaml")
				write(t, target, "v1")
				f := filepath.Join(dir, "subscriptions.yaml")
				symlink(t, target, f)
				return f, func() { write(t, target, "v2") }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, change := tt.setup(t, t.TempDir())
			// Polling is off: only directory events can find the change.
			w, p := start(t, f, Options{Debounce: 20 * time.Millisecond, PollInterval: -1})
			change()
			waitSignal(t, w)
			if got := p.signals.Load(); got < 1 {
				t.Errorf("signals = %d, want at least 1", got)
			}
		})
	}
}

func TestWatcherIgnoresEventsWithoutContentChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f string)
	}{
		{"touch", func(t *testing.T, f string) {
			now := time.Now().Add(time.Hour)
			if err := os.Chtimes(f, now, now); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewrite identical content", func(t *testing.T, f string) { write(t, f, "v1") }},
		{"rename identical content over", func(t *testing.T, f string) {
			tmp := f + ".tmp"
			write(t, tmp, "v1")
			rename(t, tmp, f)
		}},
		{"delete and recreate identical content", func(t *testing.T, f string) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			write(t, f, "v1")
		}},
		{"delete without recreating", func(t *testing.T, f string) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "subscriptions.yaml")
			write(t, f, "v1")
			w, p := start(t, f, Options{Debounce: 50 * time.Millisecond, PollInterval: -1})
			tt.change(t, f)
			waitFor(t, "an examination", func() bool { return p.checks.Load() > 0 })
			if got := p.signals.Load(); got != 0 {
				t.Errorf("signals = %d, want 0", got)
			}
			select {
			case <-w.Changes():
				t.Error("Changes() delivered a value, want none")
			default:
			}
		})
	}
}

func TestWatcherCoalescesABurstIntoOneSignal(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v0")
	w, p := start(t, f, Options{Debounce: 250 * time.Millisecond, PollInterval: -1})
	for i := range 20 {
		write(t, f, "v"+string(rune('a'+i)))
	}
	waitSignal(t, w)
	// An identical rewrite forces one more examination; it must find
	// nothing new, so the burst stays one signal.
	checks := p.checks.Load()
	write(t, f, "v"+string(rune('a'+19)))
	waitFor(t, "a later examination", func() bool { return p.checks.Load() > checks })
	if got := p.signals.Load(); got != 1 {
		t.Errorf("signals = %d, want 1", got)
	}
}

func TestWatcherSignalsOnceForChangesNotYetRead(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v0")
	w, p := start(t, f, Options{Debounce: 10 * time.Millisecond, PollInterval: -1})
	write(t, f, "v1")
	waitFor(t, "first signal", func() bool { return p.signals.Load() == 1 })
	write(t, f, "v2")
	waitFor(t, "second signal", func() bool { return p.signals.Load() == 2 })
	<-w.Changes()
	select {
	case <-w.Changes():
		t.Error("two unread changes gave two values, want one")
	default:
	}
}

// fakeSource is an event source the test drives by hand.
type fakeSource struct {
	events chan fsnotify.Event
	errs   chan error
	once   sync.Once
	mu     sync.Mutex
	dirs   map[string]bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{events: make(chan fsnotify.Event), errs: make(chan error), dirs: map[string]bool{}}
}

func (s *fakeSource) Events() <-chan fsnotify.Event { return s.events }
func (s *fakeSource) Errors() <-chan error          { return s.errs }
func (s *fakeSource) Add(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs[dir] = true
	return nil
}
func (s *fakeSource) Remove(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dirs, dir)
	return nil
}
func (s *fakeSource) Close() error {
	s.once.Do(func() { close(s.events); close(s.errs) })
	return nil
}

// fakeSources hands out fake sources and remembers them.
type fakeSources struct {
	mu   sync.Mutex
	made []*fakeSource
	fail bool
}

func (f *fakeSources) new() (source, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("too many open files")
	}
	s := newFakeSource()
	f.made = append(f.made, s)
	return s, nil
}

func (f *fakeSources) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.made)
}

func (f *fakeSources) last() *fakeSource {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made[len(f.made)-1]
}

func TestWatcherExaminesAtOnceOnWatcherErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"overflow", fsnotify.ErrEventOverflow},
		{"other error", errors.New("read inotify: bad file descriptor")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "subscriptions.yaml")
			write(t, f, "v1")
			var srcs fakeSources
			// No debounce or poll can fire during the test: only the
			// error can cause the examination.
			w, _ := start(t, f, Options{Debounce: time.Hour, PollInterval: -1, newSource: srcs.new})
			write(t, f, "v2")
			srcs.last().errs <- tt.err
			waitSignal(t, w)
		})
	}
}

func TestWatcherRebuildsAWatchWhoseChannelsClosed(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v1")
	var srcs fakeSources
	w, p := start(t, f, Options{Debounce: 10 * time.Millisecond, PollInterval: -1, newSource: srcs.new})
	first := srcs.last()
	_ = first.Close()
	waitFor(t, "a new source", func() bool { return srcs.count() == 2 })
	waitFor(t, "an examination after the rebuild", func() bool { return p.checks.Load() > 0 })

	second := srcs.last()
	second.mu.Lock()
	watched := second.dirs[filepath.Dir(f)]
	second.mu.Unlock()
	if !watched {
		t.Errorf("rebuilt source does not watch %q", filepath.Dir(f))
	}
	write(t, f, "v2")
	second.events <- fsnotify.Event{Name: f, Op: fsnotify.Write}
	waitSignal(t, w)
}

func TestWatcherPollsWhenEventsAreLost(t *testing.T) {
	tests := []struct {
		name string
		fail bool
	}{
		{"watch delivers nothing", false},
		{"watch cannot be created", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "subscriptions.yaml")
			write(t, f, "v1")
			srcs := fakeSources{fail: tt.fail}
			w, _ := start(t, f, Options{Debounce: time.Hour, PollInterval: 10 * time.Millisecond, newSource: srcs.new})
			write(t, f, "v2")
			waitSignal(t, w)
		})
	}
}

func TestNewRejectsEmptyPath(t *testing.T) {
	if _, err := New("", Options{}); err == nil {
		t.Error("New(\"\") succeeded, want an error")
	}
}

// replace writes content to a temporary name next to f and renames it over
// f, as editors and `kubectl cp`-style tools do.
func replace(t *testing.T, f, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(f), "."+filepath.Base(f)+".tmp")
	write(t, tmp, content)
	rename(t, tmp, f)
}

// An hour of debounce cannot pass during these tests: a signal proves the
// examination did not wait for it.
const never = time.Hour

func TestWatcherReloadsAtOnceOnAtomicReplace(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (string, func())
	}{
		{"rename onto the name", func(t *testing.T, dir string) (string, func()) {
			f := filepath.Join(dir, "subscriptions.yaml")
			write(t, f, "v1")
			return f, func() { replace(t, f, "v2") }
		}},
		{"kubelet ..data swap", func(t *testing.T, dir string) (string, func()) {
			f, publish := kubelet(t, dir, "v1")
			return f, func() { publish("v2") }
		}},
		{"symlink replaced by a rename of a new link", func(t *testing.T, dir string) (string, func()) {
			other := t.TempDir()
			write(t, filepath.Join(other, "a.yaml"), "v1")
			write(t, filepath.Join(other, "b.yaml"), "v2")
			f := filepath.Join(dir, "subscriptions.yaml")
			symlink(t, filepath.Join(other, "a.yaml"), f)
			return f, func() {
				symlink(t, filepath.Join(other, "b.yaml"), f+".new")
				rename(t, f+".new", f)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, change := tt.setup(t, t.TempDir())
			w, p := start(t, f, Options{Debounce: never, PollInterval: -1})
			change()
			waitSignal(t, w)
			if got := p.signals.Load(); got != 1 {
				t.Errorf("signals = %d, want 1", got)
			}
		})
	}
}

func TestWatcherDebouncesInPlaceWrites(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v1")
	w, p := start(t, f, Options{Debounce: never, PollInterval: -1})
	// Half a file, then the rest: neither write may be examined at once.
	write(t, f, "v2 half")
	write(t, f, "v2 half and the rest")
	// Events are handled in order, so when the replace below has been
	// examined, the writes before it have been handled too.
	replace(t, f, "v3")
	waitSignal(t, w)
	if got := p.checks.Load(); got != 1 {
		t.Errorf("examinations = %d, want 1 (the replace only; in-place writes wait for the debounce)", got)
	}
}

func TestWatcherReportsInPlaceWritesAfterTheDebounce(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v1")
	w, p := start(t, f, Options{Debounce: 20 * time.Millisecond, PollInterval: -1})
	write(t, f, "v2")
	waitSignal(t, w)
	if got := p.signals.Load(); got != 1 {
		t.Errorf("signals = %d, want 1", got)
	}
}

func TestWatcherIgnoresOtherFilesInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "subscriptions.yaml")
	write(t, f, "v1")
	w, p := start(t, f, Options{Debounce: never, PollInterval: -1})
	// A log file next to the config, an editor's swap file, another
	// config, renames among them: none of it concerns the watched file.
	logf, err := os.OpenFile(filepath.Join(dir, "linq-sync.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	for i := range 50 {
		if _, err := logf.WriteString("level=debug msg=\"file event\"\n"); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, ".subscriptions.yaml.swp"), "x"+string(rune('a'+i%26)))
	}
	write(t, filepath.Join(dir, "other.yaml"), "x")
	rename(t, filepath.Join(dir, "other.yaml"), filepath.Join(dir, "other2.yaml"))
	if err := os.Remove(filepath.Join(dir, ".subscriptions.yaml.swp")); err != nil {
		t.Fatal(err)
	}
	// The replace is examined at once; had any event above been taken for
	// the file, there would be an examination before it.
	replace(t, f, "v2")
	waitSignal(t, w)
	if got := p.checks.Load(); got != 1 {
		t.Errorf("examinations = %d, want 1 (other names must cause none)", got)
	}
}

func TestClassifyEvents(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "subscriptions.yaml")
	write(t, f, "v1")
	target := filepath.Join(t.TempDir(), "real.yaml")
	write(t, target, "v1")
	link := filepath.Join(dir, "linked.yaml")
	symlink(t, target, link)

	w, err := New(f, Options{PollInterval: -1, newSource: func() (source, error) { return newFakeSource(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	wl, err := New(link, Options{PollInterval: -1, newSource: func() (source, error) { return newFakeSource(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer wl.Close()

	ev := func(name string, op fsnotify.Op) fsnotify.Event { return fsnotify.Event{Name: name, Op: op} }
	none := fsnotify.Event{}
	tests := []struct {
		name     string
		w        *Watcher
		prev, ev fsnotify.Event
		want     kind
	}{
		{"write in place", w, none, ev(f, fsnotify.Write), written},
		{"chmod", w, none, ev(f, fsnotify.Chmod), written},
		{"remove", w, none, ev(f, fsnotify.Remove), written},
		{"rename away", w, none, ev(f, fsnotify.Rename), written},
		{"rename onto the name", w, ev(filepath.Join(dir, ".tmp"), fsnotify.Rename), ev(f, fsnotify.Create), replaced},
		{"create with no rename before it", w, ev(filepath.Join(dir, "x.log"), fsnotify.Write), ev(f, fsnotify.Create), written},
		{"create after the name itself was renamed away (backup, then a new file)", w, ev(f, fsnotify.Rename), ev(f, fsnotify.Create), written},
		{"create after a rename in another directory", w, ev(filepath.Join(t.TempDir(), "x"), fsnotify.Rename), ev(f, fsnotify.Create), written},
		{"..data swap", w, ev(filepath.Join(dir, "..data_tmp"), fsnotify.Rename), ev(filepath.Join(dir, "..data"), fsnotify.Create), replaced},
		{"..data removed", w, none, ev(filepath.Join(dir, "..data"), fsnotify.Remove), written},
		{"..data_tmp created", w, none, ev(filepath.Join(dir, "..data_tmp"), fsnotify.Create), ignore},
		{"a log file next to it", w, none, ev(filepath.Join(dir, "linq-sync.log"), fsnotify.Write), ignore},
		{"an editor's swap file", w, none, ev(filepath.Join(dir, ".subscriptions.yaml.swp"), fsnotify.Create), ignore},
		{"a similar name", w, none, ev(f+"~", fsnotify.Write), ignore},
		{"the watched directory removed", w, none, ev(dir, fsnotify.Remove), written},
		{"write to the resolved target", wl, none, ev(target, fsnotify.Write), written},
		{"another file next to the target", wl, none, ev(filepath.Join(filepath.Dir(target), "x.log"), fsnotify.Write), ignore},
		{"create of a name that is a symlink", wl, none, ev(link, fsnotify.Create), replaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.classify(tt.ev, tt.prev); got != tt.want {
				t.Errorf("classify(%v after %v) = %d, want %d", tt.ev, tt.prev, got, tt.want)
			}
		})
	}
}

// TestUnreadableFileIsSignalledNotTakenForMissing: a file that exists but
// cannot be opened (descriptors exhausted) is signalled so that the
// reload fails visibly, and the next good read is signalled too, even with
// the content seen before, so that the reload can succeed.
func TestUnreadableFileIsSignalledNotTakenForMissing(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v1")
	var fail atomic.Bool
	logs := &syncBuffer{}
	opts := Options{Debounce: 10 * time.Millisecond, PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		open: func(name string) (io.ReadCloser, error) {
			if fail.Load() {
				return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
			}
			return os.Open(name)
		}}
	w, p := start(t, f, opts)

	fail.Store(true)
	write(t, f, "v2")
	waitSignal(t, w)
	if !strings.Contains(logs.String(), "too many open files") || !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("the read error is not logged as a warning:\n%s", logs)
	}
	fail.Store(false)
	before := p.checks.Load()
	write(t, f, "v2") // same content as the last event
	waitFor(t, "an examination", func() bool { return p.checks.Load() > before })
	waitSignal(t, w)
}

// TestFileBackAfterMissingIsSignalledEvenIfIdentical: a reload while the
// file was missing failed, so its return must be signalled even with the
// old content; the disappearance itself is logged at once as a warning.
func TestFileBackAfterMissingIsSignalledEvenIfIdentical(t *testing.T) {
	f := filepath.Join(t.TempDir(), "subscriptions.yaml")
	write(t, f, "v1")
	logs := &syncBuffer{}
	w, p := start(t, f, Options{Debounce: 10 * time.Millisecond, PollInterval: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a warning about the missing file", func() bool {
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "missing")
	})
	if got := p.signals.Load(); got != 0 {
		t.Errorf("the disappearance was signalled %d times, want 0", got)
	}
	write(t, f, "v1")
	waitSignal(t, w)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
