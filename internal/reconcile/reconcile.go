// Package reconcile runs one list → plan → policy → safety → apply cycle
// against the API. The plan, apply and run commands all go through it, so
// that a dry run and a real run see exactly the same plan.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// Options configure a Reconciler.
type Options struct {
	// AllEnvironments lets the plan touch subscriptions of non-production
	// environments.
	AllEnvironments bool
	// Rails are the safety limits on deletes.
	Rails diff.Rails
	// Apply is passed to apply.Execute. Its Secrets store is also read at
	// every plan, to show the custody of each matched entry's secret.
	Apply apply.Options
	// RotateLostSecrets adds a rotation to the plan for every matched entry
	// whose secret is lost, so that a fresh secret is held.
	RotateLostSecrets bool
	// Verifier probes the new URL of an entry with verify_before_move;
	// without one, such moves are held back.
	Verifier Verifier
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
	// Held is what the secret store held when the plan was made; nil
	// without a store.
	Held map[string]secrets.Entry
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
	p = diff.ApplyPolicy(p, cfg.Policy)
	if store := r.opts.Apply.Secrets; store != nil {
		held, err := store.Load(ctx)
		if err != nil {
			return res, fmt.Errorf("read secret store %s: %w", store, err)
		}
		res.Held = held
		p.Custody = diff.AssessCustody(p.Matched, Custody(held))
		if lost := diff.Lost(p.Custody); len(lost) > 0 && (r.opts.RotateLostSecrets || cfg.RotateLostSecrets) {
			names := make([]string, len(lost))
			for i, c := range lost {
				names[i] = c.Name
			}
			p, _ = diff.Rotate(p, names)
		}
	}
	p = r.verifyMoves(ctx, p)
	res.Plan = p
	return res, nil
}

// Custody turns what a secret store holds into the plain data that
// diff.AssessCustody takes.
func Custody(held map[string]secrets.Entry) map[string]diff.Held {
	out := make(map[string]diff.Held, len(held))
	for name, e := range held {
		h := diff.Held{Verified: e.Verified, Legacy: e.Legacy}
		if e.Held != nil {
			h.SubscriptionID = e.Held.SubscriptionID
		}
		if e.Pending != nil {
			h.PendingSince = e.Pending.At
			if h.PendingSince.IsZero() {
				h.PendingSince = time.Unix(0, 0)
			}
		}
		out[name] = h
	}
	return out
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
	// HeldDeletes counts the deletes (and rotations, which delete) that
	// RunOptions.HoldDeletes kept out of the apply; they stay pending.
	HeldDeletes int
}

// RunOptions tune one reconcile.
type RunOptions struct {
	// DryRun plans without writing.
	DryRun bool
	// HoldDeletes applies the plan's creates and updates and leaves its
	// deletes (and rotations) pending, counted in Report.HeldDeletes. The
	// daemon sets it while the file has not been stable long enough: a
	// half-written file would otherwise delete what its missing half
	// declares. The safety rails still judge the whole plan.
	HoldDeletes bool
}

