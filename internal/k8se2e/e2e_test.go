package k8se2e

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/kubetest"
	"github.com/linq-sync/linq-sync/internal/proctest"
)

var (
	flagSubs      = flag.Int("k8se2e.subs", 20, "subscriptions in the file")
	flagTakeovers = flag.Int("k8se2e.takeovers", 1, "kill -9 takeovers TestKilledLeaderIsReplaced measures (it logs their median)")
)

// startReplicas starts n replicas, each once it serves its metrics.
func (c *cluster) startReplicas(n int, args ...string) []*replica {
	c.t.Helper()
	var rs []*replica
	for i := range n {
		rs = append(rs, c.startReplica(fmt.Sprintf("replica-%d", i), args...))
	}
	return rs
}

// waitLeader waits until exactly one live replica reports leading and
// returns it.
func waitLeader(t *testing.T, rs []*replica) *replica {
	t.Helper()
	var lead []*replica
	if !waitFor(t, "one leader", func() bool {
		var all bool
		lead, all = leaders(rs)
		return all && len(lead) == 1
	}) {
		t.FailNow()
	}
	return lead[0]
}

// waitReconciles waits until r has finished n more reconciles: with
// --interval 1s, every replica has had as many chances to call the API.
func waitReconciles(t *testing.T, r *replica, n int) {
	t.Helper()
	base := r.metrics()["linq_sync_reconcile_total"]
	waitFor(t, fmt.Sprintf("%s to reconcile %d more times", r.name, n), func() bool {
		return r.metrics()["linq_sync_reconcile_total"] >= base+float64(n)
	})
}

func TestThreeReplicasElectOneWriter(t *testing.T) {
	c := newCluster(t, *flagSubs)
	began := time.Now()
	rs := c.startReplicas(3)
	lead := waitLeader(t, rs)
	elected := time.Since(began)
	waitFor(t, "the leader to create every subscription", func() bool {
		m := lead.metrics()
		return c.fake.Len() == len(c.names) && m["linq_sync_reconcile_total"] > 0 && m["linq_sync_drift_subscriptions"] == 0
	})
	converged := time.Since(began)
	// A few more rounds, in which the followers' loops run too.
	waitReconciles(t, lead, 3)

	if got, all := leaders(rs); !all || len(got) != 1 || got[0] != lead {
		t.Errorf("leaders after convergence: %d (all answered: %v), want only %s", len(got), all, lead.name)
	}
	if got := c.creates(); got != len(c.names) {
		t.Errorf("%d creates, want one per subscription (%d)", got, len(c.names))
	}
	c.checkConverged("three replicas")
	var calls []string
	for _, r := range rs {
		calls = append(calls, fmt.Sprintf("%s=%d", r.name, r.front.calls.Load()))
		m := r.metrics()
		switch {
		case r == lead:
			if r.front.calls.Load() == 0 {
				t.Errorf("the leader %s made no API call", r.name)
			}
			if m["linq_sync_secrets_missing"] != 0 {
				t.Errorf("the leader reports %v secrets missing, want 0", m["linq_sync_secrets_missing"])
			}
		default:
			if n := r.front.calls.Load(); n != 0 {
				t.Errorf("follower %s made %d API calls, want 0", r.name, n)
			}
			if m["linq_sync_leader"] != 0 {
				t.Errorf("follower %s reports linq_sync_leader %v", r.name, m["linq_sync_leader"])
			}
		}
	}
	t.Logf("three replicas, %d subscriptions: leader %s elected %v after start, converged after %v; API calls per replica %s; creates %d",
		len(c.names), lead.name, elected.Round(10*time.Millisecond), converged.Round(10*time.Millisecond), strings.Join(calls, " "), c.creates())
	for _, r := range rs {
		r.Stop(t, r.name)
	}
}

