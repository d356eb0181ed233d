package leader

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/linq-sync/linq-sync/internal/kube"
	"github.com/linq-sync/linq-sync/internal/kubetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	os.Exit(kubetest.Main(m))
}

// Short timings so that takeovers happen within seconds. The margin between
// the renew deadline (when a leader that cannot renew stops) and the lease
// duration (when another may take over) is two seconds.
const (
	testLease = 4 * time.Second
	testRenew = 2 * time.Second
	testRetry = 500 * time.Millisecond
)

// workers counts the replicas running the leader's work, and remembers if
// two ever ran at once.
type workers struct {
	active  atomic.Int32
	overlap atomic.Bool
}

func (w *workers) work(ctx context.Context) {
	if w.active.Add(1) > 1 {
		w.overlap.Store(true)
	}
	<-ctx.Done()
	w.active.Add(-1)
}

// replica is one Elector running in the background.
type replica struct {
	e        *Elector
	cancel   context.CancelFunc
	done     chan struct{}
	started  atomic.Int32 // times OnStarted was called
	stopped  atomic.Int32 // times OnStopped was called
	runErr   error
	cut      *atomic.Bool  // when set, every API call fails as if the pod were gone
	loseNext *atomic.Bool  // when set, the next update is stored but its answer lost
	lost     chan struct{} // receives once that answer has been lost
	workCtxs chan context.Context
	observed chan string // leaders this replica observed
}

func startReplica(t *testing.T, cfg *rest.Config, ns string, w *workers) *replica {
	t.Helper()
	return startReplicaTimed(t, cfg, ns, w, testLease, testRenew, testRetry)
}

