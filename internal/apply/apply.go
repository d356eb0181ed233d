// Package apply executes a plan against the Linq API: one write per changed
// subscription, with bounded concurrency, storing each new signing secret.
// It makes creates safe to retry by re-listing before every new attempt, so
// no failure produces two subscriptions or a loop. It does not compute plans
// or decide policy; it executes exactly the changes it is given.
package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// Options tune an Execute.
type Options struct {
	// Concurrency bounds the writes in flight; 0 means 4.
	Concurrency int
	// Secrets keeps custody of the secret of every create and rotation:
	// each is journalled before its call and stored after it. Required
	// when the plan has creates or rotations; Execute refuses the plan
	// before any call otherwise.
	Secrets secrets.Store
	// Held is what Secrets held when the plan was made. A name whose
	// stored secret belongs to a subscription that still exists (Live)
	// has that secret kept aside, never overwritten.
	Held map[string]secrets.Entry
	// Live reports whether a subscription id exists in the account as
	// listed; nil means none does.
	Live func(id string) bool
	// Now is the clock of journal entries; nil means time.Now.
	Now func() time.Time
	// CreateAttempts caps the create attempts of one subscription,
	// re-listing between them; 0 means 3.
	CreateAttempts int
	// CreateBackoff is the wait before create attempt n (n >= 2); nil
	// means 250ms doubling, with full jitter.
	CreateBackoff func(n int) time.Duration
	// Logger receives one line per write; nil discards.
	Logger *slog.Logger
}

// Failure is a change that did not take effect, or took effect only in part.
type Failure struct {
	Change diff.Change
	// Action is the write that failed (an inactive create can fail at its
	// follow-up update).
	Action diff.Action
	Err    error
}

// LossReason says why a LostSecret's signing secret is not held here. Its
// value is shaped as a metric label (linq_sync_secrets_lost_total{reason});
// Message gives the words for people.
type LossReason string

// Reasons a LostSecret gives. LossReasons lists them all.
const (
	// ReasonResponseLost: our create committed but its answer never arrived.
	ReasonResponseLost LossReason = "response_lost"
	// ReasonCreatedElsewhere: another writer created it first; the secret
	// is held there.
	ReasonCreatedElsewhere LossReason = "created_elsewhere"
	// ReasonOutcomeUnknown: a create may have committed, and re-listing to
	// find out failed; if the subscription exists, its secret is lost.
	ReasonOutcomeUnknown LossReason = "outcome_unknown"
	// ReasonNoSecret: the create answer carried no secret.
	ReasonNoSecret LossReason = "no_secret"
	// ReasonNotStored: the secret arrived but could not be written.
	ReasonNotStored LossReason = "not_stored"
	// ReasonInterrupted: a plan found a journalled create whose secret was
	// never stored (the process was killed, or crashed, mid-create).
	ReasonInterrupted LossReason = diff.LostInterrupted
	// ReasonMismatch: a plan found that the stored secret belongs to
	// another subscription, or does not match its record.
	ReasonMismatch LossReason = diff.LostMismatch
)

// LossReasons returns every LossReason, in a fixed order: the values the
// metrics pre-register.
func LossReasons() []LossReason {
	return []LossReason{ReasonResponseLost, ReasonCreatedElsewhere, ReasonOutcomeUnknown, ReasonNoSecret, ReasonNotStored, ReasonInterrupted, ReasonMismatch}
}

// Message returns r in words, for logs and warnings.
func (r LossReason) Message() string {
	switch r {
	case ReasonResponseLost:
		return "response lost"
	case ReasonCreatedElsewhere:
		return "created elsewhere"
	case ReasonOutcomeUnknown:
		return "outcome unknown"
	case ReasonNoSecret:
		return "no secret in response"
	case ReasonNotStored:
		return "could not be stored"
	case ReasonInterrupted:
		return "create interrupted before its secret was stored"
	case ReasonMismatch:
		return "stored secret belongs to another subscription"
	}
	return string(r)
}

