// Package leader elects one writer among several linq-sync replicas through a
// Kubernetes Lease, with client-go's tools/leaderelection.
//
// An Elector campaigns for the Lease until its context ends. While it leads,
// it runs Options.OnStarted with a context that is cancelled as soon as the
// lease is lost: at the latest one renew deadline after the last successful
// renewal, which is before any other replica can take the lease over (they
// wait a whole lease duration). OnStarted must return promptly once that
// context is done; only then is the lease released (when the Elector's own
// context ends) or campaigned for again (when the lease was lost), so two
// replicas never do the leader's work at once.
//
// It is not a lock for anything but cooperating linq-sync replicas, and it
// does not decide what the leader does: the caller's OnStarted does.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/linq-sync/linq-sync/internal/kube"
)

// Defaults for Options, the values Kubernetes' own components use.
const (
	DefaultName          = "linq-sync"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Options configure an Elector.
type Options struct {
	// Client talks to the apiserver. It needs get, create and update on
	// leases in Namespace, nothing else.
	Client kubernetes.Interface
	// Namespace and Name locate the Lease (Name defaults to DefaultName).
	Namespace, Name string
	// Identity is written into the Lease while this replica leads; it must be
	// unique among the replicas (NewIdentity makes one).
	Identity string
	// LeaseDuration is how long followers wait, without seeing the lease
	// renewed, before they take it over. RenewDeadline is how long the leader
	// keeps trying to renew before it gives up leading; RetryPeriod is the
	// interval between tries. Zero means the Default* value; client-go requires
	// LeaseDuration > RenewDeadline > 1.2 × RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnStarted runs the leader's work, in its own goroutine, each time this
	// replica becomes leader. Its context is cancelled when leadership ends;
	// it must then return promptly.
	OnStarted func(ctx context.Context)
	// OnStopped, if set, is called after OnStarted has returned.
	OnStopped func()
	// OnNewLeader, if set, is called with the identity of each leader this
	// replica observes, its own included.
	OnNewLeader func(identity string)
	// Logger receives the election's logs, client-go's included (nil: discard).
	Logger *slog.Logger
}

// Elector campaigns for one Lease. Create it with New and start it with Run.
type Elector struct {
	opts Options
	log  *slog.Logger
	work atomic.Pointer[context.Context] // the leader's work context, nil when following
	lock *trackedLock
}

// New checks opts and returns an Elector that has not started campaigning.
func New(opts Options) (*Elector, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.RenewDeadline == 0 {
		opts.RenewDeadline = DefaultRenewDeadline
	}
	if opts.RetryPeriod == 0 {
		opts.RetryPeriod = DefaultRetryPeriod
	}
	var errs []error
	if opts.Client == nil {
		errs = append(errs, errors.New("no Kubernetes client"))
	}
	if opts.Namespace == "" {
		errs = append(errs, errors.New("no namespace for the lease"))
	}
	if opts.Identity == "" {
		errs = append(errs, errors.New("no identity"))
	}
	if opts.OnStarted == nil {
		errs = append(errs, errors.New("no OnStarted callback"))
	}
	if opts.LeaseDuration%time.Second != 0 {
		// The Lease stores whole seconds.
		errs = append(errs, fmt.Errorf("lease duration %v: must be whole seconds", opts.LeaseDuration))
	}
	if opts.LeaseDuration <= opts.RenewDeadline {
		errs = append(errs, fmt.Errorf("lease duration %v: must be longer than the renew deadline %v", opts.LeaseDuration, opts.RenewDeadline))
	}
	if float64(opts.RenewDeadline) <= leaderelection.JitterFactor*float64(opts.RetryPeriod) {
		errs = append(errs, fmt.Errorf("renew deadline %v: must be longer than %v × the retry period %v", opts.RenewDeadline, leaderelection.JitterFactor, opts.RetryPeriod))
	}
	if opts.RetryPeriod < 0 {
		errs = append(errs, fmt.Errorf("retry period %v: must be positive", opts.RetryPeriod))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("lease", opts.Namespace+"/"+opts.Name, "identity", opts.Identity)
	e := &Elector{opts: opts, log: log}
	e.lock = &trackedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.Name},
		Client:     opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Identity},
		Labels:     map[string]string{"app.kubernetes.io/managed-by": "linq-sync"},
	}}
	return e, nil
}

// IsLeader reports whether this replica is leading now: OnStarted is running
// and its context has not been cancelled.
func (e *Elector) IsLeader() bool {
	ctx := e.work.Load()
	return ctx != nil && (*ctx).Err() == nil
}

// Term returns the context of the current leadership term and true while
// this replica leads, or false while it follows. The context is the one
// OnStarted got: cancelled the moment leadership ends. It fits
// daemon.LeaderOnly's lead function.
func (e *Elector) Term() (context.Context, bool) {
	ctx := e.work.Load()
	if ctx == nil || (*ctx).Err() != nil {
		return nil, false
	}
	return *ctx, true
}

// Identity returns the identity this Elector writes into the Lease.
func (e *Elector) Identity() string { return e.opts.Identity }