// lostAfterKill returns the names whose Secret holds an intent to create
// (written before the call) but no signing secret, while the fake holds a
// subscription for them: the creates the killed leader made and never
// heard the answer of.
func (c *cluster) lostAfterKill() map[string]string {
	c.t.Helper()
	secs := c.secrets()
	lost := map[string]string{}
	for _, s := range c.fake.Snapshot() {
		name := c.file.ByURL[s.TargetURL]
		if sec, ok := secs[name]; ok && len(sec.Data["signing_secret"]) == 0 {
			lost[name] = s.ID
		}
	}
	return lost
}

func TestKilledLeaderIsReplacedAndItsLostSecretsAreRotated(t *testing.T) {
	c := newCluster(t, *flagSubs)
	// Every create's answer is held back after it commits, so that a kill
	// during the creates loses the answers in flight.
	c.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatencyAfter, Method: http.MethodPost, Route: fakeapi.RouteSubscriptions, Delay: 400 * time.Millisecond})
	rs := c.startReplicas(3, "--concurrency", "4")
	lead := waitLeader(t, rs)
	if !waitFor(t, "the leader to commit 5 creates", func() bool { return c.fake.Len() >= 5 || lead.Exited() }) {
		t.FailNow()
	}
	lead.Kill()
	killed := time.Now()
	waitFor(t, "the killed leader's calls to end", func() bool { return lead.front.conns.Load() == 0 })
	before := map[string]bool{} // the subscriptions committed before the kill
	for _, s := range c.fake.Snapshot() {
		before[s.ID] = true
	}
	rest := slices.DeleteFunc(slices.Clone(rs), func(r *replica) bool { return r == lead })

	next := waitLeader(t, rest)
	takeover := time.Since(killed)
	waitFor(t, "the new leader to create the rest", func() bool {
		m := next.metrics()
		return c.fake.Len() == len(c.names) && m["linq_sync_reconcile_total"] > 0 && m["linq_sync_drift_subscriptions"] == 0
	})
	// Lost: created by the killed leader, which never heard the answer,
	// so that its Secret holds the intent written before the call and no
	// signing secret. Read once the new leader has finished, when no
	// write of the killed one can still be landing.
	lostByKill := c.lostAfterKill()
	for name, id := range lostByKill {
		if !before[id] {
			t.Errorf("%s (%s), created by the new leader, has no signing secret", name, id)
		}
	}
	if len(lostByKill) == 0 {
		t.Errorf("the kill after %d commits lost no answer: the test did not kill during creates", len(before))
	}
	if got := next.metrics()["linq_sync_secrets_missing"]; got != float64(len(lostByKill)) {
		t.Errorf("the new leader reports linq_sync_secrets_missing %v, want the %d lost by the kill", got, len(lostByKill))
	}
	if got := c.creates(); got != len(c.names) {
		t.Errorf("%d creates, want one per subscription (%d): a create was repeated across the handover", got, len(c.names))
	}
	// plan, read-only, reports the same losses from the Secrets alone.
	out := c.run(c.kcfg, c.newFront().srv.URL, "plan", "-o", "json")
	if out.Code != 2 {
		t.Errorf("plan with %d lost secrets exited %d, want 2; stderr:\n%s", len(lostByKill), out.Code, proctest.Tail(out.Stderr))
	}
	var doc struct {
		Custody []struct{ Name, ID, Secret string } `json:"custody"`
	}
	if err := json.Unmarshal([]byte(out.Stdout), &doc); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out.Stdout)
	}
	planLost := map[string]string{}
	for _, e := range doc.Custody {
		if e.Secret == "lost" {
			planLost[e.Name] = e.ID
		}
	}
	if !maps.Equal(planLost, lostByKill) {
		t.Errorf("plan -o json reports lost %v, want %v", planLost, lostByKill)
	}
	for _, r := range rest {
		if r != next && r.front.calls.Load() != 0 {
			t.Errorf("follower %s made %d API calls", r.name, r.front.calls.Load())
		}
	}
	var calls []string
	for _, r := range rs {
		calls = append(calls, fmt.Sprintf("%s=%d", r.name, r.front.calls.Load()))
	}
	t.Logf("kill -9 of the leader %s after %d of %d creates committed: %d answers lost; new leader %s after %v (lease %v + interval %v = %v); API calls per replica %s",
		lead.name, len(before), len(c.names), len(lostByKill), next.name, takeover.Round(10*time.Millisecond), leaseDuration, interval, leaseDuration+interval, strings.Join(calls, " "))

	// A rolling update to --rotate-lost-secrets: the replicas are replaced
	// one at a time, and whichever leads rotates what the killed one lost.
	maxDeletes := fmt.Sprintf("--max-deletes=%d", len(c.names))
	var fresh []*replica
	for i, r := range rest {
		r.Stop(t, r.name)
		fresh = append(fresh, c.startReplica(fmt.Sprintf("rotating-%d", i), "--rotate-lost-secrets", maxDeletes))
	}
	rot := waitLeader(t, fresh)
	waitFor(t, "the leader to rotate every lost secret", func() bool {
		m := rot.metrics()
		return c.fake.Len() == len(c.names) && m["linq_sync_secrets_missing"] == 0 &&
			m["linq_sync_drift_subscriptions"] == 0 && m["linq_sync_consecutive_failures"] == 0 && m["linq_sync_reconcile_total"] > 0
	})
	for name, id := range lostByKill {
		if _, ok := c.fake.Get(id); ok {
			t.Errorf("%s: subscription %s, whose secret was lost, still exists after rotation", name, id)
		}
	}
	if got, want := c.creates(), len(c.names)+len(lostByKill); got != want {
		t.Errorf("%d creates after rotation, want %d (one per subscription and one per lost secret)", got, want)
	}
	c.checkConverged("after rotation")

	// More takeovers, of a converged account, to measure them: each kills
	// the leader and starts a replica in its place.
	times := []time.Duration{takeover}
	for i := 1; i < *flagTakeovers; i++ {
		lead := waitLeader(t, fresh)
		lead.Kill()
		killed := time.Now()
		fresh = slices.DeleteFunc(fresh, func(r *replica) bool { return r == lead })
		fresh = append(fresh, c.startReplica(fmt.Sprintf("replacement-%d", i)))
		waitLeader(t, fresh)
		times = append(times, time.Since(killed))
	}
	slices.Sort(times)
	t.Logf("takeover after kill -9 (lease %v, renew %v, retry %v): median %v of %d, min %v, max %v",
		leaseDuration, renewDeadline, retryPeriod, times[len(times)/2].Round(10*time.Millisecond), len(times),
		times[0].Round(10*time.Millisecond), times[len(times)-1].Round(10*time.Millisecond))
	if got := c.creates(); got != len(c.names)+len(lostByKill) {
		t.Errorf("%d creates after the takeovers of a converged account, want %d", got, len(c.names)+len(lostByKill))
	}
	for _, r := range fresh {
		r.Stop(t, r.name)
	}
}

