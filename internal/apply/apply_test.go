package apply_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	t       *testing.T
	fake    *fakeapi.Server
	client  *linq.Client
	secrets *secrets.Dir
}

func newHarness(t *testing.T, opts fakeapi.Options) *harness {
	t.Helper()
	opts.Token = "t0ken"
	fake := fakeapi.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client, err := linq.NewClient(srv.URL, "t0ken", linq.WithRetryPolicy(linq.RetryPolicy{
		MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, MaxElapsed: 10 * time.Second, MaxRetryAfter: 2 * time.Second,
	}))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := secrets.OpenDir(filepath.Join(t.TempDir(), "secrets"), secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, fake: fake, client: client, secrets: sd}
}

func (h *harness) opts() reconcile.Options {
	return reconcile.Options{
		Rails: diff.Rails{MaxDeletes: 5},
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

const driftDoc = `version: 1
policy: sync
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received, message.delivered]
    phone_numbers: ["+15551234567"]
  - name: billing
    target_url: https://hooks.example.com/billing?version=2026-02-03
    subscribed_events: [message.sent]
  - name: paused
    target_url: https://hooks.example.com/paused
    subscribed_events: [call.ended]
    is_active: false
  - name: same
    target_url: https://hooks.example.com/same
    subscribed_events: [message.read, message.sent]
`

func seedDrift(h *harness) {
	h.fake.Seed(
		remote("https://hooks.example.com/crm", "message.received", "message.failed"),
		remote("https://hooks.example.com/same", "message.sent", "message.read"),
		remote("https://old.example.com/gone", "message.sent"),
	)
}

func TestApplyConvergesWithOneListAndOneWritePerChange(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	seedDrift(h)
	cfg := parse(t, driftDoc)
	r := reconcile.New(h.client, h.opts())

	rep, err := r.Reconcile(context.Background(), cfg, false)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want := diff.Summary{Create: 2, Update: 1, Delete: 1, InSync: 1}
	if got := rep.Plan.Summary(); got != want {
		t.Fatalf("plan summary = %+v, want %+v", got, want)
	}
	calls := h.fake.Calls()
	if got := calls["GET "+fakeapi.RouteSubscriptions]; got != 1 {
		t.Errorf("list calls = %d, want 1", got)
	}
	// billing: create; paused: create + update (inactive); crm: update; gone: delete.
	if got, want := h.fake.Writes(), 5; got != want {
		t.Errorf("writes = %d, want %d (one per change, plus the inactive follow-up)", got, want)
	}
	if got := rep.Result.Writes; got != rep.Plan.Writes() {
		t.Errorf("result writes = %d, plan said %d", got, rep.Plan.Writes())
	}

	// The account now matches; a second apply writes nothing.
	h.fake.ResetCalls()
	rep2, err := r.Reconcile(context.Background(), cfg, false)
	if err != nil {
		t.Fatalf("second Reconcile: %v", err)
	}
	if rep2.Plan.HasChanges() {
		t.Errorf("second plan has changes: %+v", rep2.Plan.Summary())
	}
	if got := h.fake.Writes(); got != 0 {
		t.Errorf("second apply made %d writes, want 0", got)
	}
	if got := h.fake.Calls()["GET "+fakeapi.RouteEvents]; got != 0 {
		t.Errorf("event types fetched again within one run: %d calls", got)
	}

	// Every new subscription's secret is on disk, mode 0600, equal to what the API issued.
	for _, s := range h.fake.Snapshot() {
		if s.TargetURL != "https://hooks.example.com/billing?version=2026-02-03" && s.TargetURL != "https://hooks.example.com/paused" {
			continue
		}
		name := "billing"
		if strings.HasSuffix(s.TargetURL, "paused") {
			name = "paused"
			if s.IsActive {
				t.Errorf("paused is active, want inactive")
			}
		}
		issued, _ := h.fake.Secret(s.ID)
		b, err := os.ReadFile(h.secrets.Path(name))
		if err != nil {
			t.Fatalf("secret for %s: %v", name, err)
		}
		if strings.TrimSpace(string(b)) != issued {
			t.Errorf("stored secret for %s differs from the issued one", name)
		}
		fi, _ := os.Stat(h.secrets.Path(name))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("secret file mode = %v, want 0600", fi.Mode().Perm())
		}
	}
}

func TestApplyUpdateSendsOnlyChangedFields(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	h.fake.Seed(fakeapi.Subscription{
		TargetURL: "https://hooks.example.com/crm", SubscribedEvents: []string{"message.received"},
		PhoneNumbers: []string{"+15551234567"}, IsActive: true,
	})
	cfg := parse(t, `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received]
    phone_numbers: []
`)
	if _, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), cfg, false); err != nil {
		t.Fatal(err)
	}
	var puts []fakeapi.Request
	for _, r := range h.fake.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r)
		}
	}
	if len(puts) != 1 {
		t.Fatalf("PUT calls = %d, want 1", len(puts))
	}
	if got, want := strings.TrimSpace(string(puts[0].Body)), `{"phone_numbers":[]}`; got != want {
		t.Errorf("update body = %s, want %s", got, want)
	}
	if s := h.fake.Snapshot()[0]; len(s.PhoneNumbers) != 0 {
		t.Errorf("phone filter not removed: %v", s.PhoneNumbers)
	}
}