// Run campaigns until ctx is done. When this replica loses the lease it stops
// OnStarted, waits for it to return and campaigns again. When ctx is done it
// stops OnStarted, waits for it, and then releases the lease so that another
// replica takes over at once instead of after a lease duration. Run returns
// nil after ctx is done; it returns an error only for a configuration
// client-go rejects.
func (e *Elector) Run(ctx context.Context) error {
	for {
		if err := e.term(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		e.log.Warn("leader election: campaigning again after losing the lease")
	}
}

// term runs one client-go LeaderElector, from campaigning to losing the lease
// or ctx ending, and returns once the leader's work, if it started, has returned.
func (e *Elector) term(ctx context.Context) error {
	// client-go releases the lease as soon as its context ends, and cancels
	// the work's context only afterwards. Give it a context of its own, ended
	// only once the work has returned, so the lease outlives the work.
	elCtx, elCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer elCancel()
	elCtx = klog.NewContext(elCtx, logr.FromSlogHandler(e.log.Handler()))

	var (
		mu       sync.Mutex
		over     bool               // the term has ended: work must not start
		stop     context.CancelFunc // cancels the work, once started
		workDone chan struct{}      // closed when the work has returned
	)
	end := func() {
		mu.Lock()
		over = true
		s, d := stop, workDone
		mu.Unlock()
		if s != nil {
			s()
			<-d
		}
	}

	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            e.lock,
		Name:            e.opts.Name,
		LeaseDuration:   e.opts.LeaseDuration,
		RenewDeadline:   e.opts.RenewDeadline,
		RetryPeriod:     e.opts.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leCtx context.Context) {
				mu.Lock()
				if over {
					mu.Unlock()
					return
				}
				workCtx, cancel := context.WithCancel(leCtx)
				stop, workDone = cancel, make(chan struct{})
				done := workDone
				mu.Unlock()
				defer close(done)
				e.lead(workCtx, cancel)
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				if identity != e.opts.Identity {
					e.log.Info("leader election: following", "leader", identity)
				}
				if e.opts.OnNewLeader != nil {
					e.opts.OnNewLeader(identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}

	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		le.Run(elCtx)
	}()
	select {
	case <-ctx.Done():
		end()      // stop the work and wait for it,
		elCancel() // then let client-go release the lease,
		<-runDone  // and wait until it has.
	case <-runDone:
		// client-go gave up the lease (it could not renew in time).
		end()
	}
	return nil
}

// lead runs the leader's work with ctx, cancelling it when the lease has not
// been renewed for a renew deadline, however long client-go takes to notice.
func (e *Elector) lead(ctx context.Context, cancel context.CancelFunc) {
	e.log.Info("leader election: leading")
	e.work.Store(&ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		e.watchRenewals(ctx, cancel)
	}()
	e.opts.OnStarted(ctx)
	cancel()
	e.work.Store(nil)
	<-watchDone
	e.log.Warn("leader election: stopped leading")
	if e.opts.OnStopped != nil {
		e.opts.OnStopped()
	}
}

// watchRenewals cancels the leader's work once RenewDeadline has passed since
// the last successful renewal, or stops when ctx is done.
func (e *Elector) watchRenewals(ctx context.Context, cancel context.CancelFunc) {
	for {
		due := e.lock.lastRenew().Add(e.opts.RenewDeadline)
		t := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if !e.lock.lastRenew().Add(e.opts.RenewDeadline).After(time.Now()) {
			e.log.Warn("leader election: lease not renewed within the renew deadline; stopping the leader's work", "renew_deadline", e.opts.RenewDeadline)
			cancel()
			return
		}
	}
}

// trackedLock is the Lease lock, noting when this replica last wrote itself
// into the Lease as holder: a renewal. Its Forbidden errors, which client-go
// logs at every try, say where the missing permissions are granted.
type trackedLock struct {
	resourcelock.Interface
	mu      sync.Mutex
	renewed time.Time
}

func (l *trackedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	r, raw, err := l.Interface.Get(ctx)
	return r, raw, kube.ExplainForbidden(err)
}

func (l *trackedLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Create(ctx, r)
	l.note(start, r, err)
	return kube.ExplainForbidden(err)
}

func (l *trackedLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Update(ctx, r)
	l.note(start, r, err)
	return kube.ExplainForbidden(err)
}

// note records a successful write naming this replica. The time is taken
// before the call: the others measure the lease from when they see the
// write, which is no earlier than that.
func (l *trackedLock) note(start time.Time, r resourcelock.LeaderElectionRecord, err error) {
	if err != nil || r.HolderIdentity != l.Identity() {
		return
	}
	l.mu.Lock()
	l.renewed = start
	l.mu.Unlock()
}

func (l *trackedLock) lastRenew() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewed
}

// NewIdentity returns a replica identity: the pod's name (the POD_NAME
// environment variable, set from the downward API) or else the hostname,
// plus a random suffix, so a restarted pod never mistakes the previous
// holder's record for its own.
func NewIdentity() (string, error) {
	base := os.Getenv("POD_NAME")
	if base == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("leader election identity: %w", err)
		}
		base = h
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	return base + "_" + hex.EncodeToString(b[:]), nil
}

// Term has the shape of daemon.LeaderOnly's lead function.
var _ func() (context.Context, bool) = (*Elector)(nil).Term
