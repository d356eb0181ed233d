package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/daemon"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/watch"
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
	runCases(t, n, caseName, func(t *testing.T, i int) {
		c := genCase(master, "TestChaosApplyConverges", i, true)
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

		// With the faults off, one more reconcile finds nothing to do but
		// the lost secrets, which must be exactly those reported lost.
		before := w.fake.Writes()
		rep, err := rp.r.Reconcile(ctx, w.cfg, false)
		if !(round{err: err}).ok() || rep.Plan.HasChanges() || w.fake.Writes() != before {
			t.Errorf("reconcile after settling: err %v, plan %+v, writes %d", err, rep.Plan.Summary(), w.fake.Writes()-before)
		}
		w.checkLostAreReported(rep, rounds)
		// A rotation cures every loss: afterwards every secret is held and
		// is the one the fake handed out, and nothing is left to do.
		if n := len(diff.Lost(rep.Plan.Custody)); n > 0 {
			if _, err := rp.rotate.Reconcile(ctx, w.cfg, false); err != nil {
				t.Errorf("rotating %d lost secrets: %v", n, err)
			}
			w.checkAllHeld(rp)
		}
		before = w.fake.Writes()
		if _, err := rp.r.Reconcile(ctx, w.cfg, false); err != nil || w.fake.Writes() != before {
			t.Errorf("reconcile after rotating: err %v, writes %d", err, w.fake.Writes()-before)
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

// TestChaosTwoDaemonsConverge runs two daemons (daemon.Run, each with its
// own reconciler, client and secrets directory, as two sidecar replicas
// would be) against one account at once, reconciling every few
// milliseconds under faults, until each has found the account already as
// desired. Then, with the faults off, more reconciles of both must make
// zero writes: no flapping.
func TestChaosTwoDaemonsConverge(t *testing.T) {
	master := seed(t)
	n := cases(4)
	extra := 3 * max(1, *flagLong)
	runCases(t, n, caseName, func(t *testing.T, i int) {
		c := genCase(master, "TestChaosTwoDaemonsConverge", i, true)
		w := newWorld(t, c)
		path := filepath.Join(t.TempDir(), "subscriptions.yaml")
		if err := os.WriteFile(path, []byte(c.yaml()), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var (
			recs []*recorder
			wg   sync.WaitGroup
		)
		for _, name := range []string{"a", "b"} {
			rec := &recorder{rp: w.replica(name)}
			recs = append(recs, rec)
			wg.Go(func() {
				err := daemon.Run(ctx, daemon.Options{
					Path:            path,
					Reconciler:      rec,
					Interval:        5 * time.Millisecond,
					Backoff:         func(int) time.Duration { return time.Millisecond },
					Jitter:          func(d time.Duration) time.Duration { return d },
					ShutdownTimeout: 10 * time.Second,
					Reload:          make(chan struct{}),
					Watch:           watch.Options{PollInterval: -1},
				})
				if err != nil {
					t.Errorf("daemon %s: %v", rec.rp.name, err)
				}
			})
		}
		// A reader that keeps looking at the secret files while the
		// daemons write them must never see half a secret.
		readerDone := make(chan struct{})
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				for _, r := range recs {
					w.checkSecretDir(r.rp, "while the daemons run", false)
				}
				select {
				case <-readerDone:
					return
				case <-tick.C:
				}
			}
		})
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				close(readerDone)
				wg.Wait()
				for _, r := range recs {
					w.checkSecretDir(r.rp, "after the daemons stopped", true)
				}
			}
		}
		defer func() {
			stop()
			var all []round
			for _, r := range recs {
				all = append(all, r.all()...)
			}
			w.finish(all)
		}()

		// Each daemon must find the account already as desired.
		if !eventually(30*time.Second, func() bool { return recs[0].quietRounds() > 0 && recs[1].quietRounds() > 0 }) {
			t.Errorf("within 30s, the daemons found the account as desired %d and %d times, want at least once each (%d and %d rounds)",
				recs[0].quietRounds(), recs[1].quietRounds(), len(recs[0].all()), len(recs[1].all()))
			return
		}

		// No flapping: with the faults off, more reconciles of both write
		// nothing and find nothing to do.
		w.fake.ClearFaults()
		before := w.fake.Writes()
		marks := []int{len(recs[0].all()), len(recs[1].all())}
		if !eventually(30*time.Second, func() bool {
			return len(recs[0].all()) > marks[0]+extra && len(recs[1].all()) > marks[1]+extra
		}) {
			t.Errorf("within 30s, the daemons did not reconcile %d more times each", extra)
		}
		stop()
		if got := w.fake.Writes() - before; got != 0 {
			t.Errorf("after both converged, the daemons made %d more writes, want 0", got)
		}
		for k, rec := range recs {
			// The first round after the mark may have started before the
			// faults were cleared; those after it must all be quiet.
			for _, rd := range rec.all()[marks[k]+1:] {
				if !rd.quiet() {
					t.Errorf("after converging: %s", rd)
				}
			}
		}
		w.checkAccount()
		w.checkSecrets([]*replica{recs[0].rp, recs[1].rp}, append(recs[0].all(), recs[1].all()...))
	})
}

// recorder is the daemon.Reconciler of one replica; it keeps every round.
type recorder struct {
	rp     *replica
	mu     sync.Mutex
	rounds []round
	quiet  int
}

func (r *recorder) Reconcile(ctx context.Context, cfg *config.Config, mode daemon.Mode) (daemon.Outcome, error) {
	rep, err := r.rp.r.ReconcileWith(ctx, cfg, reconcile.RunOptions{DryRun: mode.DryRun, HoldDeletes: mode.HoldDeletes})
	r.mu.Lock()
	rd := round{replica: r.rp.name, n: len(r.rounds) + 1, err: err, rep: rep}
	r.rounds = append(r.rounds, rd)
	if rd.quiet() {
		r.quiet++
	}
	r.mu.Unlock()
	out := daemon.Outcome{Planned: rep.Listed, Pending: rep.Pending(), Applied: map[diff.Action]int{}, Failed: map[diff.Action]int{}, HeldDeletes: rep.HeldDeletes}
	for a, n := range rep.Result.Applied {
		out.Applied[a] = n
	}
	for _, f := range rep.Result.Failures {
		out.Failed[f.Action]++
	}
	return out, err
}

func (r *recorder) all() []round {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]round(nil), r.rounds...)
}

func (r *recorder) quietRounds() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.quiet
}

// eventually polls cond until it holds or the deadline passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

func caseName(i int) string { return fmt.Sprintf("case-%d", i) }