const oneNew = `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received]
`

func countURL(subs []fakeapi.Subscription, url string) int {
	n := 0
	for _, s := range subs {
		if s.TargetURL == url {
			n++
		}
	}
	return n
}

func TestApplyRetriesCreateOnlyAfterRelist(t *testing.T) {
	const url = "https://hooks.example.com/crm"
	tests := []struct {
		name      string
		fault     fakeapi.Fault
		wantLost  apply.LossReason // "" when the secret must be stored
		wantLists int
	}{
		{"5xx before commit: relist, not there, create again", fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultErrorBefore, Times: 1}, "", 2},
		{"5xx after commit: relist finds it, secret lost", fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultErrorAfter, Times: 1}, apply.ReasonResponseLost, 2},
		{"connection dropped after commit", fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultDropAfter, Times: 1}, apply.ReasonResponseLost, 2},
		{"connection dropped before commit", fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultDropBefore, Times: 1}, "", 2},
		{"truncated answer after commit", fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultTruncate, Times: 1}, apply.ReasonResponseLost, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, fakeapi.Options{})
			h.fake.AddFault(tt.fault)
			rep, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), parse(t, oneNew), false)
			var lost *reconcile.LostSecretsError
			switch {
			case tt.wantLost != "" && !errors.As(err, &lost):
				t.Fatalf("Reconcile = %v, want a LostSecretsError: an apply that loses a secret must fail", err)
			case tt.wantLost == "" && err != nil:
				t.Fatalf("Reconcile: %v", err)
			}
			if n := countURL(h.fake.Snapshot(), url); n != 1 {
				t.Fatalf("subscriptions with the URL = %d, want exactly 1", n)
			}
			if got := h.fake.Calls()["GET "+fakeapi.RouteSubscriptions]; got != tt.wantLists {
				t.Errorf("list calls = %d, want %d", got, tt.wantLists)
			}
			_, statErr := os.Stat(h.secrets.Path("crm"))
			if tt.wantLost == "" {
				if statErr != nil || len(rep.Result.LostSecrets) != 0 {
					t.Errorf("secret not stored: stat=%v lost=%v", statErr, rep.Result.LostSecrets)
				}
				return
			}
			if len(rep.Result.LostSecrets) != 1 || rep.Result.LostSecrets[0].Reason != tt.wantLost {
				t.Errorf("lost secrets = %+v, want one %q", rep.Result.LostSecrets, tt.wantLost)
			}
			if statErr == nil {
				t.Errorf("a secret file exists though no secret was received")
			}
		})
	}
}

func TestApplyCreateGivesUpAfterBoundedAttempts(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	h.fake.AddFault(fakeapi.Fault{Method: "POST", Kind: fakeapi.FaultErrorBefore}) // every create fails
	_, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), parse(t, oneNew), false)
	if !errors.Is(err, reconcile.ErrChangesFailed) {
		t.Fatalf("err = %v, want ErrChangesFailed", err)
	}
	if got := h.fake.Calls()["POST "+fakeapi.RouteSubscriptions]; got != 3 {
		t.Errorf("create attempts = %d, want 3 (bounded, no loop)", got)
	}
	if got := h.fake.Calls()["GET "+fakeapi.RouteSubscriptions]; got != 4 {
		t.Errorf("list calls = %d, want 4 (plan + a re-list after each failure)", got)
	}
}

func TestApplyCreateRefusedAsDuplicateAdoptsTheExistingOne(t *testing.T) {
	for _, status := range []int{409, 400, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t, fakeapi.Options{DuplicateURLStatus: status})
			cfg := parse(t, `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received, message.sent]
`)
			r := reconcile.New(h.client, h.opts())
			pr, err := r.Plan(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Another writer creates it between our list and our create.
			h.fake.Seed(remote("https://hooks.example.com/crm", "message.received"))
			res, err := apply.Execute(context.Background(), h.client, pr.Plan, h.opts().Apply)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("failures: %+v", res.Failures)
			}
			snap := h.fake.Snapshot()
			if len(snap) != 1 || len(snap[0].SubscribedEvents) != 2 {
				t.Fatalf("account = %+v, want one subscription converged to both events", snap)
			}
			if len(res.LostSecrets) != 1 || res.LostSecrets[0].Reason != apply.ReasonCreatedElsewhere {
				t.Errorf("lost secrets = %+v, want one 'created elsewhere'", res.LostSecrets)
			}
			if got := h.fake.Calls()["POST "+fakeapi.RouteSubscriptions]; got != 1 {
				t.Errorf("creates = %d, want 1 (a refusal is not retried)", got)
			}
		})
	}
}

