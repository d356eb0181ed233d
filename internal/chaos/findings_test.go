package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

// The tests in this file pin down, each with one small fixed case, what the
// randomized suites found. Each states the behaviour it expects.

// fixedCase builds a case from a file and a remote state, without faults.
func fixedCase(doc string, remote ...fakeapi.Subscription) caseSpec {
	return caseSpec{seed: 1, concurrency: 1, remote: remote, policy: config.PolicyUpsertOnly, fixedYAML: doc}
}

func sub(id, url string, events ...string) fakeapi.Subscription {
	return fakeapi.Subscription{ID: id, TargetURL: url, SubscribedEvents: events, IsActive: true, CreatedAt: baseTime}
}

const (
	idA = "aaaaaaaa-0000-4000-8000-000000000001"
	idB = "bbbbbbbb-0000-4000-8000-000000000002"
	idC = "cccccccc-0000-4000-8000-000000000003"
)

// TestApplyOrdersChainedRenames: when one pinned entry moves its
// subscription to the URL another pinned entry moves away from, apply must
// make the second move first. Otherwise the first is refused as a
// duplicate URL and a second reconcile is needed: more calls than the
// minimum (1 event-types call + 1 list + 1 write per change), on a perfect
// network.
func TestApplyOrdersChainedRenames(t *testing.T) {
	for _, concurrency := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			// a: /one -> /two, b: /two -> /three, c: /three -> /four. Entry
			// names sort in the worst order: a's move waits for b's, b's
			// for c's.
			c := fixedCase(`version: 1
subscriptions:
  - name: a
    id: `+idA+`
    target_url: https://hooks.example.com/two
    subscribed_events: [message.sent]
  - name: b
    id: `+idB+`
    target_url: https://hooks.example.com/three
    subscribed_events: [message.sent]
  - name: c
    id: `+idC+`
    target_url: https://hooks.example.com/four
    subscribed_events: [message.sent]
`,
				sub(idA, "https://hooks.example.com/one", "message.sent"),
				sub(idB, "https://hooks.example.com/two", "message.sent"),
				sub(idC, "https://hooks.example.com/three", "message.sent"),
			)
			c.concurrency = concurrency
			w := newWorld(t, c)
			rounds, ok := w.reconcileUntilSettled(context.Background(), w.replica("a"), maxRounds)
			defer w.finish(rounds)
			if !ok {
				t.Fatalf("no round settled within %d rounds", maxRounds)
			}
			w.checkAccount()
			if got, want := totalCalls(w.fake), 2+3; len(rounds) != 1 || got != want {
				t.Errorf("%d calls in %d rounds (%v), want %d in 1: each rename must wait for the one that frees its URL", got, len(rounds), w.fake.Calls(), want)
			}
		})
	}
}

// TestRenameSwapDoesNotFailForever: two pinned entries that swap URLs
// cannot be applied by single updates, as target_url is unique. Either
// apply gets there (through a temporary URL), or the plan refuses the swap
// up front with an entry error and no write. What must not happen is a
// plan that fails the same way every round, forever, as the daemon would
// then hammer the API with refused updates every interval.
func TestRenameSwapDoesNotFailForever(t *testing.T) {
	c := fixedCase(`version: 1
subscriptions:
  - name: a
    id: `+idA+`
    target_url: https://hooks.example.com/two
    subscribed_events: [message.sent]
  - name: b
    id: `+idB+`
    target_url: https://hooks.example.com/one
    subscribed_events: [message.sent]
`,
		sub(idA, "https://hooks.example.com/one", "message.sent"),
		sub(idB, "https://hooks.example.com/two", "message.sent"),
	)
	w := newWorld(t, c)
	rp := w.replica("a")
	rounds, ok := w.reconcileUntilSettled(context.Background(), rp, maxRounds)
	defer w.finish(rounds)
	if ok {
		w.checkAccount()
		return
	}
	var perr *reconcile.PlanErrors
	if errors.As(rounds[0].err, &perr) && w.fake.Writes() == 0 {
		return // refused up front, with nothing written
	}
	t.Errorf("a URL swap neither converged nor was refused: %d rounds failed, %d writes made", len(rounds), w.fake.Writes())
}

// armOnce wraps h so that arm runs once, just before the first request
// with method and route reaches h.
func armOnce(h http.Handler, method, route string, arm func()) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := strings.TrimPrefix(r.URL.Path, fakeapi.PartnerPrefix); r.Method == method && p == route {
			once.Do(arm)
		}
		h.ServeHTTP(w, r)
	})
}

// TestLostSecretIsReportedWhenTheRelistFails: a create that committed but
// whose answer was lost, followed by a re-list that fails too, leaves a
// subscription whose secret no one holds. The next reconcile finds it by
// URL and treats it as in sync. Somewhere, a round must report the secret
// as lost: by id once the subscription is seen, or by name when the create
// ended in doubt.
func TestLostSecretIsReportedWhenTheRelistFails(t *testing.T) {
	c := fixedCase(`version: 1
subscriptions:
  - name: fresh
    target_url: https://hooks.example.com/fresh
    subscribed_events: [message.sent]
`)
	// The create commits and its answer is lost; then every attempt of
	// the re-list that follows fails.
	var w *world
	w = newWorld(t, c, func(h http.Handler) http.Handler {
		return armOnce(h, "POST", fakeapi.RouteSubscriptions, func() {
			w.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: "GET", Route: fakeapi.RouteSubscriptions, Status: 503, Times: fastPolicy.MaxAttempts})
		})
	})
	w.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Method: "POST", Route: fakeapi.RouteSubscriptions, Times: 1})
	rp := w.replica("a")
	rounds, ok := w.reconcileUntilSettled(context.Background(), rp, maxRounds)
	defer w.finish(rounds)
	if !ok {
		t.Fatalf("no round settled within %d rounds", maxRounds)
	}
	if lost := w.fake.LostSecrets(); len(lost) != 1 {
		t.Fatalf("the fake lost %d secrets, want 1: the scenario did not happen", len(lost))
	}
	w.checkAccount()
	w.checkSecrets([]*replica{rp}, rounds)
}
