package reconcile_test

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
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

const twoEntries = `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received]
  - name: billing
    target_url: https://hooks.example.com/billing
    subscribed_events: [message.sent]
`

func custodyOf(p diff.Plan) map[string]diff.SecretState {
	out := map[string]diff.SecretState{}
	for _, c := range p.Custody {
		out[c.Name] = c.State
	}
	return out
}

func TestPlanShowsTheCustodyOfEveryMatchedEntry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := reconcile.New(h.client, h.opts())
	if _, err := r.Reconcile(ctx, parse(t, twoEntries), false); err != nil {
		t.Fatal(err)
	}
	// An entry adopted from an account (never created here) is unknown.
	h.fake.Seed(remote("https://hooks.example.com/adopted", "message.read"))
	cfg := parse(t, twoEntries+`  - name: adopted
    target_url: https://hooks.example.com/adopted
    subscribed_events: [message.read]
`)
	pr, err := r.Plan(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]diff.SecretState{"crm": diff.SecretHeld, "billing": diff.SecretHeld, "adopted": diff.SecretUnknown}
	if got := custodyOf(pr.Plan); !mapsEqual(got, want) {
		t.Errorf("custody = %v, want %v", got, want)
	}
	for _, s := range h.fake.Snapshot() {
		name := strings.TrimPrefix(s.TargetURL, "https://hooks.example.com/")
		if name == "adopted" {
			continue
		}
		want, _ := h.fake.Secret(s.ID)
		if got, err := h.secrets.Secret(ctx, name); err != nil || got != want {
			t.Errorf("%s: stored secret is the fake's: %t (%v)", name, got == want, err)
		}
	}
}