// LostSecret is a subscription that exists (or, for ReasonOutcomeUnknown,
// may exist) but whose signing secret this run does not hold.
type LostSecret struct {
	Name string
	ID   string
	// Reason is one of LossReasons.
	Reason LossReason
}

// Result is what an Execute did.
type Result struct {
	// Applied counts the changes that took full effect, by action.
	Applied map[diff.Action]int
	// Failures lists the changes that did not, in plan order.
	Failures []Failure
	// LostSecrets lists subscriptions created without a stored secret.
	LostSecrets []LostSecret
	// Writes counts the write calls made, including failed attempts.
	Writes int
	// StoreErr is the first failure of the secret store, after which no
	// further create was started.
	StoreErr error
	// Created lists the subscriptions created (by a create or a rotation)
	// whose secret was stored, sorted by name: the endpoints to probe.
	Created []Created
}

// Created is a subscription an Execute created and whose secret it stored.
type Created struct {
	Name, ID, TargetURL string
}

// OK reports whether every change took full effect.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// ErrNoSecretStore is returned when a plan with creates has nowhere to
// keep their signing secrets.
var ErrNoSecretStore = errors.New("the plan creates subscriptions but no secret store was given (--secrets or --secrets-dir): their signing secrets would be lost")

// Execute applies the executable changes of p (create, update, delete,
// rotate) and reports what happened. Deletes run first, then updates, then
// rotations and creates, so that a target_url freed by one change can be
// taken by the next. A failed change does not stop the others, except that
// once the secret store fails no further create starts: its secret would
// have nowhere to go. Execute returns an error only when it refuses to
// start.
func Execute(ctx context.Context, api linq.API, p diff.Plan, opts Options) (Result, error) {
	if len(p.Errors) > 0 {
		return Result{}, fmt.Errorf("plan has %d entry error(s); nothing applied", len(p.Errors))
	}
	var creates, updates, deletes []diff.Change
	for _, c := range p.Changes {
		switch c.Action {
		case diff.ActionCreate, diff.ActionRotate:
			creates = append(creates, c)
		case diff.ActionUpdate:
			updates = append(updates, c)
		case diff.ActionDelete:
			deletes = append(deletes, c)
		}
	}
	if len(creates) > 0 && opts.Secrets == nil {
		return Result{}, ErrNoSecretStore
	}
	e := &executor{api: api, opts: opts, log: opts.Logger, res: Result{Applied: map[diff.Action]int{}}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.opts.Concurrency <= 0 {
		e.opts.Concurrency = 4
	}
	if e.opts.CreateAttempts <= 0 {
		e.opts.CreateAttempts = 3
	}
	if e.opts.CreateBackoff == nil {
		e.opts.CreateBackoff = defaultCreateBackoff
	}
	if e.opts.Now == nil {
		e.opts.Now = time.Now
	}
	if e.opts.Live == nil {
		e.opts.Live = func(string) bool { return false }
	}
	e.run(ctx, deletes, e.delete)
	for _, wave := range diff.RenameWaves(updates) {
		e.run(ctx, wave, e.update)
	}
	if len(creates) > 0 {
		// Prove the store can take a secret before the first create, so
		// that a full or read-only store costs no secret at all.
		if err := opts.Secrets.Probe(ctx); err != nil {
			e.storeFailed(err)
		}
		e.run(ctx, creates, e.create)
	}
	order := make(map[string]int, len(p.Changes))
	for i, c := range p.Changes {
		order[changeKey(c)] = i
	}
	sort.SliceStable(e.res.Failures, func(i, j int) bool {
		return order[changeKey(e.res.Failures[i].Change)] < order[changeKey(e.res.Failures[j].Change)]
	})
	sort.Slice(e.res.LostSecrets, func(i, j int) bool { return e.res.LostSecrets[i].Name < e.res.LostSecrets[j].Name })
	sort.Slice(e.res.Created, func(i, j int) bool { return e.res.Created[i].Name < e.res.Created[j].Name })
	return e.res, nil
}

func changeKey(c diff.Change) string { return string(c.Action) + "\x00" + c.Name + "\x00" + c.ID }

func defaultCreateBackoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n-2, 5)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

