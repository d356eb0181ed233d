package chaos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestChaosApplyConverges reconciles randomized desired/remote state pairs
// under randomized faults until a round leaves nothing pending, then, with
// the faults off, checks that the account is exactly the desired state,
// that nothing outside the policy was touched, that no target_url ever
// existed twice, and that every created subscription's secret is stored or
// reported lost.
func TestChaosApplyConverges(t *testing.T) {
	master := seed(t)
	n := cases(1)
	var (
		mu          sync.Mutex
		roundsHist  = make([]int, maxRounds+1)
		faultsTotal int
		lostTotal   int
	)
	t.Cleanup(func() {
		t.Logf("%d cases, %d faulted answers, %d secrets reported lost; rounds to settle: %v (index = rounds)", n, faultsTotal, lostTotal, roundsHist)
	})
	for i := range n {
		c := genCase(master, t.Name(), i, true)
		t.Run(fmt.Sprintf("case-%d", i), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w := newWorld(t, c)
			rp := w.replica("a")

			rounds, ok := w.reconcileUntilSettled(ctx, rp, maxRounds)
			defer w.finish(rounds)
			if !ok {
				t.Errorf("no round settled within %d rounds", maxRounds)
				return
			}
			w.fake.ClearFaults()
			w.checkAccount()
			w.checkSecrets([]*replica{rp}, rounds)

			// With the faults off, one more reconcile finds nothing to do.
			before := w.fake.Writes()
			rep, err := rp.r.Reconcile(ctx, w.cfg, false)
			if err != nil || rep.Plan.HasChanges() || w.fake.Writes() != before {
				t.Errorf("reconcile after settling: err %v, plan %+v, writes %d", err, rep.Plan.Summary(), w.fake.Writes()-before)
			}

			lost := 0
			for _, r := range rounds {
				lost += len(r.rep.Result.LostSecrets)
			}
			mu.Lock()
			roundsHist[len(rounds)]++
			faultsTotal += faulted(w.fake.Requests())
			lostTotal += lost
			mu.Unlock()
		})
	}
}

// TestChaosTwoDaemonsConverge runs two replicas (two reconcilers with
// their own clients and secret directories, as two sidecars would be)
// against one account at once, under faults. Each loops until it finds
// the account already as desired. Then, with the faults off, more rounds
// of both at once must make zero writes: no flapping.
func TestChaosTwoDaemonsConverge(t *testing.T) {
	master := seed(t)
	n := cases(4)
	extra := 3 * max(1, *flagLong)
	for i := range n {
		c := genCase(master, t.Name(), i, true)
		t.Run(fmt.Sprintf("case-%d", i), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			w := newWorld(t, c)
			reps := []*replica{w.replica("a"), w.replica("b")}

			// Both replicas loop at once until each has seen the
			// account already as desired, as two sidecars started
			// together would.
			const limit = 2 * maxRounds
			var (
				mu     sync.Mutex
				rounds []round
				wg     sync.WaitGroup
				quiet  = make([]bool, len(reps))
			)
			for k, rp := range reps {
				wg.Go(func() {
					for n := 1; n <= limit; n++ {
						rep, err := rp.r.Reconcile(ctx, w.cfg, false)
						rd := round{replica: rp.name, n: n, err: err, rep: rep}
						mu.Lock()
						rounds = append(rounds, rd)
						mu.Unlock()
						if rd.quiet() {
							quiet[k] = true
							return
						}
					}
				})
			}
			wg.Wait()
			defer func() { w.finish(rounds) }()
			for k, q := range quiet {
				if !q {
					t.Errorf("replica %s never found the account as desired in %d rounds", reps[k].name, limit)
				}
			}
			if t.Failed() {
				return
			}

			w.fake.ClearFaults()
			w.checkAccount()
			w.checkSecrets(reps, rounds)

			// No flapping: more rounds of both, at once, write nothing.
			before := w.fake.Writes()
			for n := 1; n <= extra; n++ {
				for _, rp := range reps {
					wg.Go(func() {
						rep, err := rp.r.Reconcile(ctx, w.cfg, false)
						if err != nil || rep.Plan.HasChanges() {
							t.Errorf("%s extra round %d: err %v, plan %+v", rp.name, n, err, rep.Plan.Summary())
						}
					})
				}
				wg.Wait()
			}
			if got := w.fake.Writes() - before; got != 0 {
				t.Errorf("after converging, %d more rounds of both replicas made %d writes, want 0", extra, got)
			}
		})
	}
}
