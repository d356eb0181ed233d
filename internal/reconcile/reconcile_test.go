package reconcile_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// harness is a fake API over real HTTP and a client with fast retries.
type harness struct {
	fake    *fakeapi.Server
	client  *linq.Client
	secrets *secrets.Dir
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake := fakeapi.New(fakeapi.Options{Token: "t0ken"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := linq.NewClient(srv.URL, "t0ken", linq.WithRetryPolicy(linq.RetryPolicy{
		MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: 5 * time.Second, MaxRetryAfter: time.Second,
	}))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := secrets.OpenDir(filepath.Join(t.TempDir(), "secrets"), secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{fake: fake, client: client, secrets: sd}
}

func (h *harness) opts() reconcile.Options {
	return reconcile.Options{
		Rails: diff.DefaultRails(),
		Apply: apply.Options{Concurrency: 4, Secrets: h.secrets, CreateBackoff: func(int) time.Duration { return time.Millisecond }},
	}
}

func parse(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("subs.yaml", []byte(doc))
	if diags.HasErrors() {
		t.Fatalf("config: %v", diags)
	}
	return cfg
}

func remote(url string, events ...string) fakeapi.Subscription {
	return fakeapi.Subscription{TargetURL: url, SubscribedEvents: events, IsActive: true}
}

func TestReconcileSafetyRailsRefuseBeforeAnyWrite(t *testing.T) {
	many := func(h *harness, n int) {
		for i := range n {
			h.fake.Seed(remote("https://old.example.com/"+string(rune('a'+i)), "message.sent"))
		}
	}
	tests := []struct {
		name      string
		doc       string
		remote    int
		rails     diff.Rails
		wantError bool
	}{
		{"six deletes over the default five", "version: 1\npolicy: sync\nsubscriptions:\n  - name: a\n    target_url: https://x.example.com/a\n    subscribed_events: [message.sent]\n", 6, diff.Rails{MaxDeletes: diff.DefaultMaxDeletes}, true},
		{"five deletes are allowed", "version: 1\npolicy: sync\nsubscriptions:\n  - name: a\n    target_url: https://x.example.com/a\n    subscribed_events: [message.sent]\n", 5, diff.Rails{MaxDeletes: diff.DefaultMaxDeletes}, false},
		{"empty sync config", "version: 1\npolicy: sync\nsubscriptions: []\n", 1, diff.Rails{MaxDeletes: diff.DefaultMaxDeletes}, true},
		{"empty sync config with allow-mass-delete", "version: 1\npolicy: sync\nsubscriptions: []\n", 6, diff.Rails{MaxDeletes: diff.DefaultMaxDeletes, AllowMassDelete: true}, false},
		{"upsert-only never deletes", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://x.example.com/a\n    subscribed_events: [message.sent]\n", 9, diff.Rails{MaxDeletes: diff.DefaultMaxDeletes}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			many(h, tt.remote)
			opts := h.opts()
			opts.Rails = tt.rails
			_, err := reconcile.New(h.client, opts).Reconcile(context.Background(), parse(t, tt.doc), false)
			var se *diff.SafetyError
			if tt.wantError {
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want *diff.SafetyError", err)
				}
				if h.fake.Writes() != 0 {
					t.Errorf("writes = %d after a refusal, want 0", h.fake.Writes())
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestReconcilePinnedIDThatNoLongerExistsBlocksTheWholePlan(t *testing.T) {
	h := newHarness(t)
	cfg := parse(t, `version: 1
subscriptions:
  - name: crm
    id: 6f1c2b1e-0000-4000-8000-000000000000
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received]
  - name: other
    target_url: https://hooks.example.com/other
    subscribed_events: [message.received]
`)
	_, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), cfg, false)
	var pe *reconcile.PlanErrors
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *reconcile.PlanErrors", err)
	}
	if h.fake.Writes() != 0 || h.fake.Len() != 0 {
		t.Errorf("something was written: writes=%d subs=%d", h.fake.Writes(), h.fake.Len())
	}
}

// eventAPI answers EventTypes from a script and List with an empty account;
// no other call is expected.
type eventAPI struct {
	linq.API
	mu    sync.Mutex
	calls int
	// answer returns the n-th (from 1) EventTypes answer.
	answer func(n int) ([]string, error)
}

func (a *eventAPI) EventTypes(context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return a.answer(a.calls)
}

func (a *eventAPI) List(context.Context) ([]linq.Subscription, error) { return nil, nil }

func (a *eventAPI) eventCalls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// custom is an event type only the API's list has.
const customDoc = `version: 1
subscriptions:
  - name: a
    target_url: https://x.example.com/a
    subscribed_events: [custom.event]
`

func TestReconcileCachesEventTypesForTheTTL(t *testing.T) {
	api := &eventAPI{answer: func(int) ([]string, error) { return []string{"custom.event"}, nil }}
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := reconcile.New(api, reconcile.Options{EventTypesTTL: time.Hour, Now: clk.Now})
	cfg := parse(t, customDoc)
	steps := []struct {
		advance   time.Duration
		wantCalls int
	}{
		{0, 1},                // the first plan fetches
		{59 * time.Minute, 1}, // within the TTL: cached
		{time.Minute, 2},      // the TTL reached: fetched again
		{30 * time.Minute, 2}, // cached from the refetch
		{31 * time.Minute, 3}, // expired again
		{-time.Second, 3},     // a clock stepping back keeps the cache
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if _, err := r.Plan(context.Background(), cfg); err != nil {
			t.Fatalf("step %d: plan: %v", i, err)
		}
		if got := api.eventCalls(); got != s.wantCalls {
			t.Fatalf("step %d (%+v): event-type calls = %d, want %d", i, s.advance, got, s.wantCalls)
		}
	}
}

func TestReconcileWithoutTTLCachesEventTypesForItsLifetime(t *testing.T) {
	api := &eventAPI{answer: func(int) ([]string, error) { return []string{"custom.event"}, nil }}
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := reconcile.New(api, reconcile.Options{Now: clk.Now})
	cfg := parse(t, customDoc)
	for i := range 3 {
		if _, err := r.Plan(context.Background(), cfg); err != nil {
			t.Fatalf("plan %d: %v", i, err)
		}
		clk.advance(24 * time.Hour)
	}
	if got := api.eventCalls(); got != 1 {
		t.Errorf("event-type calls = %d, want 1", got)
	}
}

func TestReconcileFallsBackToBuiltInEventTypesWithoutCachingThem(t *testing.T) {
	tests := []struct {
		name  string
		first func() ([]string, error)
	}{
		{"server error", func() ([]string, error) { return nil, linq.ErrServer }},
		{"empty list", func() ([]string, error) { return []string{}, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &eventAPI{answer: func(n int) ([]string, error) {
				if n == 1 {
					return tt.first()
				}
				return []string{"custom.event"}, nil
			}}
			r := reconcile.New(api, reconcile.Options{EventTypesTTL: time.Hour})
			cfg := parse(t, customDoc)

			// The built-in list does not know custom.event: a warning, not
			// an error, since that list may be out of date.
			res, err := r.Plan(context.Background(), cfg)
			if err != nil {
				t.Fatalf("plan with the built-in list: %v", err)
			}
			if !res.Listed {
				t.Errorf("the account was not listed after falling back")
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "custom.event") ||
				res.Warnings[0].Severity != config.SeverityWarning {
				t.Errorf("warnings = %v, want one warning naming custom.event", res.Warnings)
			}

			// The fallback is not cached: the next plan asks the API again.
			res, err = r.Plan(context.Background(), cfg)
			if err != nil {
				t.Fatalf("plan with the API's list: %v", err)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings = %v with the API's list, want none", res.Warnings)
			}
			if got := api.eventCalls(); got != 2 {
				t.Errorf("event-type calls = %d, want 2", got)
			}
		})
	}
}

func TestReconcileRejectsEventTypesTheAPIDoesNotList(t *testing.T) {
	api := &eventAPI{answer: func(int) ([]string, error) { return slices.Clone(config.KnownEventTypes), nil }}
	_, err := reconcile.New(api, reconcile.Options{}).Plan(context.Background(), parse(t, customDoc))
	var ve *reconcile.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *reconcile.ValidationError", err)
	}
}

func TestReconcileDoesNotFallBackOnAuthErrors(t *testing.T) {
	api := &eventAPI{answer: func(int) ([]string, error) { return nil, linq.ErrUnauthorized }}
	_, err := reconcile.New(api, reconcile.Options{}).Plan(context.Background(), parse(t, customDoc))
	if !errors.Is(err, linq.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

// barrierAPI holds EventTypes and List until both have arrived, so a plan
// that asks for one after the other never gets an answer (each call gives
// up after a deadline and fails).
type barrierAPI struct {
	linq.API
	arrived  sync.WaitGroup
	deadline time.Duration
}

func newBarrierAPI() *barrierAPI {
	a := &barrierAPI{deadline: 10 * time.Second}
	a.arrived.Add(2)
	return a
}

func (a *barrierAPI) meet(ctx context.Context, what string) error {
	a.arrived.Done()
	both := make(chan struct{})
	go func() { a.arrived.Wait(); close(both) }()
	select {
	case <-both:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(a.deadline):
		return errors.New(what + ": the other call never arrived")
	}
}

func (a *barrierAPI) EventTypes(ctx context.Context) ([]string, error) {
	if err := a.meet(ctx, "event types"); err != nil {
		return nil, err
	}
	return []string{"custom.event"}, nil
}

func (a *barrierAPI) List(ctx context.Context) ([]linq.Subscription, error) {
	if err := a.meet(ctx, "list"); err != nil {
		return nil, err
	}
	return []linq.Subscription{{ID: "1", TargetURL: "https://x.example.com/a", SubscribedEvents: []string{"custom.event"}, IsActive: true}}, nil
}

func TestPlanAsksForEventTypesAndTheListAtOnce(t *testing.T) {
	api := newBarrierAPI()
	res, err := reconcile.New(api, reconcile.Options{}).Plan(context.Background(), parse(t, customDoc))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if !res.Listed || len(res.Remote) != 1 {
		t.Errorf("listed = %v, remote = %v, want the one subscription", res.Listed, res.Remote)
	}
	if res.Plan.HasChanges() {
		t.Errorf("plan has changes: %+v", res.Plan)
	}
}

func TestReconcileAsksForEventTypesAndTheListAtOnce(t *testing.T) {
	api := newBarrierAPI()
	rep, err := reconcile.New(api, reconcile.Options{Rails: diff.DefaultRails()}).Reconcile(context.Background(), parse(t, customDoc), false)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if !rep.Applied || rep.Pending() != (diff.Summary{}) {
		t.Errorf("applied = %v, pending = %+v, want an applied empty plan", rep.Applied, rep.Pending())
	}
}

// authAPI refuses the event types and holds the list until it is
// cancelled.
type authAPI struct {
	linq.API
	listDone chan error
}

func (a *authAPI) EventTypes(context.Context) ([]string, error) { return nil, linq.ErrUnauthorized }

func (a *authAPI) List(ctx context.Context) ([]linq.Subscription, error) {
	<-ctx.Done()
	a.listDone <- ctx.Err()
	return nil, ctx.Err()
}

func TestPlanCancelsTheListAndWaitsForItWhenEventTypesFail(t *testing.T) {
	api := &authAPI{listDone: make(chan error, 1)}
	_, err := reconcile.New(api, reconcile.Options{}).Plan(context.Background(), parse(t, customDoc))
	if !errors.Is(err, linq.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	// The list returned before Plan did: its result is already there.
	select {
	case lerr := <-api.listDone:
		if !errors.Is(lerr, context.Canceled) {
			t.Errorf("list ended with %v, want context.Canceled", lerr)
		}
	default:
		t.Fatal("the list was still running after Plan returned")
	}
}
