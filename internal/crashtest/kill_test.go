package crashtest

import (
	"bufio"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
	lostPerKill []int
	recovered   int // reported lost by one plan, held by a later one without rotation
	lost        int // lost after the last kill, before rotation
	rotated     int // cured by rotation
}

func (f figures) log(t *testing.T, what string, began time.Time) {
	total := 0
	for _, n := range f.lostPerKill {
		total += n
	}
	t.Logf("%s: %d kills, lost per kill %v (sum %d), still lost after the last kill %d, recovered without rotation %d, cured by rotation %d, silent losses 0, duplicates 0, wall time %s",
		what, len(f.lostPerKill), f.lostPerKill, total, f.lost, f.recovered, f.rotated, time.Since(began).Round(time.Millisecond))
}

// killLoop starts the binary, kills it with SIGKILL once the fake has
// committed each drawn number of creates, and checks custody after each
// kill with a plan. It returns the names lost after the last kill.
func killLoop(t *testing.T, h *harness, fig *figures, start func() *started) map[string]string {
	n := len(h.names)
	lost := map[string]string{}
	for i, k := range killMoments(*flagSeed, *flagKills, n) {
		p := start()
		// A kill moment at or below what is committed already means "after
		// the next create".
		target := max(k, h.fake.Len()+1)
		if !h.waitFor("creates to reach "+strconv.Itoa(target), func() bool { return h.fake.Len() >= target || p.exited() }) {
			t.FailNow()
		}
		if p.exited() {
			t.Fatalf("kill %d: the process exited before %d creates (%v); stderr:\n%s", i+1, target, p.err, tail(p.stderr.String()))
		}
		p.kill()
		h.quiesce()
		acc := h.check("after kill " + strconv.Itoa(i+1))
		newly := 0
		for name, id := range acc.lost {
			if _, was := lost[name]; !was {
				newly++
			}
			lost[name] = id
		}
		for name := range lost {
			if _, still := acc.lost[name]; !still && acc.held[name] {
				fig.recovered++
				delete(lost, name)
			}
		}
		fig.lostPerKill = append(fig.lostPerKill, newly)
		h.noSecretIn(p.stderr.String())
		if t.Failed() {
			t.FailNow()
		}
	}
	fig.lost = len(lost)
	return lost
}

// finalChecks verifies the end state after rotation: every entry on the
// server once, every secret held and equal to the fake's, the lost
// subscriptions replaced, no temporary file.
func finalChecks(t *testing.T, h *harness, lost map[string]string) {
	acc := h.check("after rotation")
	if acc.subs != len(h.names) || len(acc.held) != len(h.names) || len(acc.lost) != 0 {
		t.Errorf("after rotation: %d subscriptions, %d held, %d lost; want %d, %d, 0", acc.subs, len(acc.held), len(acc.lost), len(h.names), len(h.names))
	}
	for name, id := range lost {
		if _, ok := h.fake.Get(id); ok {
			t.Errorf("%s: the subscription %s whose secret was lost still exists after rotation", name, id)
		}
	}
	h.noTempFiles("after rotation")
}

func TestKillApplyNeverLosesASecretSilently(t *testing.T) {
	began := time.Now()
	h := newHarness(t, *flagSubs, 1)
	h.useDir(t.TempDir() + "/secrets")
	h.slowCreates(*flagDelay)
	var fig figures
	lost := killLoop(t, h, &fig, func() *started { return h.start("apply", "--concurrency", "4") })

	// The next apply creates the rest and fails while a secret is lost.
	out := h.run("apply", "--concurrency", "4")
	acc := h.check("after the apply that finishes")
	if acc.subs != len(h.names) {
		t.Errorf("%d subscriptions after a complete apply, want %d", acc.subs, len(h.names))
	}
	if len(acc.lost) != len(lost) {
		t.Errorf("after a complete apply %d lost, want the %d lost by the kills", len(acc.lost), len(lost))
	}
	if want := min(len(lost), 1); out.code != want {
		t.Errorf("apply with %d lost secrets exited %d, want %d; stderr:\n%s", len(lost), out.code, want, tail(out.stderr))
	}
	if len(lost) > 0 && !strings.Contains(out.stderr, "--rotate-lost-secrets") {
		t.Errorf("apply did not print the cure; stderr:\n%s", tail(out.stderr))
	}
	h.noTempFiles("after a complete apply")

	out = h.run("apply", "--concurrency", "4", "--rotate-lost-secrets", "--max-deletes", strconv.Itoa(len(h.names)))
	if out.code != 0 {
		t.Fatalf("apply --rotate-lost-secrets exited %d; stderr:\n%s", out.code, tail(out.stderr))
	}
	fig.rotated = len(lost)
	finalChecks(t, h, lost)
	fig.log(t, "apply", began)
}

func TestKillRunNeverLosesASecretSilently(t *testing.T) {
	began := time.Now()
	h := newHarness(t, *flagSubs, 2)
	h.useDir(t.TempDir() + "/secrets")
	h.slowCreates(*flagDelay)
	daemon := func(extra ...string) *started {
		return h.start("run", append([]string{"--interval", "1s", "--listen", "127.0.0.1:0", "--concurrency", "4"}, extra...)...)
	}
	var fig figures
	lost := killLoop(t, h, &fig, func() *started { return daemon() })

	// After a restart, the daemon finishes the creates and reports the
	// lost secrets in its metrics.
	p := daemon()
	addr := h.listenAddr(p)
	h.waitFor("the daemon to report every lost secret", func() bool {
		m := scrape(addr)
		return m["linq_sync_reconcile_total"] > 0 && h.fake.Len() == len(h.names) && m["linq_sync_secrets_missing"] == float64(len(lost))
	})
	// The restarted daemon counts each loss it finds once.
	if got := scrape(addr)["linq_sync_secrets_lost_total"]; got != float64(len(lost)) {
		t.Errorf("linq_sync_secrets_lost_total = %v after restart, want %d", got, len(lost))
	}
	h.stop(p)
	acc := h.check("after the daemon finished")
	if acc.subs != len(h.names) || len(acc.lost) != len(lost) {
		t.Errorf("after the daemon finished: %d subscriptions, %d lost; want %d, %d", acc.subs, len(acc.lost), len(h.names), len(lost))
	}

	p = daemon("--rotate-lost-secrets", "--max-deletes", strconv.Itoa(len(h.names)))
	addr = h.listenAddr(p)
	h.waitFor("the daemon to rotate every lost secret", func() bool {
		m := scrape(addr)
		return m["linq_sync_reconcile_total"] > 0 && m["linq_sync_secrets_missing"] == 0 && m["linq_sync_consecutive_failures"] == 0
	})
	h.stop(p)
	fig.rotated = len(lost)
	finalChecks(t, h, lost)
	fig.log(t, "run", began)
}

// scrape reads the daemon's /metrics, summing each metric over its
// labels; nil maps read as 0 when it cannot be reached yet.
func scrape(addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		v, err := strconv.ParseFloat(value, 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}