type executor struct {
	api  linq.API
	opts Options
	log  *slog.Logger

	mu  sync.Mutex
	res Result
}

func (e *executor) run(ctx context.Context, changes []diff.Change, do func(context.Context, diff.Change)) {
	sem := make(chan struct{}, e.opts.Concurrency)
	var wg sync.WaitGroup
	for _, c := range changes {
		if ctx.Err() != nil {
			e.fail(c, c.Action, fmt.Errorf("not attempted: %w", context.Cause(ctx)))
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			e.fail(c, c.Action, fmt.Errorf("not attempted: %w", context.Cause(ctx)))
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			do(ctx, c)
		}()
	}
	wg.Wait()
}

func (e *executor) wrote() {
	e.mu.Lock()
	e.res.Writes++
	e.mu.Unlock()
}

func (e *executor) ok(c diff.Change) {
	e.mu.Lock()
	e.res.Applied[c.Action]++
	e.mu.Unlock()
}

func (e *executor) fail(c diff.Change, action diff.Action, err error) {
	e.log.Error("change failed", "action", string(action), "name", c.Name, "id", c.ID, "err", err)
	e.mu.Lock()
	e.res.Failures = append(e.res.Failures, Failure{Change: c, Action: action, Err: err})
	e.mu.Unlock()
}

func (e *executor) lost(name, id string, reason LossReason) {
	e.log.Warn("subscription exists but its signing secret is not held here",
		"name", name, "id", id, "reason", reason.Message(),
		"hint", "if no one else holds it, rotate it: linq-sync rotate NAME, or apply with --rotate-lost-secrets")
	e.mu.Lock()
	e.res.LostSecrets = append(e.res.LostSecrets, LostSecret{Name: name, ID: id, Reason: reason})
	e.mu.Unlock()
}

func (e *executor) delete(ctx context.Context, c diff.Change) {
	e.wrote()
	err := e.api.Delete(ctx, c.ID)
	if errors.Is(err, linq.ErrNotFound) {
		// Someone else deleted it first: the account is as desired.
		e.log.Info("subscription already deleted", "id", c.ID)
		err = nil
	}
	if err != nil {
		e.fail(c, diff.ActionDelete, fmt.Errorf("delete %s: %w", c.ID, err))
		return
	}
	e.log.Info("deleted subscription", "id", c.ID, "target_url", c.TargetURL)
	e.ok(c)
}

func (e *executor) update(ctx context.Context, c diff.Change) {
	e.wrote()
	if _, err := e.api.Update(ctx, c.ID, c.Update); err != nil {
		e.fail(c, diff.ActionUpdate, fmt.Errorf("update %q (%s): %w", c.Name, c.ID, err))
		return
	}
	e.log.Info("updated subscription", "name", c.Name, "id", c.ID, "fields", c.Update.Fields())
	e.ok(c)
}

