package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// clockT0 is the fixed time of both the fake and the client in the
// Retry-After tests, so that an HTTP-date Retry-After converts to exactly
// the wait the server meant.
var clockT0 = time.Date(2026, 2, 3, 10, 0, 0, 500_000_000, time.UTC)

// sleeps records the client's waits instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// asked records, in order, the wait each 429 answer named, read from the
// headers the fake really sent (retry-after-ms first, as clients read it).
type asked struct {
	mu sync.Mutex
	d  []time.Duration
}

func (a *asked) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status != http.StatusTooManyRequests {
			return
		}
		d, ok := namedWait(w.Header())
		if !ok {
			d = -1 // a 429 without a wait: recorded so the test fails
		}
		a.mu.Lock()
		a.d = append(a.d, d)
		a.mu.Unlock()
	})
}

func (a *asked) all() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.d...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the real writer (the fake
// flushes create answers through it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// namedWait decodes the wait an answer names, independently of the client:
// retry-after-ms, else Retry-After as seconds or as an HTTP date against
// clockT0.
func namedWait(h http.Header) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		ms, err := strconv.ParseFloat(v, 64)
		return time.Duration(ms * float64(time.Millisecond)), err == nil
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(s) * time.Second, true
	}
	at, err := http.ParseTime(v)
	return at.Sub(clockT0), err == nil
}

// budgetRig is a fake API whose client records its waits and reads the
// clock the fake does.
type budgetRig struct {
	fake   *fakeapi.Server
	client *linq.Client
	sleeps *sleeps
	asked  *asked
	srv    *httptest.Server
}

func newBudgetRig(t *testing.T, opts fakeapi.Options, clientToken string) *budgetRig {
	t.Helper()
	opts.Token = token
	opts.Now = func() time.Time { return clockT0 }
	rig := &budgetRig{fake: fakeapi.New(opts), sleeps: &sleeps{}, asked: &asked{}}
	rig.srv = httptest.NewServer(rig.asked.wrap(rig.fake))
	t.Cleanup(rig.srv.Close)
	policy := fastPolicy
	policy.MaxRetryAfter = time.Minute // the waits are recorded, not waited
	c, err := linq.NewClient(rig.srv.URL, clientToken,
		linq.WithRetryPolicy(policy),
		linq.WithHTTPClient(rig.srv.Client()),
		linq.WithSleep(rig.sleeps.sleep),
		linq.WithClock(func() time.Time { return clockT0 }),
		linq.WithRand(func() float64 { return 0.5 }),
	)
	if err != nil {
		t.Fatal(err)
	}
	rig.client = c
	return rig
}

// existingID is the id of the one subscription every budget rig starts with.
const existingID = "0b6f6b52-3c36-4bd6-9d0a-7e5e5a2b8f01"

// op is one client call and the fake's key for it.
type op struct {
	name, method, route string
	call                func(ctx context.Context, c *linq.Client) error
}