func TestApplyRefusesCreatesWithoutSecretsDirBeforeAnyWrite(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	opts := h.opts()
	opts.Apply.Secrets = nil
	_, err := reconcile.New(h.client, opts).Reconcile(context.Background(), parse(t, oneNew), false)
	if !errors.Is(err, apply.ErrNoSecretStore) {
		t.Fatalf("err = %v, want ErrNoSecretStore", err)
	}
	if h.fake.Writes() != 0 {
		t.Errorf("writes = %d, want 0", h.fake.Writes())
	}
}

func TestApplyPartialFailureLeavesTheRestApplied(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	seedDrift(h)
	h.fake.AddFault(fakeapi.Fault{Method: "PUT", Kind: fakeapi.FaultErrorBefore, Status: 400})
	rep, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), parse(t, driftDoc), false)
	if !errors.Is(err, reconcile.ErrChangesFailed) {
		t.Fatalf("err = %v, want ErrChangesFailed", err)
	}
	if got := rep.Result.Applied[diff.ActionDelete]; got != 1 {
		t.Errorf("deletes applied = %d, want 1", got)
	}
	// billing's create has no follow-up update and succeeds; crm's update and paused's follow-up fail.
	if got := rep.Result.Applied[diff.ActionCreate]; got != 1 {
		t.Errorf("creates applied = %d, want 1", got)
	}
	if got := len(rep.Result.Failures); got != 2 {
		t.Errorf("failures = %d, want 2: %+v", got, rep.Result.Failures)
	}
	if p := rep.Pending(); p.Create+p.Update != 2 {
		t.Errorf("pending after apply = %+v, want the 2 failed changes", p)
	}
}

func TestApplyAuthErrorsAreNotRetriedAndNameTheToken(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	srv := httptest.NewServer(h.fake)
	t.Cleanup(srv.Close)
	bad, err := linq.NewClient(srv.URL, "wrong-token")
	if err != nil {
		t.Fatal(err)
	}
	_, err = reconcile.New(bad, h.opts()).Reconcile(context.Background(), parse(t, oneNew), false)
	if !errors.Is(err, linq.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "token") {
		t.Errorf("error %q does not mention the token", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error leaks the token: %q", err)
	}
	// The event types and the list are asked for at once; each is
	// refused once and never retried.
	for call, n := range h.fake.Calls() {
		if n != 1 {
			t.Errorf("%s: %d calls, want 1 (401 is not retried)", call, n)
		}
	}
}

func TestApplyDeleteAnswering404AfterRetryCountsAsDone(t *testing.T) {
	h := newHarness(t, fakeapi.Options{})
	h.fake.Seed(remote("https://old.example.com/gone", "message.sent"))
	h.fake.AddFault(fakeapi.Fault{Method: "DELETE", Kind: fakeapi.FaultErrorAfter, Times: 1})
	rep, err := reconcile.New(h.client, h.opts()).Reconcile(context.Background(), parse(t, "version: 1\npolicy: sync\nsubscriptions:\n  - name: a\n    target_url: https://x.example.com/a\n    subscribed_events: [message.sent]\n"), false)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if rep.Result.Applied[diff.ActionDelete] != 1 {
		t.Errorf("delete not counted as done: %+v", rep.Result)
	}
	if got := h.fake.Calls()["DELETE "+fakeapi.RouteSubscription]; got != 2 {
		t.Errorf("delete calls = %d, want 2", got)
	}
}

// inflight wraps an API and records the most creates in flight at once.
type inflight struct {
	linq.API
	mu       sync.Mutex
	cur, max int
}

func (f *inflight) track() func() {
	f.mu.Lock()
	f.cur++
	f.max = max(f.max, f.cur)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.cur--
		f.mu.Unlock()
	}
}

func (f *inflight) Create(ctx context.Context, p linq.CreateParams) (linq.CreatedSubscription, error) {
	defer f.track()()
	return f.API.Create(ctx, p)
}

func TestApplyBoundsConcurrency(t *testing.T) {
	h := newHarness(t, fakeapi.Options{Latency: 5 * time.Millisecond})
	var doc strings.Builder
	doc.WriteString("version: 1\nsubscriptions:\n")
	for i := range 20 {
		doc.WriteString("  - name: s" + string(rune('a'+i)) + "\n    target_url: https://hooks.example.com/" + string(rune('a'+i)) + "\n    subscribed_events: [message.sent]\n")
	}
	cfg := parse(t, doc.String())
	pr, err := reconcile.New(h.client, h.opts()).Plan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := &inflight{API: h.client}
	opts := h.opts().Apply
	opts.Concurrency = 3
	res, err := apply.Execute(context.Background(), api, pr.Plan, opts)
	if err != nil || !res.OK() {
		t.Fatalf("Execute: %v %+v", err, res.Failures)
	}
	if got := api.max; got > 3 || got < 2 {
		t.Errorf("max creates in flight = %d, want between 2 and 3", got)
	}
	if h.fake.Len() != 20 {
		t.Errorf("subscriptions = %d, want 20", h.fake.Len())
	}
}