// Pending is the drift that remains after the reconcile: the plan's counts
// for a dry run, the failed changes otherwise.
func (r Report) Pending() diff.Summary {
	if !r.Applied {
		return r.Plan.Summary()
	}
	s := diff.Summary{Unmanaged: r.Plan.Summary().Unmanaged}
	if r.HeldDeletes > 0 {
		for _, c := range r.Plan.Changes {
			switch c.Action {
			case diff.ActionDelete:
				s.Delete++
			case diff.ActionRotate:
				s.Rotate++
			}
		}
	}
	for _, f := range r.Result.Failures {
		switch f.Change.Action {
		case diff.ActionCreate:
			s.Create++
		case diff.ActionUpdate:
			s.Update++
		case diff.ActionDelete:
			s.Delete++
		case diff.ActionRotate:
			s.Rotate++
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
	return r.ReconcileWith(ctx, cfg, RunOptions{DryRun: dryRun})
}

// ReconcileWith is Reconcile with RunOptions.
func (r *Reconciler) ReconcileWith(ctx context.Context, cfg *config.Config, o RunOptions) (Report, error) {
	dryRun := o.DryRun
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
	plan := pr.Plan
	if o.HoldDeletes {
		plan, rep.HeldDeletes = withoutDeletes(plan)
	}
	if !plan.HasChanges() {
		rep.Applied = true
		rep.Result.Applied = map[diff.Action]int{}
		if lost := rep.Missing(); len(lost) > 0 {
			return rep, &LostSecretsError{Lost: lost}
		}
		return rep, nil
	}
	return r.execute(ctx, rep, plan)
}

// execute applies plan (rep's plan, or part of it), which passed the
// safety rails, and reports.
func (r *Reconciler) execute(ctx context.Context, rep Report, plan diff.Plan) (Report, error) {
	pr := rep.PlanResult
	ao := r.opts.Apply
	ao.Held = pr.Held
	live := make(map[string]bool, len(pr.Remote))
	for _, s := range pr.Remote {
		live[s.ID] = true
	}
	ao.Live = func(id string) bool { return live[id] }
	res, err := apply.Execute(ctx, r.api, plan, ao)
	if err != nil {
		return rep, err
	}
	rep.Result, rep.Applied = res, true
	if !res.OK() {
		s := plan.Summary()
		return rep, fmt.Errorf("%d of %d changes failed: %w", len(res.Failures), s.Create+s.Update+s.Delete+s.Rotate, ErrChangesFailed)
	}
	if lost := rep.Missing(); len(lost) > 0 {
		return rep, &LostSecretsError{Lost: lost}
	}
	return rep, nil
}

// Rotate replaces the named entries' subscriptions so that a fresh secret
// is held for each, and changes nothing else: the rest of the plan is
// left for apply. Names the plan does not match to a subscription are
// refused before any write, as are plans with entry errors.
func (r *Reconciler) Rotate(ctx context.Context, cfg *config.Config, names []string) (Report, error) {
	if r.opts.Apply.Secrets == nil {
		return Report{}, apply.ErrNoSecretStore
	}
	pr, err := r.Plan(ctx, cfg)
	rep := Report{PlanResult: pr}
	if err != nil {
		return rep, err
	}
	if len(pr.Plan.Errors) > 0 {
		return rep, &PlanErrors{Errors: pr.Plan.Errors}
	}
	// Drop every change, and any rotation the options added, then rotate
	// exactly the names given.
	only := pr.Plan
	only.Changes = nil
	for _, c := range pr.Plan.Changes {
		if c.Action == diff.ActionUnmanaged {
			only.Changes = append(only.Changes, c)
		}
	}
	only.InSync = len(only.Matched)
	// Custody is reported for the names rotated only: other losses are
	// apply's to report.
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	only.Custody = nil
	for _, c := range pr.Plan.Custody {
		if want[c.Name] {
			only.Custody = append(only.Custody, c)
		}
	}
	rotated, unknown := diff.Rotate(only, names)
	if len(unknown) > 0 {
		return rep, fmt.Errorf("cannot rotate %s: no subscription of the account matches %s in %s", quoteList(unknown), plural(len(unknown), "that entry", "those entries"), cfg.Path)
	}
	rep.Plan = rotated
	if err := diff.CheckSafety(rotated, len(cfg.Subscriptions), r.opts.Rails); err != nil {
		return rep, err
	}
	return r.execute(ctx, rep, rotated)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Missing returns the managed subscriptions whose signing secret is lost
// after this reconcile: those the plan found lost and no rotation
// replaced, and those whose secret this apply lost. A secret another
// writer holds (created elsewhere) is not missing.
func (r Report) Missing() []apply.LostSecret {
	var out []apply.LostSecret
	seen := map[string]bool{}
	// A loss is cured only by a subscription created, secret stored, in
	// this apply: a rotation that failed, or was held back (deletes wait
	// for a settled file), leaves it lost.
	rotated := map[string]bool{}
	for _, c := range r.Result.Created {
		rotated[c.Name] = true
	}
	for _, c := range diff.Lost(r.Plan.Custody) {
		if rotated[c.Name] {
			continue
		}
		seen[c.Name] = true
		out = append(out, apply.LostSecret{Name: c.Name, ID: c.ID, Reason: apply.LossReason(c.Reason)})
	}
	for _, l := range r.Result.LostSecrets {
		if l.Reason == apply.ReasonCreatedElsewhere || seen[l.Name] {
			continue
		}
		seen[l.Name] = true
		out = append(out, l)
	}
	return out
}

// LostSecretsError is returned by an apply that left managed
// subscriptions whose secrets are lost: deliveries to them cannot be
// verified until they are rotated.
type LostSecretsError struct{ Lost []apply.LostSecret }

func (e *LostSecretsError) Error() string {
	if len(e.Lost) == 1 {
		l := e.Lost[0]
		return fmt.Sprintf("the signing secret of %q (%s) is lost (%s)", l.Name, l.ID, l.Reason.Message())
	}
	return fmt.Sprintf("the signing secrets of %d subscriptions are lost (first: %q)", len(e.Lost), e.Lost[0].Name)
}

// Hint says how to cure the loss.
func (e *LostSecretsError) Hint() string {
	names := make([]string, len(e.Lost))
	for i, l := range e.Lost {
		names[i] = l.Name
	}
	return "rotate them to get fresh secrets: linq-sync rotate -f FILE " + strings.Join(names, " ") + ", or apply with --rotate-lost-secrets"
}

// withoutDeletes returns p without its deletes and rotations, and how many
// it dropped.
func withoutDeletes(p diff.Plan) (diff.Plan, int) {
	kept := make([]diff.Change, 0, len(p.Changes))
	for _, c := range p.Changes {
		if c.Action == diff.ActionDelete || c.Action == diff.ActionRotate {
			continue
		}
		kept = append(kept, c)
	}
	held := len(p.Changes) - len(kept)
	p.Changes = kept
	return p, held
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