func TestTokenWithoutTheRoleIsToldWhatIsMissing(t *testing.T) {
	c := newCluster(t, 2)
	limited := kubetest.WriteKubeconfig(t, c.srv.Config(kubetest.Limited))
	f := c.newFront()

	out := c.run(limited, f.srv.URL, "plan")
	for _, want := range []string{`cannot list resource "secrets" in API group "" in the namespace "` + c.ns + `"`, "deploy/kubernetes/rbac.yaml"} {
		if out.Code == 0 || !strings.Contains(out.Stderr, want) {
			t.Errorf("plan as a user without the Role exited %d, want an error containing %q; stderr:\n%s", out.Code, want, proctest.Tail(out.Stderr))
		}
	}

	// The secret store alone is allowed: the election must say what it lacks.
	role := `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: secrets-only}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: secrets-only}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: secrets-only}
subjects:
  - {kind: User, name: limited}
`
	c.applyYAML(role)
	f = c.newFront()
	c.runUntil(limited, f.srv.URL, `cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "`+c.ns+`" (the Role in deploy/kubernetes/rbac.yaml grants what linq-sync needs)`,
		"run", "--leader-elect", "--leader-elect-namespace", c.ns, "--listen", "")
	if f.calls.Load() != 0 {
		t.Errorf("a replica that cannot take the lease made %d API calls", f.calls.Load())
	}
}
