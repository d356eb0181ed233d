// Package leader elects one writer among several linq-sync replicas through a
// Kubernetes Lease.
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
// The protocol is client-go's tools/leaderelection, record for record, so
// that a Lease looks the same to kubectl and to other tools: holderIdentity,
// leaseDurationSeconds, acquireTime, renewTime and leaseTransitions, written
// with optimistic concurrency (an update based on a stale read is refused).
// As there, no replica compares its clock with another's: a follower
// measures the lease from the moment it saw the record change. It is
// written here, over the lean kube.Client, because importing client-go's
// package links the informers of every API group into the binary.
//
// It is not a lock for anything but cooperating linq-sync replicas, and it
// does not decide what the leader does: the caller's OnStarted does.
package leader

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/linq-sync/linq-sync/internal/kube"
)

// Defaults for Options, the values Kubernetes' own components use.
const (
	DefaultName          = "linq-sync"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// JitterFactor spreads the tries of followers: each waits between one and
// 1 + JitterFactor retry periods, as client-go's do.
const JitterFactor = 1.2

// Options configure an Elector.
type Options struct {
	// Client talks to the apiserver. It needs get, create and update on
	// leases in Namespace, nothing else.
	Client *kube.Client
	// Namespace and Name locate the Lease (Name defaults to DefaultName).
	Namespace, Name string
	// Identity is written into the Lease while this replica leads; it must be
	// unique among the replicas (NewIdentity makes one).
	Identity string
	// LeaseDuration is how long followers wait, without seeing the lease
	// renewed, before they take it over. RenewDeadline is how long the leader
	// keeps trying to renew before it gives up leading; RetryPeriod is the
	// interval between tries. Zero means the Default* value; as in client-go,
	// LeaseDuration > RenewDeadline > JitterFactor × RetryPeriod.
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
	// Logger receives the election's logs (nil: discard).
	Logger *slog.Logger
}

// Elector campaigns for one Lease. Create it with New and start it with Run.
type Elector struct {
	opts   Options
	log    *slog.Logger
	work   atomic.Pointer[context.Context] // the leader's work context, nil when following
	leases kube.Leases

	// What this replica last saw of the Lease, and when (its own clock).
	// Only the campaigning goroutine touches these.
	current    *kube.Lease // as last read or written, to base updates on
	observed   []byte      // its spec, to tell a change from a re-read
	observedAt time.Time
	reported   string // the holder last passed to OnNewLeader
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
	if float64(opts.RenewDeadline) <= JitterFactor*float64(opts.RetryPeriod) {
		errs = append(errs, fmt.Errorf("renew deadline %v: must be longer than %v × the retry period %v", opts.RenewDeadline, JitterFactor, opts.RetryPeriod))
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
	return &Elector{opts: opts, log: log, leases: opts.Client.Leases(opts.Namespace)}, nil
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
// nil after ctx is done (New has refused every configuration that could fail).
func (e *Elector) Run(ctx context.Context) error {
	for {
		e.term(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.log.Warn("leader election: campaigning again after losing the lease")
	}
}

// term campaigns until this replica holds the lease, then leads until the
// lease is lost or ctx ends. It returns once the leader's work, if it started,
// has returned and, when ctx ended, the lease has been released: the lease
// outlives the work.
func (e *Elector) term(ctx context.Context) {
	renewed, ok := e.acquire(ctx)
	if !ok {
		return
	}
	workCtx, cancel := context.WithCancel(ctx)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		e.lead(workCtx)
	}()
	e.renew(workCtx, renewed)
	cancel()
	<-workDone
	if ctx.Err() != nil {
		e.release()
	}
}

// acquire tries to take or renew the lease every retry period, jittered so
// that followers do not all ask at once, until it succeeds or ctx ends. It
// returns when the successful try started.
func (e *Elector) acquire(ctx context.Context) (time.Time, bool) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-t.C:
		}
		start := time.Now()
		if e.tryAcquireOrRenew(ctx) {
			return start, true
		}
		t.Reset(e.opts.RetryPeriod + time.Duration(mathrand.Float64()*JitterFactor*float64(e.opts.RetryPeriod)))
	}
}

// renew renews the lease every retry period until ctx ends or the lease is
// lost: another replica holds it, or no renewal has succeeded within the
// renew deadline since the last one. The deadline bounds each try too, so a
// request that hangs cannot keep this replica leading past it.
func (e *Elector) renew(ctx context.Context, renewed time.Time) {
	t := time.NewTimer(e.opts.RetryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deadline := renewed.Add(e.opts.RenewDeadline)
		tryCtx, cancel := context.WithDeadline(ctx, deadline)
		start := time.Now()
		ok := e.tryAcquireOrRenew(tryCtx)
		cancel()
		switch {
		case ok:
			renewed = start
			t.Reset(e.opts.RetryPeriod)
			continue
		case ctx.Err() != nil:
			return
		case e.reported != e.opts.Identity:
			e.log.Warn("leader election: another replica holds the lease; stopping the leader's work", "holder", e.reported)
			return
		case !time.Now().Before(deadline):
			e.log.Warn("leader election: lease not renewed within the renew deadline; stopping the leader's work", "renew_deadline", e.opts.RenewDeadline)
			return
		}
		t.Reset(min(e.opts.RetryPeriod, time.Until(deadline)))
	}
}

