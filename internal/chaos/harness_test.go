package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
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

// token is the bearer token of every fake server here.
const token = "chaos-token"

// fastPolicy is the client retry policy of the suite: the production shape
// (attempt cap, doubling full-jitter backoff, Retry-After honoured) with
// millisecond waits.
var fastPolicy = linq.RetryPolicy{
	MaxAttempts:   4,
	BaseDelay:     time.Millisecond,
	MaxDelay:      4 * time.Millisecond,
	MaxElapsed:    10 * time.Second,
	MaxRetryAfter: 100 * time.Millisecond,
}

// maxRounds bounds the reconciles a case may take to converge under faults.
const maxRounds = 8

// world is one case wired up: the fake API behind a watcher, served on
// 127.0.0.1.
type world struct {
	t    *testing.T
	c    caseSpec
	cfg  *config.Config
	fake *fakeapi.Server
	srv  *httptest.Server
	// initial is the account before any reconcile, by id.
	initial map[string]fakeapi.Subscription

	mu         sync.Mutex
	violations []string
}

// newWorld seeds a fake API with c's remote state and arms c's faults.
// After every write that reaches the fake (whatever its answer), the
// watcher checks that no target_url exists twice, so duplicates are looked
// for at every state the account passes through.
// Each wrap, if any, wraps the served handler, outermost last.
func newWorld(t *testing.T, c caseSpec, wraps ...func(http.Handler) http.Handler) *world {
	t.Helper()
	w := &world{t: t, c: c, cfg: c.config(t), initial: map[string]fakeapi.Subscription{}}
	opts := c.opts
	opts.Token = token
	w.fake = fakeapi.New(opts)
	w.fake.Seed(c.remote...)
	for _, s := range w.fake.Snapshot() {
		w.initial[s.ID] = s
	}
	if p := offlinePlan(c, w.cfg); len(p.Errors) > 0 && c.fixedYAML == "" {
		t.Fatalf("generated case has plan errors %+v\n%s", p.Errors, c.describe())
	}
	var h http.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			defer w.checkUnique("after " + r.Method + " " + r.URL.Path)
		}
		w.fake.ServeHTTP(rw, r)
	})
	for _, wrap := range wraps {
		h = wrap(h)
	}
	w.srv = httptest.NewServer(h)
	t.Cleanup(w.srv.Close)
	for _, f := range c.faults {
		w.fake.AddFault(f)
	}
	return w
}

func (w *world) violate(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) < 20 {
		w.violations = append(w.violations, fmt.Sprintf(format, args...))
	}
}

// checkUnique records a violation when two subscriptions share a URL.
func (w *world) checkUnique(when string) {
	seen := map[string]string{}
	for _, s := range w.fake.Snapshot() {
		if other, dup := seen[s.TargetURL]; dup {
			w.violate("%s: target_url %q exists twice (%s and %s)", when, s.TargetURL, other, s.ID)
		}
		seen[s.TargetURL] = s.ID
	}
}

// replica is one reconciler of the account, as one `linq-sync run` would
// hold: its own client, connections, jitter source and secrets directory.
type replica struct {
	name    string
	r       *reconcile.Reconciler
	rotate  *reconcile.Reconciler // the same, rotating lost secrets
	client  *linq.Client
	dir     string
	secrets *secrets.Dir
}

