// Package reconcile runs one list → plan → policy → safety → apply cycle
// against the API. The plan, apply and run commands all go through it, so
// that a dry run and a real run see exactly the same plan.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// Options configure a Reconciler.
type Options struct {
	// AllEnvironments lets the plan touch subscriptions of non-production
	// environments.
	AllEnvironments bool
	// Rails are the safety limits on deletes.
	Rails diff.Rails
	// Apply is passed to apply.Execute.
	Apply apply.Options
	// EventTypesTTL bounds how long the event-type list is cached; 0 means
	// for the Reconciler's lifetime.
	EventTypesTTL time.Duration
	// Now tells the time for EventTypesTTL; nil means time.Now.
	Now func() time.Time
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
}

// Reconciler plans and applies configs against one account.
type Reconciler struct {
	api  linq.API
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	events     []string
	eventsAt   time.Time
	eventsFrom string // "api" or "built-in"
}

// New returns a Reconciler for api.
func New(api linq.API, opts Options) *Reconciler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reconciler{api: api, opts: opts, log: log}
}

// ValidationError is a config that the API's event-type list rejects.
type ValidationError struct{ Diagnostics config.Diagnostics }

func (e *ValidationError) Error() string { return e.Diagnostics.Error() }

// PlanResult is a computed, policy-filtered plan with what it was made from.
type PlanResult struct {
	Plan diff.Plan
	// Remote is the account as listed.
	Remote []linq.Subscription
	// Listed reports whether the account was listed and a plan computed.
	Listed bool
	// Warnings are non-fatal diagnostics (for example event types checked
	// against the built-in list because the API's could not be read).
	Warnings config.Diagnostics
}

// Plan lists the account once and computes the policy-filtered plan. It
// checks the config's event types against the API's list (fetched once and
// cached) and returns a *ValidationError when one is unknown.
func (r *Reconciler) Plan(ctx context.Context, cfg *config.Config) (PlanResult, error) {
	var res PlanResult
	list := r.startList(ctx) // in flight while the event types are read
	defer list.stop()
	known, from, err := r.eventTypes(ctx)
	if err != nil {
		return res, err
	}
	if diags := config.CheckEventTypes(cfg, known); len(diags) > 0 {
		if from == "api" && diags.HasErrors() {
			return res, &ValidationError{Diagnostics: diags}
		}
		for _, d := range diags {
			d.Severity = config.SeverityWarning
			res.Warnings = append(res.Warnings, d)
		}
	}
	remote, err := list.wait()
	if err != nil {
		return res, err // the client's error already names the call
	}
	res.Remote, res.Listed = remote, true
	p := diff.Compute(cfg.Subscriptions, remote, diff.Options{AllEnvironments: r.opts.AllEnvironments})
	res.Plan = diff.ApplyPolicy(p, cfg.Policy)
	return res, nil
}

// pendingList is a List call running in its own goroutine.
type pendingList struct {
	cancel context.CancelFunc
	done   chan struct{}
	subs   []linq.Subscription
	err    error
}

// startList starts listing the account, so that a plan costs one round
// trip rather than two: the list does not depend on the event types.
func (r *Reconciler) startList(ctx context.Context) *pendingList {
	ctx, cancel := context.WithCancel(ctx)
	l := &pendingList{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.subs, l.err = r.api.List(ctx)
	}()
	return l
}

// wait returns the list's result.
func (l *pendingList) wait() ([]linq.Subscription, error) {
	<-l.done
	return l.subs, l.err
}

// stop cancels the list if it is still running and waits for it, so that
// no call outlives the plan that made it.
func (l *pendingList) stop() {
	l.cancel()
	<-l.done
}

// eventTypes returns the event types to check a config against and where
// they came from: the API's list, cached for EventTypesTTL, or, when that
// cannot be read for a reason other than authentication or cancellation,
// the built-in list, which is not cached.
func (r *Reconciler) eventTypes(ctx context.Context) ([]string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events != nil && (r.opts.EventTypesTTL == 0 || r.opts.Now().Sub(r.eventsAt) < r.opts.EventTypesTTL) {
		return r.events, r.eventsFrom, nil
	}
	ev, err := r.api.EventTypes(ctx)
	switch {
	case err == nil && len(ev) > 0:
		r.events, r.eventsFrom, r.eventsAt = ev, "api", r.opts.Now()
	case linq.IsAuth(err):
		return nil, "", err
	case ctx.Err() != nil:
		return nil, "", fmt.Errorf("list event types: %w", context.Cause(ctx))
	default:
		if err == nil {
			err = errors.New("empty list")
		}
		r.log.Warn("could not read the API's event types; checking against the built-in list", "err", err)
		// Do not cache the fallback: the next plan asks the API again.
		return config.KnownEventTypes, "built-in", nil
	}
	return r.events, r.eventsFrom, nil
}

// Report is the outcome of one Reconcile.
type Report struct {
	PlanResult
	// Result is what apply did; zero for a dry run.
	Result apply.Result
	// Applied reports whether apply ran.
	Applied bool
}

// Pending is the drift that remains after the reconcile: the plan's counts
// for a dry run, the failed changes otherwise.
func (r Report) Pending() diff.Summary {
	if !r.Applied {
		return r.Plan.Summary()
	}
	s := diff.Summary{Unmanaged: r.Plan.Summary().Unmanaged}
	for _, f := range r.Result.Failures {
		switch f.Change.Action {
		case diff.ActionCreate:
			s.Create++
		case diff.ActionUpdate:
			s.Update++
		case diff.ActionDelete:
			s.Delete++
		}
	}
	return s
}

// ErrChangesFailed is returned (wrapped) when apply ran and some changes
// did not take effect.
var ErrChangesFailed = errors.New("some changes failed")

// Reconcile plans cfg and, unless dryRun, checks the safety rails and
// applies the plan. Entry errors and safety refusals stop it before any
// write; failed changes leave the rest applied and return an error wrapping
// ErrChangesFailed.
func (r *Reconciler) Reconcile(ctx context.Context, cfg *config.Config, dryRun bool) (Report, error) {
	pr, err := r.Plan(ctx, cfg)
	rep := Report{PlanResult: pr}
	if err != nil {
		return rep, err
	}
	if n := len(pr.Plan.Errors); n > 0 {
		return rep, &PlanErrors{Errors: pr.Plan.Errors}
	}
	if dryRun {
		return rep, nil
	}
	if err := diff.CheckSafety(pr.Plan, len(cfg.Subscriptions), r.opts.Rails); err != nil {
		return rep, err
	}
	if !pr.Plan.HasChanges() {
		rep.Applied = true
		rep.Result.Applied = map[diff.Action]int{}
		return rep, nil
	}
	res, err := apply.Execute(ctx, r.api, pr.Plan, r.opts.Apply)
	if err != nil {
		return rep, err
	}
	rep.Result, rep.Applied = res, true
	if !res.OK() {
		s := pr.Plan.Summary()
		return rep, fmt.Errorf("%d of %d changes failed: %w", len(res.Failures), s.Create+s.Update+s.Delete, ErrChangesFailed)
	}
	return rep, nil
}

// PlanErrors is a plan with entries that cannot be planned; nothing is
// applied from it.
type PlanErrors struct{ Errors []diff.EntryError }

func (e *PlanErrors) Error() string {
	if len(e.Errors) == 1 {
		return fmt.Sprintf("subscription %q: %s; nothing applied", e.Errors[0].Name, e.Errors[0].Message)
	}
	return fmt.Sprintf("%d subscriptions cannot be planned (first: %q: %s); nothing applied", len(e.Errors), e.Errors[0].Name, e.Errors[0].Message)
}