// tryAcquireOrRenew makes one attempt to write this replica into the Lease as
// holder, and reports whether it did. It writes only when the Lease is free,
// expired or already this replica's.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := time.Now()
	id := e.opts.Identity
	// A leader renews from the Lease it last wrote: one call instead of a
	// read and a write. Had anyone written since, the update is refused as
	// a conflict and the read below starts afresh.
	if e.current != nil && holderOf(e.current) == id && e.valid(now) {
		l := e.current.DeepCopy()
		l.Spec.HolderIdentity = &id
		l.Spec.LeaseDurationSeconds = ptr(int32(e.opts.LeaseDuration / time.Second))
		l.Spec.RenewTime = ptr(metav1.NewMicroTime(now))
		got, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			e.see(got)
			return true
		}
		e.log.Info("leader election: renewal refused; reading the lease again", "err", kube.ExplainForbidden(err))
	}

	l, err := e.read(ctx)
	if apierrors.IsNotFound(err) {
		l = &kube.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: e.opts.Name, Namespace: e.opts.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "linq-sync"}},
			Spec:       e.spec(now, now, 0),
		}
		got, err := e.leases.Create(ctx, l, metav1.CreateOptions{})
		if err != nil {
			e.logWriteError("create the lease", err)
			return false
		}
		e.see(got)
		return true
	}
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("leader election: read the lease", "err", err)
		}
		return false
	}
	e.see(l)
	holder := holderOf(l)
	if holder != "" && holder != id && e.valid(now) {
		return false // another replica leads
	}
	var transitions int32
	if l.Spec.LeaseTransitions != nil {
		transitions = *l.Spec.LeaseTransitions
	}
	acquired := now
	if holder == id && l.Spec.AcquireTime != nil {
		acquired = l.Spec.AcquireTime.Time
	} else {
		transitions++
	}
	l.Spec = e.spec(acquired, now, transitions)
	got, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		e.logWriteError("take the lease", err)
		return false
	}
	e.see(got)
	return true
}

// read gets the Lease; a Forbidden error says where the permissions it lacks
// are granted.
func (e *Elector) read(ctx context.Context) (*kube.Lease, error) {
	l, err := e.leases.Get(ctx, e.opts.Name, metav1.GetOptions{})
	return l, kube.ExplainForbidden(err)
}

func (e *Elector) logWriteError(what string, err error) {
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		// Another replica wrote first: the next try reads what it wrote.
		e.log.Info("leader election: "+what+": another replica wrote first", "err", err)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
	default:
		e.log.Error("leader election: "+what, "err", kube.ExplainForbidden(err))
	}
}

// spec is the Lease record naming this replica as holder.
func (e *Elector) spec(acquired, renewed time.Time, transitions int32) kube.LeaseSpec {
	return kube.LeaseSpec{
		HolderIdentity:       ptr(e.opts.Identity),
		LeaseDurationSeconds: ptr(int32(e.opts.LeaseDuration / time.Second)),
		AcquireTime:          ptr(metav1.NewMicroTime(acquired)),
		RenewTime:            ptr(metav1.NewMicroTime(renewed)),
		LeaseTransitions:     ptr(transitions),
	}
}

// see records the Lease as read or written. When its record differs from the
// one seen before, the lease counts from now, by this replica's own clock:
// the renewTime written by another replica's clock is never compared with
// this one's.
func (e *Elector) see(l *kube.Lease) {
	e.current = l
	raw, err := json.Marshal(l.Spec)
	if err != nil || !bytes.Equal(raw, e.observed) {
		e.observed = raw
		e.observedAt = time.Now()
	}
	holder := holderOf(l)
	if holder == e.reported || holder == "" {
		return
	}
	e.reported = holder
	if holder != e.opts.Identity {
		e.log.Info("leader election: following", "leader", holder)
	}
	if e.opts.OnNewLeader != nil {
		e.opts.OnNewLeader(holder)
	}
}

// valid reports whether the lease last seen has not expired at now: its
// record has changed within its lease duration before now.
func (e *Elector) valid(now time.Time) bool {
	d := e.opts.LeaseDuration
	if e.current != nil && e.current.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*e.current.Spec.LeaseDurationSeconds) * time.Second
	}
	return e.observedAt.Add(d).After(now)
}

// release gives the lease up, if this replica holds it, so that a follower
// takes it at its next try: no holder and a one-second duration, as
// client-go releases. It runs after the Elector's context has ended, so it
// has a deadline of its own.
func (e *Elector) release() {
	if e.current == nil || holderOf(e.current) != e.opts.Identity {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.RenewDeadline)
	defer cancel()
	l := e.current.DeepCopy()
	for {
		now := metav1.NewMicroTime(time.Now())
		l.Spec.HolderIdentity = ptr("")
		l.Spec.LeaseDurationSeconds = ptr(int32(1))
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		_, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			break
		}
		// A renewal cut short when the context ended may have been stored
		// all the same, leaving the Lease newer than the one last seen:
		// read it again, and release it if it still names this replica.
		if apierrors.IsConflict(err) {
			if l, err = e.read(ctx); err == nil && holderOf(l) != e.opts.Identity {
				return
			}
		}
		if err != nil {
			e.log.Warn("leader election: could not release the lease; another replica takes over once it expires", "err", kube.ExplainForbidden(err))
			return
		}
	}
	e.current, e.reported = nil, ""
	e.log.Info("leader election: released the lease")
}

// lead runs the leader's work with ctx, which term cancels when the lease is
// lost or the Elector's context ends.
func (e *Elector) lead(ctx context.Context) {
	e.log.Info("leader election: leading")
	e.work.Store(&ctx)
	e.opts.OnStarted(ctx)
	e.work.Store(nil)
	e.log.Warn("leader election: stopped leading")
	if e.opts.OnStopped != nil {
		e.opts.OnStopped()
	}
}

func holderOf(l *kube.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func ptr[T any](v T) *T { return &v }

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