// TestAKilledCreateIsReportedLostAndARotationCuresIt plays the kill: the
// journal says a create started, the subscription exists, no secret was
// stored. The next plan reports it lost (drift, apply fails with the
// cure), and a rotation replaces it so that the secret is held.
func TestAKilledCreateIsReportedLostAndARotationCuresIt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cfg := parse(t, twoEntries)
	r := reconcile.New(h.client, h.opts())
	if _, err := r.Reconcile(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	// billing: a create that committed while the process died before
	// storing: the journal entry is all that is left.
	var billingID string
	for _, s := range h.fake.Snapshot() {
		if strings.HasSuffix(s.TargetURL, "/billing") {
			billingID = s.ID
		}
	}
	os.Remove(filepath.Join(dirOf(h), "billing.secret"))
	os.Remove(filepath.Join(dirOf(h), "billing.json"))
	if err := h.secrets.Intend(ctx, secrets.Intent{Name: "billing", TargetURL: "https://hooks.example.com/billing", At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	pr, err := r.Plan(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lost := diff.Lost(pr.Plan.Custody)
	if len(lost) != 1 || lost[0].Name != "billing" || lost[0].ID != billingID || lost[0].Reason != diff.LostInterrupted {
		t.Fatalf("lost = %+v, want billing (%s) interrupted", lost, billingID)
	}
	writes := h.fake.Writes()
	_, err = r.Reconcile(ctx, cfg, false)
	var le *reconcile.LostSecretsError
	if !errors.As(err, &le) || !strings.Contains(le.Hint(), "linq-sync rotate") {
		t.Fatalf("apply = %v, want a LostSecretsError with the cure", err)
	}
	if h.fake.Writes() != writes {
		t.Errorf("apply without rotation wrote %d times", h.fake.Writes()-writes)
	}

	opts := h.opts()
	opts.RotateLostSecrets = true
	rep, err := reconcile.New(h.client, opts).Reconcile(ctx, cfg, false)
	if err != nil {
		t.Fatalf("apply --rotate-lost-secrets: %v", err)
	}
	if got := rep.Result.Applied[diff.ActionRotate]; got != 1 || rep.Result.Writes != 2 {
		t.Errorf("rotated %d with %d writes, want 1 with 2 (delete, create)", got, rep.Result.Writes)
	}
	snap := h.fake.Snapshot()
	if len(snap) != 2 {
		t.Fatalf("account has %d subscriptions, want 2", len(snap))
	}
	for _, s := range snap {
		if s.ID == billingID {
			t.Errorf("the rotated subscription %s still exists", billingID)
		}
		if strings.HasSuffix(s.TargetURL, "/billing") {
			want, _ := h.fake.Secret(s.ID)
			got, _ := h.secrets.Secret(ctx, "billing")
			if got != want {
				t.Error("after rotation the stored secret is not the new subscription's")
			}
		}
	}
	pr, err = r.Plan(ctx, cfg)
	if err != nil || len(diff.Lost(pr.Plan.Custody)) != 0 || pr.Plan.HasChanges() {
		t.Errorf("plan after rotation: %v, lost %v, changes %v", err, diff.Lost(pr.Plan.Custody), pr.Plan.HasChanges())
	}
}

func TestRotateReplacesOnlyTheNamedEntriesAndKeepsThePreviousSecret(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cfg := parse(t, twoEntries)
	r := reconcile.New(h.client, h.opts())
	if _, err := r.Reconcile(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	old, _ := h.secrets.Secret(ctx, "crm")
	if _, err := r.Rotate(ctx, cfg, []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("rotating an unknown name = %v, want an error naming it", err)
	}
	writes := h.fake.Writes()
	rep, err := r.Rotate(ctx, cfg, []string{"crm"})
	if err != nil {
		t.Fatal(err)
	}
	if h.fake.Writes()-writes != 2 || rep.Result.Applied[diff.ActionRotate] != 1 {
		t.Errorf("rotate wrote %d times, rotated %d; want 2 and 1", h.fake.Writes()-writes, rep.Result.Applied[diff.ActionRotate])
	}
	prev, err := os.ReadFile(filepath.Join(dirOf(h), "crm.previous.secret"))
	if err != nil || string(prev) != old {
		t.Errorf("crm.previous.secret holds the old secret: %t (%v)", string(prev) == old, err)
	}
	if now, _ := h.secrets.Secret(ctx, "crm"); now == old {
		t.Error("the secret did not change")
	}
}

// TestUpsertOnlyURLChangeKeepsTheSecretOfTheLiveOldSubscription: the old
// subscription stays live and unmanaged, so its secret is kept aside
// (NAME.ID.secret), never overwritten by the new one's.
func TestUpsertOnlyURLChangeKeepsTheSecretOfTheLiveOldSubscription(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := reconcile.New(h.client, h.opts())
	if _, err := r.Reconcile(ctx, parse(t, twoEntries), false); err != nil {
		t.Fatal(err)
	}
	oldSecret, _ := h.secrets.Secret(ctx, "crm")
	var oldID string
	for _, s := range h.fake.Snapshot() {
		if strings.HasSuffix(s.TargetURL, "/crm") {
			oldID = s.ID
		}
	}
	moved := strings.Replace(twoEntries, "hooks.example.com/crm", "hooks.example.com/crm-v2", 1)
	if _, err := r.Reconcile(ctx, parse(t, moved), false); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(dirOf(h), "crm."+oldID+".secret"))
	if err != nil || string(kept) != oldSecret {
		t.Fatalf("the live old subscription's secret was not kept aside as crm.%s.secret: %v", oldID, err)
	}
	if now, _ := h.secrets.Secret(ctx, "crm"); now == oldSecret {
		t.Error("crm.secret still holds the old subscription's secret")
	}
}

// failingStore fails every Put after the first n, and counts the creates
// started (Intend calls).
type failingStore struct {
	secrets.Store
	mu      sync.Mutex
	okPuts  int
	intents int
}

func (f *failingStore) Intend(ctx context.Context, in secrets.Intent) error {
	f.mu.Lock()
	f.intents++
	f.mu.Unlock()
	return f.Store.Intend(ctx, in)
}

func (f *failingStore) Put(ctx context.Context, rec secrets.Record, secret string, keep secrets.Keep) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.okPuts == 0 {
		return errors.New("no space left on device")
	}
	f.okPuts--
	return f.Store.Put(ctx, rec, secret, keep)
}

func TestNoCreateStartsAfterTheStoreFails(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	fs := &failingStore{Store: h.secrets, okPuts: 1}
	opts := h.opts()
	opts.Apply.Secrets = fs
	opts.Apply.Concurrency = 1
	doc := "version: 1\nsubscriptions:\n"
	for i := range 10 {
		doc += "  - name: e" + string(rune('a'+i)) + "\n    target_url: https://hooks.example.com/" + string(rune('a'+i)) + "\n    subscribed_events: [message.sent]\n"
	}
	rep, err := reconcile.New(h.client, opts).Reconcile(ctx, parse(t, doc), false)
	if !errors.Is(err, reconcile.ErrChangesFailed) {
		t.Fatalf("apply = %v, want failed changes", err)
	}
	if creates := h.fake.Calls()["POST "+fakeapi.RouteSubscriptions]; creates != 2 {
		t.Errorf("%d creates, want 2: one stored, one whose store failed, none after", creates)
	}
	if rep.Result.StoreErr == nil {
		t.Error("the store's failure is not reported")
	}
	var notAttempted int
	for _, f := range rep.Result.Failures {
		if strings.Contains(f.Err.Error(), "not attempted") {
			notAttempted++
		}
	}
	if notAttempted != 8 {
		t.Errorf("%d creates reported not attempted, want 8", notAttempted)
	}
	if len(rep.Result.LostSecrets) != 1 || rep.Result.LostSecrets[0].Reason != apply.ReasonNotStored {
		t.Errorf("lost = %+v, want the one whose store failed", rep.Result.LostSecrets)
	}
}

func TestAStoreThatFailsItsProbeCostsNoCreate(t *testing.T) {
	h := newHarness(t)
	opts := h.opts()
	opts.Apply.Secrets = probeFails{h.secrets}
	_, err := reconcile.New(h.client, opts).Reconcile(context.Background(), parse(t, twoEntries), false)
	if !errors.Is(err, reconcile.ErrChangesFailed) {
		t.Fatalf("apply = %v, want failed changes", err)
	}
	if n := h.fake.Writes(); n != 0 {
		t.Errorf("%d writes after a failed probe, want 0", n)
	}
}

type probeFails struct{ secrets.Store }

func (probeFails) Probe(context.Context) error { return errors.New("read-only file system") }

func dirOf(h *harness) string { return strings.TrimPrefix(h.secrets.String(), "dir:") }

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRotationLeavesAGapNotAnOverlap checks what the receiver sees during
// a rotation: the old subscription is deleted before the new one is
// created (target URLs are unique), so the two never exist at once. The
// gap it logs is the figure in README.md, with 20 ms of latency per call.
func TestRotationLeavesAGapNotAnOverlap(t *testing.T) {
	fake := fakeapi.New(fakeapi.Options{Token: "t0ken"})
	var (
		mu               sync.Mutex
		deleted, created time.Time
		createStarted    time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		fake.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodDelete:
			deleted = time.Now()
		case http.MethodPost:
			createStarted, created = start, time.Now()
		}
	}))
	t.Cleanup(srv.Close)
	client, err := linq.NewClient(srv.URL, "t0ken")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := secrets.OpenDir(t.TempDir(), secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := reconcile.New(client, reconcile.Options{Rails: diff.DefaultRails(), Apply: apply.Options{Secrets: sd}})
	ctx := context.Background()
	cfg := parse(t, twoEntries)
	if _, err := r.Reconcile(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	fake.SetLatency(20 * time.Millisecond)
	if _, err := r.Rotate(ctx, cfg, []string{"crm"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if deleted.IsZero() || created.IsZero() || createStarted.Before(deleted) {
		t.Fatalf("the create started at %v, before the delete finished at %v: the two could overlap", createStarted, deleted)
	}
	t.Logf("rotation gap (delete answered → new subscription created) at 20 ms per call: %v", created.Sub(deleted).Round(time.Millisecond))
}

// stubVerifier answers Verify as told and records what it was asked.
type stubVerifier struct {
	err  error
	seen []probe.Target
}

func (v *stubVerifier) Verify(_ context.Context, t probe.Target) (probe.Result, error) {
	v.seen = append(v.seen, t)
	return probe.Result{}, v.err
}

func TestVerifyBeforeMoveHoldsTheMoveUntilTheNewURLVerifies(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := reconcile.New(h.client, h.opts())
	if _, err := r.Reconcile(ctx, parse(t, twoEntries), false); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, s := range h.fake.Snapshot() {
		if strings.HasSuffix(s.TargetURL, "/crm") {
			id = s.ID
		}
	}
	moved := parse(t, `version: 1
subscriptions:
  - name: crm
    id: `+id+`
    target_url: https://hooks.example.com/crm-v2
    subscribed_events: [message.received, message.read]
    verify_before_move: true
  - name: billing
    target_url: https://hooks.example.com/billing
    subscribed_events: [message.sent]
`)
	secret, _ := h.secrets.Secret(ctx, "crm")

	refuses := &stubVerifier{err: errors.New("https://hooks.example.com/crm-v2 answered rejects-valid")}
	opts := h.opts()
	opts.Verifier = refuses
	rep, err := reconcile.New(h.client, opts).Reconcile(ctx, moved, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(refuses.seen) != 1 || refuses.seen[0].TargetURL != "https://hooks.example.com/crm-v2" || string(refuses.seen[0].Secret) != secret || refuses.seen[0].SubscriptionID != id {
		t.Fatalf("verifier asked %+v, want the new URL with the held secret", refuses.seen)
	}
	if len(rep.Plan.Deferred) != 1 || !strings.Contains(rep.Plan.Deferred[0].Reason, "rejects-valid") {
		t.Errorf("deferred = %+v, want the move held with the probe's reason", rep.Plan.Deferred)
	}
	for _, s := range h.fake.Snapshot() {
		if s.ID == id && (s.TargetURL != "https://hooks.example.com/crm" || len(s.SubscribedEvents) != 2) {
			t.Errorf("subscription = %s %v, want the URL kept and the events updated", s.TargetURL, s.SubscribedEvents)
		}
	}

	opts.Verifier = &stubVerifier{}
	if _, err := reconcile.New(h.client, opts).Reconcile(ctx, moved, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.fake.Snapshot() {
		if s.ID == id && s.TargetURL != "https://hooks.example.com/crm-v2" {
			t.Errorf("after verifying, URL = %s, want the move applied", s.TargetURL)
		}
	}
}

func TestProbeTargetsCarryTheHeldSecretsAndSayWhyOthersCannotBeProbed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.fake.Seed(remote("https://hooks.example.com/adopted", "message.read"))
	cfg := parse(t, twoEntries+"  - name: adopted\n    target_url: https://hooks.example.com/adopted\n    subscribed_events: [message.read]\n")
	rep, err := reconcile.New(h.client, h.opts()).Reconcile(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	ts := reconcile.ProbeTargets(ctx, rep, h.secrets)
	got := map[string]probe.Target{}
	for _, tg := range ts {
		got[tg.Name] = tg
	}
	if len(ts) != 3 {
		t.Fatalf("targets = %+v, want the two created and the adopted one", ts)
	}
	for _, name := range []string{"crm", "billing"} {
		want, _ := h.secrets.Secret(ctx, name)
		if got[name].Secret == "" || string(got[name].Secret) != want || got[name].SubscriptionID == "" {
			t.Errorf("%s: target %+v, want its new subscription with the stored secret", name, got[name])
		}
	}
	if a := got["adopted"]; a.Secret != "" || !strings.Contains(a.SkipReason, "unknown") {
		t.Errorf("adopted: %+v, want skipped: secret unknown", a)
	}
}

// TestAHeldRotationLeavesTheSecretMissing: while deletes wait for a
// settled file, rotations (which delete) wait too, and the loss they
// would cure is still reported.
func TestAHeldRotationLeavesTheSecretMissing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cfg := parse(t, twoEntries)
	if _, err := reconcile.New(h.client, h.opts()).Reconcile(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dirOf(h), "billing.secret"))
	opts := h.opts()
	opts.RotateLostSecrets = true
	r := reconcile.New(h.client, opts)
	rep, err := r.ReconcileWith(ctx, cfg, reconcile.RunOptions{HoldDeletes: true})
	var le *reconcile.LostSecretsError
	if !errors.As(err, &le) || len(rep.Missing()) != 1 || h.fake.Writes() != 2 {
		t.Fatalf("held rotation: err %v, missing %v, writes %d; want the loss still reported and no write", err, rep.Missing(), h.fake.Writes()-2)
	}
	if rep, err := r.Reconcile(ctx, cfg, false); err != nil || len(rep.Missing()) != 0 {
		t.Errorf("once settled: err %v, missing %v; want the rotation to cure it", err, rep.Missing())
	}
}