func startReplicaTimed(t *testing.T, cfg *rest.Config, ns string, w *workers, lease, renew, retry time.Duration) *replica {
	t.Helper()
	r := &replica{done: make(chan struct{}), cut: new(atomic.Bool), loseNext: new(atomic.Bool), lost: make(chan struct{}, 1), workCtxs: make(chan context.Context, 10), observed: make(chan string, 10)}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return cutTransport{rt, r.cut, r.loseNext, r.lost} }
	client, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r.e, err = New(Options{
		Client: client, Namespace: ns, Identity: id,
		LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry,
		OnStarted: func(ctx context.Context) {
			r.started.Add(1)
			r.workCtxs <- ctx
			w.work(ctx)
		},
		OnStopped: func() { r.stopped.Add(1) },
		Logger:    slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnNewLeader: func(id string) {
			select {
			case r.observed <- id:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.runErr = r.e.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// testLog writes an Elector's log lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type cutTransport struct {
	rt       http.RoundTripper
	cut      *atomic.Bool
	loseNext *atomic.Bool
	lost     chan<- struct{}
}

func (c cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("test: connection cut")
	}
	if req.Method == http.MethodPut && c.loseNext.CompareAndSwap(true, false) {
		resp, err := c.rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		// The answer is held back until the caller gives up on it.
		c.lost <- struct{}{}
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return c.rt.RoundTrip(req)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still not %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// electOne starts two replicas and waits until one leads; it returns the
// leader, the follower and the count of replicas doing the leader's work.
func electOne(t *testing.T, cfg *rest.Config, ns string) (leader, follower *replica, w *workers) {
	t.Helper()
	w = new(workers)
	a := startReplica(t, cfg, ns, w)
	b := startReplica(t, cfg, ns, w)
	eventually(t, 30*time.Second, "one leader", func() bool { return len(leaders(a, b)) == 1 })
	if b.e.IsLeader() {
		return b, a, w
	}
	return a, b, w
}

func leaders(rs ...*replica) []*replica {
	var out []*replica
	for _, r := range rs {
		if r.e.IsLeader() {
			out = append(out, r)
		}
	}
	return out
}

func holder(t *testing.T, c kubernetes.Interface, ns string) string {
	t.Helper()
	l, err := c.CoordinationV1().Leases(ns).Get(context.Background(), DefaultName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestTwoElectorsElectExactlyOneLeader(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	var w workers
	a := startReplica(t, srv.Config(kubetest.Admin), ns, &w)
	b := startReplica(t, srv.Config(kubetest.Admin), ns, &w)
	eventually(t, 30*time.Second, "one leader", func() bool { return len(leaders(a, b)) == 1 })
	l := leaders(a, b)[0]
	// Several renewals later there is still exactly that one leader.
	deadline := time.Now().Add(3 * testRetry)
	for time.Now().Before(deadline) {
		if got := leaders(a, b); len(got) != 1 || got[0] != l {
			t.Fatalf("leaders changed to %d replicas", len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, want := holder(t, srv.Client(t, kubetest.Admin), ns), l.e.Identity(); got != want {
		t.Errorf("lease holder = %q, want the leader %q", got, want)
	}
	if w.overlap.Load() {
		t.Error("two replicas ran the leader's work at once")
	}
	if n := a.started.Load() + b.started.Load(); n != 1 {
		t.Errorf("OnStarted called %d times, want 1", n)
	}
}

func TestCancelledLeaderReleasesAndTheOtherTakesOver(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	old, next, w := electOne(t, srv.Config(kubetest.Admin), ns)
	old.cancel()
	<-old.done
	if old.runErr != nil {
		t.Errorf("Run returned %v after cancel, want nil", old.runErr)
	}
	if old.stopped.Load() != 1 {
		t.Errorf("OnStopped called %d times on the old leader, want 1", old.stopped.Load())
	}
	// The lease was released, so the other takes over long before a lease
	// duration would have passed without renewals.
	eventually(t, 30*time.Second, "the other replica leading", next.e.IsLeader)
	if got, want := holder(t, srv.Client(t, kubetest.Admin), ns), next.e.Identity(); got != want {
		t.Errorf("lease holder = %q, want %q", got, want)
	}
	if w.overlap.Load() {
		t.Error("two replicas ran the leader's work at once")
	}
}

func TestLeaderCutOffStopsWorkAndIsTakenOver(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	old, next, w := electOne(t, srv.Config(kubetest.Admin), ns)
	workCtx := <-old.workCtxs
	// The leader can no longer reach the apiserver: it cannot renew nor
	// release, like a pod on a partitioned node.
	old.cut.Store(true)
	select {
	case <-workCtx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the cut-off leader's work context was never cancelled")
	}
	eventually(t, 30*time.Second, "the other replica leading", next.e.IsLeader)
	if old.e.IsLeader() {
		t.Error("the cut-off replica still reports itself leader")
	}
	if w.overlap.Load() {
		t.Error("two replicas ran the leader's work at once")
	}
	if got, want := holder(t, srv.Client(t, kubetest.Admin), ns), next.e.Identity(); got != want {
		t.Errorf("lease holder = %q, want %q", got, want)
	}
}

func TestLosingTheLeaseCancelsTheLeadersContextAndItCampaignsAgain(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	var w workers
	a := startReplica(t, srv.Config(kubetest.Admin), ns, &w)
	eventually(t, 30*time.Second, "leading", a.e.IsLeader)
	workCtx := <-a.workCtxs
	if term, ok := a.e.Term(); !ok || term != workCtx {
		t.Fatalf("Term() = %v, %v while leading; want OnStarted's context and true", term, ok)
	}

	// Another party takes the Lease over behind the leader's back; a
	// renewal between its read and its write is a conflict, read again.
	admin := srv.Client(t, kubetest.Admin)
	ctx := context.Background()
	intruder := "intruder"
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := admin.CoordinationV1().Leases(ns).Get(ctx, DefaultName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &intruder, LeaseDurationSeconds: l.Spec.LeaseDurationSeconds, AcquireTime: &now, RenewTime: &now}
		_, err = admin.CoordinationV1().Leases(ns).Update(ctx, l, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	select {
	case <-workCtx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the leader's work context was not cancelled after it lost the lease")
	}
	if a.e.IsLeader() {
		t.Error("IsLeader is still true after the work's context was cancelled")
	}
	if _, ok := a.e.Term(); ok {
		t.Error("Term still reports a term after the work's context was cancelled")
	}
	eventually(t, 5*time.Second, "OnStopped called", func() bool { return a.stopped.Load() == 1 })
	// The intruder never renews, so once its lease expires the replica,
	// which kept campaigning, leads again, in a new term.
	eventually(t, 30*time.Second, "leading again", a.e.IsLeader)
	if a.started.Load() != 2 {
		t.Errorf("OnStarted called %d times, want 2", a.started.Load())
	}
	if got := holder(t, admin, ns); got != a.e.Identity() {
		t.Errorf("lease holder = %q, want %q", got, a.e.Identity())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	// New makes no API calls: a client for an address nobody serves will do.
	client, err := kube.NewClient(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := Options{Client: client, Namespace: "ns", Identity: "me", OnStarted: func(context.Context) {}}
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"no client", func(o *Options) { o.Client = nil }, "no Kubernetes client"},
		{"no namespace", func(o *Options) { o.Namespace = "" }, "no namespace"},
		{"no identity", func(o *Options) { o.Identity = "" }, "no identity"},
		{"no work", func(o *Options) { o.OnStarted = nil }, "no OnStarted"},
		{"fractional lease", func(o *Options) { o.LeaseDuration = 15500 * time.Millisecond }, "whole seconds"},
		{"renew not shorter than lease", func(o *Options) { o.LeaseDuration = 10 * time.Second }, "longer than the renew deadline"},
		{"retry too long", func(o *Options) { o.RetryPeriod = 9 * time.Second }, "× the retry period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.modify(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	e, err := New(ok)
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if e.opts.Name != DefaultName || e.opts.LeaseDuration != DefaultLeaseDuration ||
		e.opts.RenewDeadline != DefaultRenewDeadline || e.opts.RetryPeriod != DefaultRetryPeriod {
		t.Errorf("defaults not applied: %+v", e.opts)
	}
}

func TestNewIdentity(t *testing.T) {
	t.Setenv("POD_NAME", "app-7d9f-xk2p")
	a, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIdentity()
	if !strings.HasPrefix(a, "app-7d9f-xk2p_") || len(a) != len("app-7d9f-xk2p_")+8 {
		t.Errorf("identity %q: want the pod name, an underscore and 8 hex digits", a)
	}
	if a == b {
		t.Errorf("two identities are both %q, want distinct suffixes", a)
	}
	t.Setenv("POD_NAME", "")
	host, _ := os.Hostname()
	c, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c, host+"_") {
		t.Errorf("identity without POD_NAME = %q, want the hostname %q and a suffix", c, host)
	}
}

func TestElectionNeedsOnlyTheShippedRole(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	srv.ApplyFile(t, ns, "../../deploy/kubernetes/rbac.yaml")
	cfg := srv.ServiceAccountConfig(t, ns, "linq-sync")
	old, next, w := electOne(t, cfg, ns)
	old.cancel()
	<-old.done
	eventually(t, 30*time.Second, "the other replica leading", next.e.IsLeader)
	if w.overlap.Load() {
		t.Error("two replicas ran the leader's work at once")
	}
}

func TestWithoutTheRoleTheLockErrorNamesThePermissionAndTheRole(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	c, err := kube.NewClient(srv.Config(kubetest.Limited))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{Client: c, Namespace: ns, Identity: "limited-1",
		LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry,
		OnStarted: func(ctx context.Context) { t.Error("a replica without the Role leads") }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.read(context.Background())
	for _, want := range []string{
		`User "limited" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "` + ns + `"`,
		"deploy/kubernetes/rbac.yaml",
	} {
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("Get the Lease without the Role: err = %v, want Forbidden containing %q", err, want)
		}
	}
}