// create makes one subscription exist. After a failure that may have
// committed, or a refusal that may mean the URL is taken, it re-lists and
// looks for the target_url before trying again.
//
// The create is journalled in the store before its first call, so that a
// kill at any moment leaves a trace the next plan reports; the journal
// entry is cleared once the secret is stored, or once the create is known
// not to have made anything. A rotation first deletes the subscription it
// replaces: target URLs are unique, so the new one cannot exist beside it.
func (e *executor) create(ctx context.Context, c diff.Change) {
	if err := e.storeErr(); err != nil {
		e.fail(c, c.Action, fmt.Errorf("not attempted: the secret store failed earlier in this apply: %w", err))
		return
	}
	in := secrets.Intent{Name: c.Name, TargetURL: c.TargetURL, At: e.opts.Now().UTC()}
	if c.Action == diff.ActionRotate {
		in.Replaces = c.ID
	}
	if err := e.opts.Secrets.Intend(ctx, in); err != nil {
		e.storeFailed(err)
		e.fail(c, c.Action, fmt.Errorf("not attempted: %w", err))
		return
	}
	if c.Action == diff.ActionRotate && !e.deleteReplaced(ctx, c) {
		return
	}
	var (
		ambiguousBefore bool
		lastErr         error
	)
	for attempt := 1; attempt <= e.opts.CreateAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, e.opts.CreateBackoff(attempt)); err != nil {
				e.fail(c, c.Action, fmt.Errorf("create %q: %w (after: %w)", c.Name, err, lastErr))
				return
			}
		}
		e.wrote()
		created, err := e.api.Create(ctx, c.Create)
		if err == nil {
			e.created(ctx, c, created)
			return
		}
		lastErr = err
		ambiguous := linq.IsAmbiguous(err) && !errors.Is(err, linq.ErrConflict)
		ambiguousBefore = ambiguousBefore || ambiguous
		if !mayExist(err) || ctx.Err() != nil {
			e.unknown(ctx, c, ambiguousBefore)
			e.fail(c, c.Action, fmt.Errorf("create %q: %w", c.Name, err))
			return
		}
		e.log.Warn("create failed; re-listing before any new attempt", "name", c.Name, "attempt", attempt, "err", err)
		subs, lerr := e.api.List(ctx)
		if lerr != nil {
			e.unknown(ctx, c, ambiguousBefore)
			e.fail(c, c.Action, fmt.Errorf("create %q: %w; re-list to check whether it was applied also failed: %w", c.Name, err, lerr))
			return
		}
		if found, ok := findURL(subs, c.Create.TargetURL); ok {
			reason := ReasonCreatedElsewhere
			if ambiguousBefore {
				reason = ReasonResponseLost
			} else {
				// Another writer's create: its secret is held there, not
				// lost here, so this journal entry must not say otherwise.
				e.abandon(ctx, c.Name)
			}
			e.lost(c.Name, found.ID, reason)
			e.converge(ctx, c, found)
			return
		}
		if !ambiguous {
			// Refused (conflict or bad request) and not there: retrying
			// the same body would be refused again.
			e.unknown(ctx, c, ambiguousBefore)
			e.fail(c, c.Action, fmt.Errorf("create %q: %w", c.Name, err))
			return
		}
	}
	e.unknown(ctx, c, ambiguousBefore)
	e.fail(c, c.Action, fmt.Errorf("create %q: giving up after %d attempts, none of which is listed: %w", c.Name, e.opts.CreateAttempts, lastErr))
}

// unknown reports, when a create stops after an attempt whose outcome is
// unknown, that the subscription may exist without its secret: the next
// reconcile would find it by URL and take it as in sync, and no one would
// ever be told that its secret was never received.
// A create that surely made nothing has its journal entry cleared.
func (e *executor) unknown(ctx context.Context, c diff.Change, ambiguous bool) {
	if ambiguous {
		e.lost(c.Name, "", ReasonOutcomeUnknown)
		return
	}
	e.abandon(ctx, c.Name)
}

// abandon clears the journal entry of a create that made nothing here. A
// failure is only logged: the entry then stays, and a plan reports a
// secret lost only if a subscription of that name exists.
func (e *executor) abandon(ctx context.Context, name string) {
	if err := e.opts.Secrets.Abandon(ctx, name); err != nil {
		e.log.Warn("could not clear the journal entry of a create that made nothing", "name", name, "err", err)
	}
}

// deleteReplaced deletes the subscription a rotation replaces; it reports
// whether the create may go on.
func (e *executor) deleteReplaced(ctx context.Context, c diff.Change) bool {
	e.wrote()
	err := e.api.Delete(ctx, c.ID)
	if errors.Is(err, linq.ErrNotFound) {
		err = nil
	}
	if err != nil {
		e.abandon(ctx, c.Name)
		e.fail(c, diff.ActionRotate, fmt.Errorf("rotate %q: delete %s: %w; nothing was replaced", c.Name, c.ID, err))
		return false
	}
	e.log.Info("rotation: deleted the subscription being replaced", "name", c.Name, "id", c.ID)
	return true
}

// storeFailed records the first failure of the secret store.
func (e *executor) storeFailed(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res.StoreErr == nil {
		e.res.StoreErr = err
		e.log.Error("the secret store failed; no further create starts in this apply", "store", e.opts.Secrets.String(), "err", err)
	}
}

