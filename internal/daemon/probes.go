package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// RecheckAfter is how long after a failed probe of a new endpoint it is
// probed again: a receiver may take a minute to pick up a new secret.
const RecheckAfter = 2 * time.Minute

// Probes runs the daemon's endpoint probes, when an interval is set (the
// flag, or the file's probe_interval): every interval, and right after
// each create or rotation.
// It wraps the reconciler to learn, from each plan, which endpoints are
// managed and which secrets are held; it makes no API call of its own.
type Probes struct {
	r        *reconcile.Reconciler
	store    secrets.Store
	mon      *probe.Monitor
	flag     time.Duration // --probe-interval; 0 defers to the file
	recheck  time.Duration
	afterNew func(d time.Duration, f func()) // time.AfterFunc; tests inject

	mu       sync.Mutex
	targets  []probe.Target
	interval time.Duration // in force
	changed  chan struct{} // closed and replaced when interval changes
	probing  sync.WaitGroup
}

// NewProbes returns the probes of the daemon whose reconciles go through
// r, with secrets read from store. interval is --probe-interval: when
// zero, the file's probe_interval applies; when that is zero too, probing
// is off and no probe is ever sent.
func NewProbes(r *reconcile.Reconciler, store secrets.Store, mon *probe.Monitor, interval time.Duration) *Probes {
	return &Probes{
		r: r, store: store, mon: mon, flag: interval, interval: interval,
		recheck:  RecheckAfter,
		afterNew: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		changed:  make(chan struct{}),
	}
}

// Reconciler is the daemon Reconciler that reconciles through r and
// remembers each plan's probe targets. After an apply that created
// subscriptions it probes them at once (in the background, so the loop is
// not held up), and once more RecheckAfter later if they did not verify.
func (p *Probes) Reconciler(ctx context.Context) Reconciler {
	return ReconcilerFunc(func(rctx context.Context, cfg *config.Config, mode Mode) (Outcome, error) {
		rep, err := p.r.ReconcileWith(rctx, cfg, reconcile.RunOptions{DryRun: mode.DryRun, HoldDeletes: mode.HoldDeletes})
		p.setInterval(cfg.ProbeInterval)
		// The targets carry the held secrets, read from the store one by
		// one (an API call each for the kubernetes: store): only while
		// probing is on.
		if rep.Listed {
			var ts []probe.Target
			if p.enabled() {
				ts = reconcile.ProbeTargets(rctx, rep, p.store)
			}
			p.mu.Lock()
			p.targets = ts
			p.mu.Unlock()
		}
		if len(rep.Result.Created) > 0 && p.enabled() {
			created := make([]probe.Target, 0, len(rep.Result.Created))
			for _, c := range rep.Result.Created {
				created = append(created, reconcile.CreatedTarget(rctx, c, p.store))
			}
			p.checkNew(ctx, created)
		}
		return outcomeOf(rep), err
	})
}

// checkNew probes new endpoints now and, those that did not verify,
// again after recheck.
func (p *Probes) checkNew(ctx context.Context, ts []probe.Target) {
	p.probing.Add(1)
	go func() {
		defer p.probing.Done()
		var again []probe.Target
		for i, r := range p.mon.Check(ctx, ts) {
			if r.Result != probe.Verified && r.Result != probe.Skipped && ctx.Err() == nil {
				again = append(again, ts[i])
			}
		}
		if len(again) == 0 {
			return
		}
		p.probing.Add(1)
		p.afterNew(p.recheck, func() {
			defer p.probing.Done()
			if ctx.Err() == nil {
				p.mon.Check(ctx, again)
			}
		})
	}()
}

// enabled reports whether probing is on (an interval is in force).
func (p *Probes) enabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.interval > 0
}

// setInterval applies the file's probe_interval unless the flag set one.
func (p *Probes) setInterval(fromFile time.Duration) {
	want := p.flag
	if want == 0 {
		want = fromFile
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if want != p.interval {
		p.interval = want
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// Targets returns the endpoints the last plan found, for Monitor.Run.
func (p *Probes) Targets(context.Context) ([]probe.Target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probe.Target(nil), p.targets...), nil
}

// Run probes every endpoint on the interval in force until ctx ends,
// following changes of the file's probe_interval, then waits for the
// probes still in flight.
func (p *Probes) Run(ctx context.Context) {
	defer p.probing.Wait()
	tick := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.mon.Run(ctx, tick, p.Targets)
	}()
	defer func() { <-done }()
	for {
		p.mu.Lock()
		interval, changed := p.interval, p.changed
		p.mu.Unlock()
		if !p.wait(ctx, interval, changed, tick) {
			return
		}
	}
}

// wait waits for the next probe time and hands it to tick, or for the
// interval to change; it reports false once ctx ends. With no interval it
// waits only for a change.
func (p *Probes) wait(ctx context.Context, interval time.Duration, changed <-chan struct{}, tick chan<- time.Time) bool {
	var fire <-chan time.Time // nil while probing is off: never fires
	if interval > 0 {
		t := time.NewTimer(interval)
		defer t.Stop()
		fire = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		return true
	case now := <-fire:
		select {
		case tick <- now:
			return true
		case <-ctx.Done():
			return false
		}
	}
}
