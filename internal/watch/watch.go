// Package watch reports when the content of one file really changed. It
// watches the file's directory rather than the file, so that editors that
// write a temporary file and rename it, `mv` over the file and Kubernetes
// ConfigMap volume updates (the `..data` symlink swap) are all seen, and it
// re-reads the file on a slow timer in case events were lost (NFS, FUSE,
// inotify queue overflow). It does not parse or load the file: it only says
// "look again", and only when the content hash or the resolved symlink
// target differs from the last one it reported.
//
// Only events for the file's own name, its resolved target and the
// directory's `..data` link count; every other name in the directory (an
// editor's swap file, a log file) is ignored. An atomic replace (a rename
// onto the name, a new symlink, the `..data` swap) is complete when it
// happens and is examined at once; other events (in-place writes, which
// may be half done) are debounced.
package watch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the zero Options.
const (
	DefaultDebounce     = 250 * time.Millisecond
	DefaultPollInterval = 30 * time.Second
)

// maxDelayFactor bounds how long a steady stream of events can postpone a
// check: at most Debounce*maxDelayFactor after the first event of a burst.
const maxDelayFactor = 8

// Options tune a Watcher. The zero value is usable.
type Options struct {
	// Debounce is how long the file must be quiet after an in-place write
	// (or any event other than an atomic replace) before it is examined; a
	// burst of events gives one examination. 0 means DefaultDebounce.
	Debounce time.Duration
	// PollInterval is how often the file is re-examined even without
	// events, as a fallback for lost events. 0 means DefaultPollInterval;
	// a negative value disables polling.
	PollInterval time.Duration
	// Logger receives debug lines about events and warnings about watcher
	// errors; nil discards.
	Logger *slog.Logger

	// newSource replaces fsnotify in tests.
	newSource func() (source, error)
	// afterCheck, when set, is called after every examination with whether
	// it signalled a change (tests wait on it instead of sleeping).
	afterCheck func(changed bool)
	// open replaces os.Open in tests (to fail with EMFILE).
	open func(name string) (io.ReadCloser, error)
}

// source is the part of *fsnotify.Watcher the Watcher uses.
type source interface {
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Add(dir string) error
	Remove(dir string) error
	Close() error
}

type fsnotifySource struct{ w *fsnotify.Watcher }

func newFSNotifySource() (source, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return fsnotifySource{w}, nil
}

func (s fsnotifySource) Events() <-chan fsnotify.Event { return s.w.Events }
func (s fsnotifySource) Errors() <-chan error          { return s.w.Errors }
func (s fsnotifySource) Add(dir string) error          { return s.w.Add(dir) }
func (s fsnotifySource) Remove(dir string) error       { return s.w.Remove(dir) }
func (s fsnotifySource) Close() error                  { return s.w.Close() }

// state is what one examination of the file found.
type state struct {
	exists bool
	// target is the path after resolving every symlink.
	target string
	sum    [sha256.Size]byte
}

// Watcher reports changes to one file's content or resolved target on
// Changes. Create it with New, then call Run.
type Watcher struct {
	path    string // absolute
	opts    Options
	log     *slog.Logger
	changes chan struct{}

	src  source          // nil while fsnotify is unavailable
	dirs map[string]bool // directories added to src
	// last is the state last seen while the file existed; reported changes
	// are relative to it.
	last state
	// gone is set while the file is missing: its return is reported even
	// with the same content, since a reload may have failed meanwhile.
	gone bool
}