func (e *executor) storeErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.res.StoreErr
}

// keep decides what storing a new secret for c does with the one its name
// holds: a rotation keeps it as the previous secret; a secret of another
// subscription that still exists is kept aside, never overwritten.
func (e *executor) keep(c diff.Change, newID string) secrets.Keep {
	if c.Action == diff.ActionRotate {
		return secrets.KeepPrevious
	}
	old, ok := e.opts.Held[c.Name]
	if ok && old.Held != nil && old.Held.SubscriptionID != newID && e.opts.Live(old.Held.SubscriptionID) {
		e.log.Warn("the name's stored secret belongs to a subscription that still exists; keeping it aside",
			"name", c.Name, "kept_for", old.Held.SubscriptionID, "kept_as", c.Name+"."+old.Held.SubscriptionID)
		return secrets.KeepArchive
	}
	return secrets.KeepNone
}

// created stores the secret of a successful create and applies the
// follow-up update of an inactive subscription.
func (e *executor) created(ctx context.Context, c diff.Change, s linq.CreatedSubscription) {
	rec := secrets.Record{Name: c.Name, SubscriptionID: s.ID, TargetURL: s.TargetURL, CreatedAt: s.CreatedAt}
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = e.opts.Now().UTC()
	}
	if c.Action == diff.ActionRotate {
		rec.PreviousSubscriptionID = c.ID
	}
	if s.SigningSecret.IsZero() {
		e.lost(c.Name, s.ID, ReasonNoSecret)
	} else if err := e.opts.Secrets.Put(ctx, rec, s.SigningSecret.Reveal(), e.keep(c, s.ID)); err != nil {
		e.storeFailed(err)
		e.lost(c.Name, s.ID, ReasonNotStored)
		e.fail(c, c.Action, fmt.Errorf("create %q (%s): subscription created but its secret could not be stored: %w", c.Name, s.ID, err))
		return
	} else {
		e.log.Info("created subscription", "name", c.Name, "id", s.ID, "replaced", rec.PreviousSubscriptionID, "store", e.opts.Secrets.String())
		e.mu.Lock()
		e.res.Created = append(e.res.Created, Created{Name: c.Name, ID: s.ID, TargetURL: s.TargetURL})
		e.mu.Unlock()
	}
	if !c.Update.IsZero() {
		e.wrote()
		if _, err := e.api.Update(ctx, s.ID, c.Update); err != nil {
			e.fail(c, diff.ActionUpdate, fmt.Errorf("create %q (%s): created, but the follow-up update failed: %w", c.Name, s.ID, err))
			return
		}
	}
	e.ok(c)
}

// converge brings a subscription that a create found already existing to
// the declared fields.
func (e *executor) converge(ctx context.Context, c diff.Change, found linq.Subscription) {
	if c.Desired == nil {
		e.ok(c)
		return
	}
	p := diff.Compute([]config.Subscription{*c.Desired}, []linq.Subscription{found}, diff.Options{AllEnvironments: true})
	for _, ch := range p.Changes {
		if ch.Action != diff.ActionUpdate {
			continue
		}
		e.wrote()
		if _, err := e.api.Update(ctx, found.ID, ch.Update); err != nil {
			e.fail(c, diff.ActionUpdate, fmt.Errorf("create %q (%s): exists, but updating it to the declared fields failed: %w", c.Name, found.ID, err))
			return
		}
	}
	e.ok(c)
}

// mayExist reports whether a failed create may have left (or found) a
// subscription with its URL: an ambiguous failure, or a refusal that may be
// the unpublished duplicate-URL answer.
func mayExist(err error) bool {
	if linq.IsAuth(err) || errors.Is(err, linq.ErrRateLimited) {
		return false
	}
	return linq.IsAmbiguous(err) || errors.Is(err, linq.ErrConflict) || errors.Is(err, linq.ErrBadRequest)
}

func findURL(subs []linq.Subscription, url string) (linq.Subscription, bool) {
	for _, s := range subs {
		if s.TargetURL == url {
			return s, true
		}
	}
	return linq.Subscription{}, false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