func (w *world) replica(name string, extra ...linq.Option) *replica {
	w.t.Helper()
	rng := rand.New(rand.NewPCG(w.c.seed, uint64(name[0])))
	opts := append([]linq.Option{
		linq.WithRetryPolicy(fastPolicy),
		linq.WithHTTPClient(w.srv.Client()),
		linq.WithRand(rng.Float64),
		linq.WithAttemptTimeout(5 * time.Second),
	}, extra...)
	client, err := linq.NewClient(w.srv.URL, token, opts...)
	if err != nil {
		w.t.Fatal(err)
	}
	dir := filepath.Join(w.t.TempDir(), "secrets-"+name)
	sd, err := secrets.OpenDir(dir, secrets.OpenOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	ro := reconcile.Options{
		Rails: diff.Rails{MaxDeletes: 1000},
		Apply: apply.Options{
			Concurrency:   w.c.concurrency,
			Secrets:       sd,
			CreateBackoff: func(int) time.Duration { return time.Millisecond },
		},
	}
	r := reconcile.New(client, ro)
	ro.RotateLostSecrets = true
	rot := reconcile.New(client, ro)
	return &replica{name: name, r: r, rotate: rot, client: client, dir: dir, secrets: sd}
}

// round is what one reconcile reported.
type round struct {
	replica string
	n       int
	err     error
	rep     reconcile.Report
}

// settled reports whether the round left nothing pending: the plan was
// made and every change took effect.
func (r round) settled() bool {
	if !r.ok() {
		return false
	}
	p := r.rep.Pending()
	return p.Create+p.Update+p.Delete+p.Rotate == 0
}

// ok reports whether the round ended without error, or only with secrets
// reported lost: the account is as declared, and a loss stays reported
// until someone rotates it, which these worlds do not.
func (r round) ok() bool {
	var lost *reconcile.LostSecretsError
	return r.err == nil || errors.As(r.err, &lost)
}

// quiet reports whether the round found the account already as desired.
func (r round) quiet() bool { return r.ok() && !r.rep.Plan.HasChanges() }

func (r round) String() string {
	s := r.rep.Plan.Summary()
	errText := "ok"
	if r.err != nil {
		errText = r.err.Error()
	}
	var fails []string
	for _, f := range r.rep.Result.Failures {
		fails = append(fails, fmt.Sprintf("%s %s: %v", f.Action, f.Change.Name, f.Err))
	}
	return fmt.Sprintf("%s round %d: plan +%d ~%d -%d, writes %d, lost %v: %s %s",
		r.replica, r.n, s.Create, s.Update, s.Delete, r.rep.Result.Writes, r.rep.Result.LostSecrets, errText, strings.Join(fails, "; "))
}

// reconcileUntilSettled runs rep's reconciles until one settles, at most
// limit of them, checking the account after each.
func (w *world) reconcileUntilSettled(ctx context.Context, rp *replica, limit int) ([]round, bool) {
	var rounds []round
	for n := 1; n <= limit; n++ {
		rep, err := rp.r.Reconcile(ctx, w.cfg, false)
		rd := round{replica: rp.name, n: n, err: err, rep: rep}
		rounds = append(rounds, rd)
		w.checkUnique(fmt.Sprintf("after %s round %d", rp.name, n))
		w.checkSecretDir(rp, fmt.Sprintf("after %s round %d", rp.name, n), true)
		if rd.settled() {
			return rounds, true
		}
	}
	return rounds, false
}

// checkSecretDir records a violation for any secret file that is not a
// whole secret and, when settled (no write in flight), for any other file,
// such as a temporary one left behind. Files that vanish between listing
// and reading (replaced by a rename) are skipped.
func (w *world) checkSecretDir(rp *replica, when string, settled bool) {
	entries, err := os.ReadDir(rp.dir)
	if err != nil {
		w.violate("%s: %s: %v", when, rp.name, err)
		return
	}
	for _, de := range entries {
		if isRecord(de.Name()) {
			continue
		}
		if !strings.HasSuffix(de.Name(), ".secret") || strings.HasPrefix(de.Name(), ".") {
			if settled {
				w.violate("%s: %s: stray file %q in the secrets directory", when, rp.name, de.Name())
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(rp.dir, de.Name()))
		if err != nil {
			continue
		}
		if !secretFile.Match(b) {
			w.violate("%s: %s: %s is not a whole secret (%d bytes)", when, rp.name, de.Name(), len(b))
		}
	}
}

// protected returns the ids no write may ever address: subscriptions of
// another environment and, under upsert-only, the unmanaged ones (those no
// entry pins and whose URL no unpinned entry declares).
func (w *world) protected() map[string]string {
	pinned, declared := map[string]bool{}, map[string]bool{}
	for _, e := range w.cfg.Subscriptions {
		if e.ID != "" {
			pinned[e.ID] = true
		} else {
			declared[e.TargetURL] = true
		}
	}
	out := map[string]string{}
	for id, s := range w.initial {
		switch {
		case !inScope(s):
			out[id] = "of another environment"
		case w.cfg.Policy != config.PolicySync && !pinned[id] && !declared[s.TargetURL]:
			out[id] = "unmanaged under upsert-only"
		}
	}
	return out
}

// checkAccount asserts that the account is exactly the desired state.
func (w *world) checkAccount() {
	t := w.t
	t.Helper()
	final := w.fake.Snapshot()
	byURL := map[string][]fakeapi.Subscription{}
	byID := map[string]fakeapi.Subscription{}
	for _, s := range final {
		byURL[s.TargetURL] = append(byURL[s.TargetURL], s)
		byID[s.ID] = s
	}
	initialByURL := map[string]fakeapi.Subscription{}
	for _, s := range w.initial {
		initialByURL[s.TargetURL] = s
	}
	declared := map[string]bool{}
	for _, e := range w.cfg.Subscriptions {
		got := byURL[e.TargetURL]
		if len(got) != 1 {
			t.Errorf("entry %q: %d subscriptions with target_url %q, want 1", e.Name, len(got), e.TargetURL)
			continue
		}
		s := got[0]
		declared[s.ID] = true
		if e.ID != "" && s.ID != e.ID {
			t.Errorf("entry %q pins %s, but its URL is held by %s", e.Name, e.ID, s.ID)
		}
		// A subscription matched by URL is updated in place, never
		// replaced: its secret, held by the user, must stay valid.
		if old, ok := initialByURL[e.TargetURL]; ok && e.ID == "" && inScope(old) && s.ID != old.ID {
			t.Errorf("entry %q: %s was replaced by %s instead of updated", e.Name, old.ID, s.ID)
		}
		if !inScope(s) {
			t.Errorf("entry %q: matched subscription %s of another environment", e.Name, s.ID)
		}
		if !sameSet(s.SubscribedEvents, e.SubscribedEvents) {
			t.Errorf("entry %q: events %v, want %v", e.Name, s.SubscribedEvents, e.SubscribedEvents)
		}
		if !sameSet(s.PhoneNumbers, e.PhoneNumbers) {
			t.Errorf("entry %q: phone_numbers %v, want %v", e.Name, s.PhoneNumbers, e.PhoneNumbers)
		}
		if s.IsActive != e.IsActive {
			t.Errorf("entry %q: is_active %t, want %t", e.Name, s.IsActive, e.IsActive)
		}
	}
	prot := w.protected()
	for id, why := range prot {
		before := w.initial[id]
		after, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("subscription %s (%s) was deleted", id, why)
		case !reflect.DeepEqual(before, after):
			t.Errorf("subscription %s (%s) changed:\n before %+v\n after  %+v", id, why, before, after)
		}
	}
	for _, s := range final {
		if declared[s.ID] || prot[s.ID] != "" {
			continue
		}
		// Left over: under sync nothing may be; under upsert-only only
		// what was never managed, and that is protected above.
		t.Errorf("subscription %s (%s) should not exist under policy %s", s.ID, s.TargetURL, w.cfg.Policy)
	}
	for _, r := range w.fake.Requests() {
		if r.Method != http.MethodGet && prot[r.ID] != "" {
			t.Errorf("a %s reached subscription %s, which is %s", r.Method, r.ID, prot[r.ID])
		}
	}
}

var secretFile = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]+={0,2}$`)

// checkSecrets asserts that every created subscription has its secret in
// one of the replicas' directories or was reported lost, that the reports
// agree with the fake, and that every file is a whole secret.
func (w *world) checkSecrets(reps []*replica, rounds []round) {
	t := w.t
	t.Helper()
	nameOf := map[string]string{} // URL -> entry name
	for _, e := range w.cfg.Subscriptions {
		nameOf[e.TargetURL] = e.Name
	}
	type report struct {
		replica string
		reason  apply.LossReason
	}
	lostByID := map[string][]report{}
	lostByName := map[string][]report{} // reports without an id
	for _, rd := range rounds {
		for _, l := range rd.rep.Result.LostSecrets {
			if l.ID == "" {
				lostByName[l.Name] = append(lostByName[l.Name], report{rd.replica, l.Reason})
			} else {
				lostByID[l.ID] = append(lostByID[l.ID], report{rd.replica, l.Reason})
			}
		}
	}
	fakeLost := map[string]bool{}
	for _, id := range w.fake.LostSecrets() {
		fakeLost[id] = true
	}
	for _, s := range w.fake.Snapshot() {
		if _, old := w.initial[s.ID]; old {
			continue
		}
		name := nameOf[s.TargetURL]
		want, _ := w.fake.Secret(s.ID)
		stored := 0
		for _, rp := range reps {
			b, err := os.ReadFile(rp.secrets.Path(name))
			if err != nil {
				continue
			}
			if string(b) != want {
				if len(lostByID[s.ID]) == 0 && len(lostByName[name]) == 0 {
					t.Errorf("created %s (%q): %s holds a secret that is not its secret, and no loss was reported", s.ID, name, rp.name)
				}
				continue
			}
			stored++
		}
		reported := len(lostByID[s.ID]) > 0 || len(lostByName[name]) > 0
		switch {
		case stored == 0 && !reported:
			t.Errorf("created %s (%q): no secret stored and no loss reported (fake says lost: %t)", s.ID, name, fakeLost[s.ID])
		case stored > 0 && fakeLost[s.ID]:
			t.Errorf("created %s (%q): a secret is stored, but the fake never delivered it", s.ID, name)
		case fakeLost[s.ID] && !reported:
			t.Errorf("created %s (%q): the fake lost its secret, no one reported it", s.ID, name)
		}
		for _, r := range lostByID[s.ID] {
			// With one writer, "response lost" must be true. With two, a
			// replica whose create failed ambiguously cannot tell its own
			// commit from the other's; the other must then hold it.
			if r.reason == apply.ReasonResponseLost && !fakeLost[s.ID] && (len(reps) == 1 || stored == 0) {
				t.Errorf("created %s (%q): %s reported its response lost, but the fake delivered it", s.ID, name, r.replica)
			}
		}
	}
	for _, rp := range reps {
		entries, err := os.ReadDir(rp.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			if isRecord(de.Name()) {
				continue
			}
			base, ok := strings.CutSuffix(de.Name(), ".secret")
			if !ok || strings.HasPrefix(de.Name(), ".") {
				t.Errorf("%s: stray file %q in the secrets directory", rp.name, de.Name())
				continue
			}
			if _, declared := lookupName(w.cfg, base); !declared {
				t.Errorf("%s: secret file for undeclared name %q", rp.name, base)
			}
			b, err := os.ReadFile(filepath.Join(rp.dir, de.Name()))
			if err != nil {
				t.Error(err)
				continue
			}
			if !secretFile.Match(b) {
				t.Errorf("%s: %s is not a whole secret (%d bytes)", rp.name, de.Name(), len(b))
			}
			if fi, err := de.Info(); err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", rp.name, de.Name(), fi.Mode().Perm())
			}
		}
	}
}

func lookupName(cfg *config.Config, name string) (config.Subscription, bool) {
	for _, e := range cfg.Subscriptions {
		if e.Name == name {
			return e, true
		}
	}
	return config.Subscription{}, false
}

// sameSet compares string sets; nil and empty are equal.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// faulted counts the calls whose answer a fault shaped (latency aside).
func faulted(reqs []fakeapi.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Fault != 0 && r.Fault != fakeapi.FaultLatency {
			n++
		}
	}
	return n
}

// totalCalls sums the fake's call counts.
func totalCalls(f *fakeapi.Server) int {
	n := 0
	for _, c := range f.Calls() {
		n += c
	}
	return n
}

// finish fails the test with the case and its history when anything went
// wrong.
func (w *world) finish(rounds []round) {
	w.t.Helper()
	w.mu.Lock()
	for _, v := range w.violations {
		w.t.Error(v)
	}
	w.mu.Unlock()
	if w.t.Failed() {
		var b strings.Builder
		for _, r := range rounds {
			b.WriteString(r.String())
			b.WriteByte('\n')
		}
		w.t.Logf("%s--- rounds\n%s", w.c.describe(), b.String())
	}
}

// isRecord reports whether a file of the secrets directory is the record
// (NAME.json) that the store keeps beside a secret.
func isRecord(name string) bool {
	return strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, ".")
}

// checkLostAreReported fails for a secret the plan finds lost that no
// round reported losing (nor could have: an unknown outcome names no id).
func (w *world) checkLostAreReported(rep reconcile.Report, rounds []round) {
	w.t.Helper()
	reported := map[string]bool{}
	for _, rd := range rounds {
		for _, l := range rd.rep.Result.LostSecrets {
			reported[l.Name] = true
		}
	}
	for _, c := range diff.Lost(rep.Plan.Custody) {
		if !reported[c.Name] {
			w.t.Errorf("plan finds the secret of %q (%s) lost (%s), but no apply reported losing it", c.Name, c.ID, c.Detail)
		}
	}
}

// checkAllHeld fails unless every managed subscription created here has
// its secret stored, equal to what the fake handed out.
func (w *world) checkAllHeld(rp *replica) {
	w.t.Helper()
	nameOf := map[string]string{}
	for _, e := range w.cfg.Subscriptions {
		nameOf[e.TargetURL] = e.Name
	}
	for _, s := range w.fake.Snapshot() {
		name, managed := nameOf[s.TargetURL]
		if _, old := w.initial[s.ID]; old || !managed {
			continue
		}
		want, ok := w.fake.Secret(s.ID)
		got, err := rp.secrets.Secret(context.Background(), name)
		if !ok || err != nil || got != want {
			w.t.Errorf("after rotation, %q (%s): stored secret matches the fake's: %t (%v)", name, s.ID, err == nil && got == want, err)
		}
	}
}