// New returns a Watcher for path and records the file's current content as
// the baseline, so that only later changes are reported. The directory
// watch is in place when New returns: a change made after New returns is
// seen by a later Run. If fsnotify cannot be set up (inotify limits, an
// unsupported file system) New still succeeds, logs a warning and relies on
// polling, retrying fsnotify at every poll. A missing file is not an error:
// its appearance is reported as a change.
func New(path string, opts Options) (*Watcher, error) {
	if path == "" {
		return nil, errors.New("watch: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("watch %q: %w", path, err)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.newSource == nil {
		opts.newSource = newFSNotifySource
	}
	if opts.open == nil {
		opts.open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		path:    abs,
		opts:    opts,
		log:     log.With("file", abs),
		changes: make(chan struct{}, 1),
		dirs:    map[string]bool{},
	}
	w.last, _ = w.examine()
	w.rebuild()
	return w, nil
}

// Changes delivers one value after each change. It is buffered and
// coalescing: changes that arrive while a value is pending are merged into
// it, so a slow reader sees one signal for many changes, never a backlog.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Close releases the directory watch. Run closes it too on return; Close is
// for a Watcher whose Run never started, and is safe to call twice.
func (w *Watcher) Close() error {
	if w.src == nil {
		return nil
	}
	err := w.src.Close()
	w.src = nil
	return err
}

// Run watches until ctx is done, then releases the watch and returns nil.
// Errors from the watch are not fatal: an overflow or any other watcher
// error makes Run examine the file at once, closed event channels make it
// build a new watch, and polling covers the time in between.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.Close()

	var poll <-chan time.Time
	if w.opts.PollInterval > 0 {
		t := time.NewTicker(w.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}

	// Since Go 1.23 a stopped or reset timer never delivers a stale value,
	// so the timer needs no draining.
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var burstStart time.Time // zero while no check is pending
	maxDelay := w.opts.Debounce * maxDelayFactor
	var prev fsnotify.Event // the event before this one, whatever its name

	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if w.src != nil {
			events, errs = w.src.Events(), w.src.Errors()
		}
		select {
		case <-ctx.Done():
			return nil

		case ev, ok := <-events:
			if !ok {
				w.log.Warn("file watch closed; rebuilding it")
				w.rebuild()
				w.check()
				continue
			}
			switch w.classify(ev, prev) {
			case ignore:
			case replaced:
				w.log.Debug("file replaced", "name", ev.Name, "op", ev.Op.String())
				debounce.Stop()
				burstStart = time.Time{}
				w.check()
			case written:
				w.log.Debug("file event", "name", ev.Name, "op", ev.Op.String())
				now := time.Now()
				if burstStart.IsZero() {
					burstStart = now
				}
				wait := min(w.opts.Debounce, burstStart.Add(maxDelay).Sub(now))
				debounce.Reset(max(wait, 0))
			}
			prev = ev

		case err, ok := <-errs:
			if !ok {
				w.log.Warn("file watch closed; rebuilding it")
				w.rebuild()
			} else if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("file watch overflowed; examining the file now")
			} else {
				w.log.Warn("file watch error; examining the file now", "err", err)
			}
			w.check()

		case <-debounce.C:
			burstStart = time.Time{}
			w.check()

		case <-poll:
			if w.src == nil {
				w.rebuild()
			}
			w.check()
		}
	}
}

// kind is what an event means for the watched file.
type kind int

const (
	ignore   kind = iota // another name: no examination, no debounce
	written              // possibly incomplete: examine once quiet
	replaced             // complete: examine now
)

// dataLink is the symlink the kubelet swaps to publish a new version of a
// ConfigMap or Secret volume.
const dataLink = "..data"

// classify sorts ev, given the event before it. Only the file's own name,
// its resolved target, the directory's ..data link and the watched
// directories themselves are of interest.
//
// An atomic replace is recognised without platform-specific flags: fsnotify
// reports a rename within watched directories as a Rename of the old name
// directly followed by a Create of the new one, so a Create of the file's
// name right after the Rename of another name in the same directory is a
// rename onto it. A Create of ..data, or of the file's name when it is now
// a symlink, is atomic too (a symlink is created whole). A Create that
// follows no rename may be a new file still being written (or a rename
// from an unwatched directory, which cannot be told apart): it is treated
// as a write.
func (w *Watcher) classify(ev, prev fsnotify.Event) kind {
	dir := filepath.Dir(w.path)
	switch ev.Name {
	case w.path:
		if !ev.Has(fsnotify.Create) {
			return written
		}
		if prev.Has(fsnotify.Rename) && prev.Name != w.path && filepath.Dir(prev.Name) == dir {
			return replaced
		}
		if fi, err := os.Lstat(w.path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return replaced
		}
		return written
	case filepath.Join(dir, dataLink):
		if ev.Has(fsnotify.Create) {
			return replaced
		}
		return written
	}
	if w.last.exists && ev.Name == w.last.target {
		return written
	}
	if w.dirs[ev.Name] {
		return written // a watched directory itself was removed or moved
	}
	return ignore
}

