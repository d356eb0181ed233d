package crashtest

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/proctest"
)

// killMoments draws kills distinct counts of committed creates, in
// [1, n-5], at which to kill: seeded, so a failure can be replayed with
// -crash.seed.
func killMoments(seed uint64, kills, n int) []int {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ks := r.Perm(n - 5)[:min(kills, n-5)]
	for i := range ks {
		ks[i]++
	}
	slices.Sort(ks)
	return ks
}

// figures are what a crash suite reports.
type figures struct {
	lostPerKill []int // subscriptions newly reported lost after each kill
	recovered   int   // reported lost once, then held without a rotation
	lost        int   // lost after the last kill of the creates
	// rotateKills and lostInRotation are the kills during the rotation of
	// the lost secrets and the subscriptions they left lost.
	rotateKills, lostInRotation int
	// cured is the lost subscriptions replaced by rotation: every one
	// reported lost and not recovered.
	cured int
	// lastCreates is the creates of the run that rotated the rest.
	lastCreates int
}

func (f figures) log(t *testing.T, what string, began time.Time) {
	total := 0
	for _, n := range f.lostPerKill {
		total += n
	}
	t.Logf("%s: %d kills during creates, lost per kill %v (sum %d, %d still lost after the last kill, %d recovered without rotation); "+
		"%d kills during their rotation left %d lost; %d lost subscriptions cured by rotation (%d creates in the last run); in the end every secret held and equal to the fake's, silent losses 0, duplicates 0; wall time %s",
		what, len(f.lostPerKill), f.lostPerKill, total, f.lost, f.recovered, f.rotateKills, f.lostInRotation, f.cured, f.lastCreates, time.Since(began).Round(time.Millisecond))
}

// custodyLog follows, across kills, which names the plans report lost.
type custodyLog struct {
	lost map[string]string // name: id, as the last plan reported
	// everLost holds every subscription id reported lost and not
	// recovered since: rotation must replace each.
	everLost map[string]bool
}

func newCustodyLog() *custodyLog {
	return &custodyLog{lost: map[string]string{}, everLost: map[string]bool{}}
}

// update records a plan's findings: how many names are newly lost, and,
// of those reported lost before and held now, how many hold the secret of
// the same subscription (recovered: a complete secret left in a temporary
// file by the kill, moved into place at the next start) and how many of
// a new one (rotated).
func (c *custodyLog) update(acc account) (newly, recovered, rotated int) {
	for name, id := range acc.lost {
		if old, was := c.lost[name]; !was || old != id {
			newly++
		}
		c.lost[name] = id
		c.everLost[id] = true
	}
	for name, id := range c.lost {
		if _, still := acc.lost[name]; still {
			continue
		}
		switch acc.held[name] {
		case "":
		case id:
			recovered++
			delete(c.everLost, id)
		default:
			rotated++
		}
		delete(c.lost, name)
	}
	return newly, recovered, rotated
}

// killLoop starts the binary, kills it with SIGKILL once progress reaches
// each of moments, and checks custody after each kill with a plan. It
// returns the number newly lost after each kill and the number recovered.
func killLoop(t *testing.T, h *harness, cl *custodyLog, moments []int, progress func() int, start func() *proctest.Proc) (newly []int, recovered int) {
	for i, k := range moments {
		p := start()
		// A moment at or below the progress made already means "after
		// the next create".
		target := max(k, progress()+1)
		if !h.waitFor("creates to reach "+strconv.Itoa(target), func() bool { return progress() >= target || p.Exited() }) {
			t.FailNow()
		}
		if p.Exited() {
			t.Fatalf("kill %d: the process exited before %d creates (%v); stderr:\n%s", i+1, target, p.Err(), proctest.Tail(p.Stderr.String()))
		}
		p.Kill()
		h.quiesce()
		n, r, _ := cl.update(h.check("after kill " + strconv.Itoa(i+1)))
		newly, recovered = append(newly, n), recovered+r
		h.noSecretIn(p.Stderr.String())
		if t.Failed() {
			t.FailNow()
		}
	}
	return newly, recovered
}