var ops = []op{
	{"list", "GET", fakeapi.RouteSubscriptions, func(ctx context.Context, c *linq.Client) error {
		_, err := c.List(ctx)
		return err
	}},
	{"event types", "GET", fakeapi.RouteEvents, func(ctx context.Context, c *linq.Client) error {
		_, err := c.EventTypes(ctx)
		return err
	}},
	{"create", "POST", fakeapi.RouteSubscriptions, func(ctx context.Context, c *linq.Client) error {
		_, err := c.Create(ctx, linq.CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.sent"}})
		return err
	}},
	{"update", "PUT", fakeapi.RouteSubscription, func(ctx context.Context, c *linq.Client) error {
		active := false
		_, err := c.Update(ctx, existingID, linq.UpdateParams{IsActive: &active})
		return err
	}},
	{"delete", "DELETE", fakeapi.RouteSubscription, func(ctx context.Context, c *linq.Client) error {
		return c.Delete(ctx, existingID)
	}},
}

func seedExisting(f *fakeapi.Server) {
	f.Seed(fakeapi.Subscription{ID: existingID, TargetURL: "https://hooks.example.com/existing", SubscribedEvents: []string{"message.sent"}, IsActive: true})
}

// TestRetryBudget shows that retries are bounded and polite: a 429 is
// waited out for at least what its Retry-After (or retry-after-ms) asks, in
// every form, on every call; 400, 401 and 403 are never retried, whether
// injected or real; and there is no retry storm.
//
// For a reconcile that starts from plan P the minimum is 1 event-types
// call + 1 list + P.Writes() (one write per change, plus the follow-up
// update of an inactive create). The bound asserted is
//
//	calls <= minimum + 2·F + 2·(R−1), with R−1 <= F
//
// where F is the number of answers a fault shaped (latency aside) and R the
// number of reconciles it took to settle: each fault costs at most the
// faulted call plus one more (a retry, or a re-list and a new create
// attempt), each extra reconcile one list and one event-types call, and
// only a fault causes one. Without faults calls must equal the minimum
// exactly: a ratio of 1.0.
func TestRetryBudget(t *testing.T) {
	t.Run("429 is waited out as Retry-After asks", func(t *testing.T) {
		forms := []struct {
			name  string
			fault fakeapi.Fault
		}{
			{"retry-after-ms", fakeapi.Fault{RetryAfter: 17 * time.Millisecond, RetryAfterMS: true}},
			{"seconds", fakeapi.Fault{RetryAfter: 2 * time.Second}},
			{"http date", fakeapi.Fault{RetryAfter: 3 * time.Second, RetryAfterHTTPDate: true}},
		}
		for _, form := range forms {
			for _, o := range ops {
				t.Run(form.name+"/"+o.name, func(t *testing.T) {
					rig := newBudgetRig(t, fakeapi.Options{}, token)
					seedExisting(rig.fake)
					f := form.fault
					f.Kind, f.Method, f.Route, f.Times = fakeapi.FaultRateLimit, o.method, o.route, 2
					rig.fake.AddFault(f)

					if err := o.call(context.Background(), rig.client); err != nil {
						t.Fatalf("%s after two 429s: %v", o.name, err)
					}
					if got := rig.fake.Count(o.method + " " + o.route); got != 3 {
						t.Errorf("calls = %d, want 3 (two 429s, then the answer)", got)
					}
					waits, sent := rig.sleeps.all(), rig.asked.all()
					if len(waits) != len(sent) || len(sent) != 2 {
						t.Fatalf("waits %v for 429s naming %v, want one wait per 429, 2 of each", waits, sent)
					}
					for i := range sent {
						if sent[i] < f.RetryAfter {
							t.Errorf("429 #%d named %s, less than the %s configured", i+1, sent[i], f.RetryAfter)
						}
						if waits[i] < sent[i] {
							t.Errorf("wait #%d = %s, shorter than the %s the server asked for", i+1, waits[i], sent[i])
						}
					}
				})
			}
		}
	})

	t.Run("429 beyond the longest honoured wait gives up at once", func(t *testing.T) {
		rig := newBudgetRig(t, fakeapi.Options{}, token)
		rig.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultRateLimit, RetryAfter: 2 * time.Hour})
		_, err := rig.client.List(context.Background())
		if !errors.Is(err, linq.ErrRateLimited) || !strings.Contains(err.Error(), "server asked to wait") {
			t.Errorf("err = %v, want a rate-limit error saying the asked wait is too long", err)
		}
		if got := totalCalls(rig.fake); got != 1 {
			t.Errorf("calls = %d, want 1", got)
		}
		if w := rig.sleeps.all(); len(w) != 0 {
			t.Errorf("waited %v, want no wait", w)
		}
	})

	t.Run("400 401 403 are never retried", func(t *testing.T) {
		refusals := []struct {
			status   int
			code     int
			sentinel error
		}{
			{http.StatusBadRequest, fakeapi.CodeValidation, linq.ErrBadRequest},
			{http.StatusUnauthorized, fakeapi.CodeUnauthorized, linq.ErrUnauthorized},
			{http.StatusForbidden, fakeapi.CodeForbidden, linq.ErrForbidden},
		}
		for _, rf := range refusals {
			for _, o := range ops {
				for _, retryHeader := range []bool{false, true} {
					name := fmt.Sprintf("injected %d/%s", rf.status, o.name)
					if retryHeader {
						name += "/x-should-retry true"
					}
					t.Run(name, func(t *testing.T) {
						rig := newBudgetRig(t, fakeapi.Options{}, token)
						seedExisting(rig.fake)
						f := fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: o.method, Route: o.route, Status: rf.status, Code: rf.code}
						if retryHeader {
							f.Header = http.Header{"X-Should-Retry": {"true"}}
						}
						rig.fake.AddFault(f)
						err := o.call(context.Background(), rig.client)
						if !errors.Is(err, rf.sentinel) {
							t.Errorf("err = %v, want %v", err, rf.sentinel)
						}
						if got := totalCalls(rig.fake); got != 1 {
							t.Errorf("calls = %d, want 1", got)
						}
						if w := rig.sleeps.all(); len(w) != 0 {
							t.Errorf("waited %v before giving up, want no wait", w)
						}
					})
				}
			}
		}

		// The same refusals, made by the fake's own rules.
		real := []struct {
			name     string
			token    string
			op       op
			sentinel error
		}{
			{"wrong token/list", "wrong-token", ops[0], linq.ErrUnauthorized},
			{"wrong token/create", "wrong-token", ops[2], linq.ErrUnauthorized},
			{"read-only token/create", "read-only", ops[2], linq.ErrForbidden},
			{"read-only token/update", "read-only", ops[3], linq.ErrForbidden},
			{"read-only token/delete", "read-only", ops[4], linq.ErrForbidden},
			{"phone not E.164/create", token, op{"create", "POST", fakeapi.RouteSubscriptions, func(ctx context.Context, c *linq.Client) error {
				_, err := c.Create(ctx, linq.CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.sent"}, PhoneNumbers: []string{"555"}})
				return err
			}}, linq.ErrBadRequest},
			{"phone not E.164/update", token, op{"update", "PUT", fakeapi.RouteSubscription, func(ctx context.Context, c *linq.Client) error {
				pn := []string{"555"}
				_, err := c.Update(ctx, existingID, linq.UpdateParams{PhoneNumbers: &pn})
				return err
			}}, linq.ErrBadRequest},
		}
		for _, rc := range real {
			t.Run("real "+rc.name, func(t *testing.T) {
				rig := newBudgetRig(t, fakeapi.Options{ReadOnlyToken: "read-only"}, rc.token)
				seedExisting(rig.fake)
				err := rc.op.call(context.Background(), rig.client)
				if !errors.Is(err, rc.sentinel) {
					t.Errorf("err = %v, want %v", err, rc.sentinel)
				}
				if got := totalCalls(rig.fake); got != 1 {
					t.Errorf("calls = %d, want 1", got)
				}
				if w := rig.sleeps.all(); len(w) != 0 {
					t.Errorf("waited %v, want no wait", w)
				}
			})
		}
	})

	t.Run("a refused reconcile sends each call once", func(t *testing.T) {
		doc := "version: 1\npolicy: sync\nsubscriptions:\n" +
			"  - name: new\n    target_url: https://hooks.example.com/new\n    subscribed_events: [message.sent]\n    is_active: false\n" +
			"  - name: changed\n    target_url: https://hooks.example.com/existing\n    subscribed_events: [message.read]\n"
		cfg, diags := config.Parse("subscriptions.yaml", []byte(doc))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		for _, tc := range []struct {
			name      string
			token     string
			wantCalls int
			sentinel  error
		}{
			// The event-types and list calls, sent at once, are each
			// refused once (the list may be cancelled before it is sent
			// when the event types are refused first), and nothing
			// follows them.
			{"wrong token", "wrong-token", 2, linq.ErrUnauthorized},
			// Events, list, then each of the 3 writes once (the create's
			// follow-up update never comes: the create was refused).
			{"read-only token", "read-only", 2 + 3, linq.ErrForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rig := newBudgetRig(t, fakeapi.Options{ReadOnlyToken: "read-only"}, tc.token)
				seedExisting(rig.fake)
				rig.fake.Seed(fakeapi.Subscription{TargetURL: "https://hooks.example.com/stale", SubscribedEvents: []string{"call.ended"}, IsActive: true})
				sd, err := secrets.OpenDir(t.TempDir(), secrets.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				r := reconcile.New(rig.client, reconcile.Options{Rails: diff.Rails{MaxDeletes: 10}, Apply: apply.Options{Secrets: sd}})
				rep, err := r.Reconcile(context.Background(), cfg, false)
				if err == nil {
					t.Fatal("reconcile succeeded, want a refusal")
				}
				for _, f := range rep.Result.Failures {
					if !errors.Is(f.Err, tc.sentinel) {
						t.Errorf("failure %s %q: %v, want %v", f.Action, f.Change.Name, f.Err, tc.sentinel)
					}
				}
				if tc.token == "wrong-token" && !errors.Is(err, tc.sentinel) {
					t.Errorf("err = %v, want %v", err, tc.sentinel)
				}
				got := totalCalls(rig.fake)
				if tc.token == "wrong-token" {
					for call, n := range rig.fake.Calls() {
						if n != 1 {
							t.Errorf("%s sent %d times, want at most once", call, n)
						}
					}
				} else if got != tc.wantCalls {
					t.Errorf("calls = %d (%v), want %d", got, rig.fake.Calls(), tc.wantCalls)
				}
				if got > tc.wantCalls {
					t.Errorf("calls = %d (%v), want at most %d", got, rig.fake.Calls(), tc.wantCalls)
				}
				if w := rig.sleeps.all(); len(w) != 0 {
					t.Errorf("waited %v, want no wait", w)
				}
			})
		}
	})

	t.Run("persistent 5xx stops at the attempt cap", func(t *testing.T) {
		for _, o := range ops {
			t.Run(o.name, func(t *testing.T) {
				rig := newBudgetRig(t, fakeapi.Options{}, token)
				seedExisting(rig.fake)
				rig.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Status: 503})
				err := o.call(context.Background(), rig.client)
				if err == nil {
					t.Fatal("call succeeded against a server that always answers 503")
				}
				want := fastPolicy.MaxAttempts
				if o.method == "POST" {
					want = 1 // a create that may have committed is never repeated
				}
				if got := totalCalls(rig.fake); got != want {
					t.Errorf("calls = %d, want %d", got, want)
				}
			})
		}
	})

	t.Run("no retry storm", func(t *testing.T) {
		master := seed(t)
		n := cases(4)
		var (
			mu                  sync.Mutex
			cleanCalls, cleanMn int
			fCalls, fMin, fF    int
			worst               float64
		)
		t.Cleanup(func() {
			t.Logf("without faults: %d calls for a minimum of %d: ratio %.3f", cleanCalls, cleanMn, ratio(cleanCalls, cleanMn))
			t.Logf("with faults: %d calls for a minimum of %d (ratio %.3f, worst case %.3f) and %d faulted answers: %.2f extra calls per fault",
				fCalls, fMin, ratio(fCalls, fMin), worst, fF, ratio(fCalls-fMin, fF))
		})
		runCases(t, 2*n, func(i int) string {
			if i%2 == 1 {
				return fmt.Sprintf("case-%d-faults", i/2)
			}
			return fmt.Sprintf("case-%d", i/2)
		}, func(t *testing.T, i int) {
			c := genCase(master, "TestRetryBudget/no_retry_storm", i/2, i%2 == 1)
			w := newWorld(t, c)
			rp := w.replica("a")
			minimum := 2 + offlinePlan(c, w.cfg).Writes()
			rounds, ok := w.reconcileUntilSettled(context.Background(), rp, maxRounds)
			defer w.finish(rounds)
			if !ok {
				t.Fatalf("no round settled within %d rounds", maxRounds)
			}
			calls, F, R := totalCalls(w.fake), faulted(w.fake.Requests()), len(rounds)
			if F == 0 {
				if calls != minimum || R != 1 {
					t.Errorf("without faults: %d calls in %d rounds (%v), want exactly the minimum %d in 1", calls, R, w.fake.Calls(), minimum)
				}
			} else {
				if bound := minimum + 2*F + 2*(R-1); calls > bound {
					t.Errorf("%d calls (%v) over the bound %d = minimum %d + 2·%d faults + 2·%d extra rounds", calls, w.fake.Calls(), bound, minimum, F, R-1)
				}
				if R-1 > F {
					t.Errorf("%d extra rounds for %d faults: a round failed without a fault", R-1, F)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if F == 0 {
				cleanCalls += calls
				cleanMn += minimum
			} else {
				fCalls += calls
				fMin += minimum
				fF += F
				worst = math.Max(worst, ratio(calls, minimum))
			}
		})
	})
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
