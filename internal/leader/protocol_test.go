package leader

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/linq-sync/linq-sync/internal/kubetest"
)

func getLease(t *testing.T, c kubernetes.Interface, ns string) *coordinationv1.Lease {
	t.Helper()
	l, err := c.CoordinationV1().Leases(ns).Get(context.Background(), DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	return l
}

// never fails the test if cond holds at any poll during d.
func never(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			t.Fatal(what)
		}
	}
}

// oneLeader starts one replica in a new namespace and waits until it leads.
func oneLeader(t *testing.T) (srv *kubetest.Server, ns string, admin kubernetes.Interface, a *replica, w *workers) {
	t.Helper()
	srv = kubetest.Shared(t)
	ns = srv.Namespace(t)
	admin = srv.Client(t, kubetest.Admin)
	w = new(workers)
	a = startReplica(t, srv.Config(kubetest.Admin), ns, w)
	eventually(t, 30*time.Second, "leading", a.e.IsLeader)
	return srv, ns, admin, a, w
}

func TestTheLeaseRecordIsWrittenAsClientGoWritesIt(t *testing.T) {
	srv, ns, admin, a, w := oneLeader(t)
	first := getLease(t, admin, ns)
	s := first.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity != a.e.Identity() || s.LeaseDurationSeconds == nil || *s.LeaseDurationSeconds != int32(testLease/time.Second) ||
		s.AcquireTime == nil || s.RenewTime == nil || s.LeaseTransitions == nil || *s.LeaseTransitions != 0 {
		t.Fatalf("lease spec after the first acquire: %+v", s)
	}
	if first.Labels["app.kubernetes.io/managed-by"] != "linq-sync" {
		t.Errorf("lease labels = %v, want app.kubernetes.io/managed-by=linq-sync", first.Labels)
	}
	// Renewals move renewTime and keep acquireTime.
	eventually(t, 10*time.Second, "a renewal", func() bool {
		return getLease(t, admin, ns).Spec.RenewTime.After(first.Spec.RenewTime.Time)
	})
	renewed := getLease(t, admin, ns).Spec
	if !renewed.AcquireTime.Equal(first.Spec.AcquireTime) || *renewed.LeaseTransitions != 0 {
		t.Errorf("after a renewal: acquireTime %v (was %v), transitions %d; want both kept", renewed.AcquireTime, first.Spec.AcquireTime, *renewed.LeaseTransitions)
	}

	// Releasing leaves no holder and a one-second duration.
	a.cancel()
	<-a.done
	released := getLease(t, admin, ns).Spec
	if released.HolderIdentity == nil || *released.HolderIdentity != "" || *released.LeaseDurationSeconds != 1 || *released.LeaseTransitions != 0 {
		t.Fatalf("released lease spec: holder %v, duration %v, transitions %v; want \"\", 1 and 0", released.HolderIdentity, *released.LeaseDurationSeconds, *released.LeaseTransitions)
	}

	// The next holder counts a transition and has an acquireTime of its own.
	b := startReplica(t, srv.Config(kubetest.Admin), ns, w)
	eventually(t, 30*time.Second, "the next replica leading", b.e.IsLeader)
	next := getLease(t, admin, ns).Spec
	if *next.HolderIdentity != b.e.Identity() || *next.LeaseTransitions != 1 || !next.AcquireTime.After(first.Spec.AcquireTime.Time) {
		t.Errorf("after a takeover: holder %q transitions %d acquireTime %v; want %q, 1 and later than %v",
			*next.HolderIdentity, *next.LeaseTransitions, next.AcquireTime, b.e.Identity(), first.Spec.AcquireTime)
	}
}

// goElector runs client-go's own LeaderElector on the same Lease: a replica
// of an older linq-sync, which used it, during a rolling upgrade.
type goElector struct {
	leading atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func startClientGoElector(t *testing.T, c kubernetes.Interface, ns, id string, w *workers) *goElector {
	t.Helper()
	g := &goElector{done: make(chan struct{})}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: DefaultName},
			Client:     c.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				g.leading.Store(true)
				w.work(ctx)
				g.leading.Store(false)
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() {
		defer close(g.done)
		le.Run(ctx)
		g.leading.Store(false)
	}()
	t.Cleanup(func() { cancel(); <-g.done })
	return g
}

func TestElectsAlongsideClientGosLeaderElector(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	var w workers
	old := startClientGoElector(t, srv.Client(t, kubetest.Admin), ns, "old-linq-sync", &w)
	eventually(t, 30*time.Second, "client-go's elector leading", old.leading.Load)
	ours := startReplica(t, srv.Config(kubetest.Admin), ns, &w)
	// Ours follows while the old replica renews.
	select {
	case id := <-ours.observed:
		if id != "old-linq-sync" {
			t.Fatalf("observed leader %q, want old-linq-sync", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("our replica did not observe the old leader")
	}
	never(t, 3*testRetry, "our replica leads while client-go's holds the lease", ours.e.IsLeader)
	// The old replica stops and releases; ours takes over at its next try.
	old.cancel()
	<-old.done
	eventually(t, testLease, "our replica leading after the release", ours.e.IsLeader)

	// And the other way round: a client-go elector follows ours, then takes
	// over once ours releases.
	other := startClientGoElector(t, srv.Client(t, kubetest.Admin), ns, "other-old", &w)
	never(t, 3*testRetry, "client-go's elector leads while ours holds the lease", other.leading.Load)
	ours.cancel()
	<-ours.done
	eventually(t, testLease, "client-go's elector leading after ours released", other.leading.Load)
	if w.overlap.Load() {
		t.Error("two replicas ran the leader's work at once")
	}
}

func TestReleasesALeaseRenewedByAnUpdateWhoseAnswerWasLost(t *testing.T) {
	_, ns, admin, a, _ := oneLeader(t)
	before := getLease(t, admin, ns).Spec.RenewTime.Time
	// The next renewal is stored, but the replica is stopped before the
	// answer arrives: the Lease it last saw is stale. It must still release
	// the lease.
	a.loseNext.Store(true)
	select {
	case <-a.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("no renewal within 10 s")
	}
	if got := getLease(t, admin, ns).Spec.RenewTime.Time; !got.After(before) {
		t.Fatalf("renewTime %v, want the lost renewal stored (after %v)", got, before)
	}
	a.cancel()
	<-a.done
	if got := getLease(t, admin, ns).Spec; got.HolderIdentity == nil || *got.HolderIdentity != "" {
		t.Errorf("lease holder after stopping = %v, want released (\"\")", got.HolderIdentity)
	}
}