// killCreatesAndRotations kills start at the drawn moments of the creates,
// then (after a complete run that must report the losses, done by
// complete) at moments of the rotation of the lost secrets, and checks
// that a last rotation leaves every secret held.
func killCreatesAndRotations(t *testing.T, h *harness, start func(rotate bool) *proctest.Proc, complete func(lost int), rotate func()) figures {
	var fig figures
	cl := newCustodyLog()
	fig.lostPerKill, fig.recovered = killLoop(t, h, cl, killMoments(*flagSeed, *flagKills, len(h.names)), h.fake.Len, func() *proctest.Proc { return start(false) })
	fig.lost = len(cl.lost)

	complete(len(cl.lost))
	n, r, _ := cl.update(h.check("after a complete run"))
	fig.recovered += r
	if n != 0 || len(cl.lost) != fig.lost-r {
		t.Errorf("after a complete run %d lost (%d new), want the %d lost by the kills", len(cl.lost), n, fig.lost)
	}
	if h.fake.Len() != len(h.names) {
		t.Errorf("%d subscriptions after a complete run, want %d", h.fake.Len(), len(h.names))
	}
	h.noTempFiles("after a complete run")

	// Rotations are killed too: each deletes, creates and stores.
	if len(cl.lost) > 5 && *flagRotateKills > 0 {
		base := h.creates()
		moments := killMoments(*flagSeed+1, *flagRotateKills, len(cl.lost))
		newly, r := killLoop(t, h, cl, moments, func() int { return h.creates() - base }, func() *proctest.Proc { return start(true) })
		fig.rotateKills, fig.recovered = len(newly), fig.recovered+r
		for _, n := range newly {
			fig.lostInRotation += n
		}
	}
	before := h.creates()
	rotate()
	fig.lastCreates = h.creates() - before
	acc := h.check("after rotation")
	if acc.subs != len(h.names) || len(acc.held) != len(h.names) || len(acc.lost) != 0 {
		t.Errorf("after rotation: %d subscriptions, %d held, %d lost; want %d, %d, 0", acc.subs, len(acc.held), len(acc.lost), len(h.names), len(h.names))
	}
	for id := range cl.everLost {
		if _, ok := h.fake.Get(id); ok {
			t.Errorf("the subscription %s whose secret was lost still exists after rotation", id)
		}
	}
	h.noTempFiles("after rotation")
	fig.cured = len(cl.everLost)
	return fig
}

func TestKillApplyNeverLosesASecretSilently(t *testing.T) {
	began := time.Now()
	h := newHarness(t, *flagSubs, 1)
	h.useDir(t.TempDir() + "/secrets")
	h.slowCreates(*flagDelay)
	maxDeletes := "--max-deletes=" + strconv.Itoa(len(h.names))
	fig := killCreatesAndRotations(t, h,
		func(rotate bool) *proctest.Proc {
			return h.start("apply", "--concurrency", "4", "--rotate-lost-secrets="+strconv.FormatBool(rotate), maxDeletes)
		},
		func(lost int) {
			// The apply that finishes the creates fails while a secret is
			// lost, and says how to cure it.
			out := h.run("apply", "--concurrency", "4")
			if want := min(lost, 1); out.Code != want {
				t.Errorf("apply with %d lost secrets exited %d, want %d; stderr:\n%s", lost, out.Code, want, proctest.Tail(out.Stderr))
			}
			if lost > 0 && !strings.Contains(out.Stderr, "--rotate-lost-secrets") {
				t.Errorf("apply did not print the cure; stderr:\n%s", proctest.Tail(out.Stderr))
			}
		},
		func() {
			if out := h.run("apply", "--concurrency", "4", "--rotate-lost-secrets", maxDeletes); out.Code != 0 {
				t.Fatalf("apply --rotate-lost-secrets exited %d; stderr:\n%s", out.Code, proctest.Tail(out.Stderr))
			}
		})
	fig.log(t, "apply", began)
}

func TestKillRunNeverLosesASecretSilently(t *testing.T) {
	began := time.Now()
	h := newHarness(t, *flagSubs, 2)
	h.useDir(t.TempDir() + "/secrets")
	h.slowCreates(*flagDelay)
	maxDeletes := "--max-deletes=" + strconv.Itoa(len(h.names))
	daemon := func(rotate bool) *proctest.Proc {
		return h.start("run", "--interval", "1s", "--listen", "127.0.0.1:0", "--concurrency", "4", "--rotate-lost-secrets="+strconv.FormatBool(rotate), maxDeletes)
	}
	fig := killCreatesAndRotations(t, h, daemon,
		func(lost int) {
			// After a restart, the daemon finishes the creates and reports
			// the lost secrets in its metrics, counting each loss once.
			p := daemon(false)
			addr := h.listenAddr(p)
			h.waitFor("the daemon to report every lost secret", func() bool {
				m := proctest.Scrape(addr)
				return m["linq_sync_reconcile_total"] > 0 && h.fake.Len() == len(h.names) && m["linq_sync_secrets_missing"] == float64(lost)
			})
			if got := proctest.Scrape(addr)["linq_sync_secrets_lost_total"]; got != float64(lost) {
				t.Errorf("linq_sync_secrets_lost_total = %v after restart, want %d", got, lost)
			}
			p.Stop(h.t, "the daemon")
		},
		func() {
			p := daemon(true)
			addr := h.listenAddr(p)
			h.waitFor("the daemon to rotate every lost secret", func() bool {
				m := proctest.Scrape(addr)
				return m["linq_sync_reconcile_total"] > 0 && m["linq_sync_secrets_missing"] == 0 && m["linq_sync_consecutive_failures"] == 0
			})
			p.Stop(h.t, "the daemon")
		})
	fig.log(t, "run", began)
}