// rebuild replaces the event source with a new one watching the desired
// directories. On failure the Watcher keeps polling without one.
func (w *Watcher) rebuild() {
	if w.src != nil {
		_ = w.src.Close()
		w.src = nil
	}
	clear(w.dirs)
	src, err := w.opts.newSource()
	if err != nil {
		w.log.Warn("cannot watch the file for changes; polling only", "err", err, "poll_interval", w.opts.PollInterval)
		return
	}
	w.src = src
	w.syncDirs(w.last)
}

// syncDirs makes the source watch the file's directory and the directory
// of its resolved target, adding missing watches (a directory removed and
// recreated loses its watch) and dropping stale ones.
func (w *Watcher) syncDirs(s state) {
	if w.src == nil {
		return
	}
	want := map[string]bool{filepath.Dir(w.path): true}
	if s.exists {
		want[filepath.Dir(s.target)] = true
	}
	for d := range w.dirs {
		if !want[d] {
			_ = w.src.Remove(d) // it may be gone already
			delete(w.dirs, d)
		}
	}
	for d := range want {
		// Add is a no-op for a directory that is still watched, and
		// re-establishes the watch of one that was removed and recreated.
		if err := w.src.Add(d); err != nil {
			if w.dirs[d] || !errors.Is(err, fs.ErrNotExist) {
				w.log.Debug("cannot watch directory", "dir", d, "err", err)
			}
			delete(w.dirs, d)
			continue
		}
		w.dirs[d] = true
	}
}

// check examines the file and signals when its content or resolved target
// differs from the last state seen while it existed, or when it exists
// again after it was seen missing. A missing file is logged (once, as a
// warning) and not signalled: a reload would fail, and the last good
// config stays in force. A file that exists but cannot be read (EMFILE,
// ENFILE, EACCES, EIO...) is signalled, so that the reload fails, is
// logged and counted, rather than the change being taken for nothing.
func (w *Watcher) check() {
	s, err := w.examine()
	missing := errors.Is(err, fs.ErrNotExist)
	changed := false
	switch {
	case err != nil && !missing:
		w.log.Warn("cannot read the file; reloading so that the failure is reported", "err", err)
		changed = true
		w.last = state{} // the next good read is reported, whatever it holds
	case missing:
		if !w.gone {
			w.log.Warn("file is missing; keeping the last good config until it is back")
		}
		w.gone = true
	default:
		changed = w.gone || !w.last.exists || s.sum != w.last.sum || s.target != w.last.target
		if changed {
			w.log.Debug("file changed", "target", s.target, "back", w.gone)
		}
		w.gone = false
		w.last = s
	}
	w.syncDirs(s)
	if w.opts.afterCheck != nil {
		w.opts.afterCheck(changed)
	}
	if changed {
		select {
		case w.changes <- struct{}{}:
		default: // a signal is already pending
		}
	}
}

// examine hashes the file's content and resolves its symlinks. The error
// wraps fs.ErrNotExist when the file (or a link's target, as mid-swap) is
// missing; any other error is a file that exists but cannot be read.
func (w *Watcher) examine() (state, error) {
	target, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		return state{}, err
	}
	f, err := w.opts.open(target)
	if err != nil {
		return state{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return state{}, err
	}
	s := state{exists: true, target: target}
	h.Sum(s.sum[:0])
	return s, nil
}
