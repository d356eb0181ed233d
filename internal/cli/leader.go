package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/daemon"
	"github.com/linq-sync/linq-sync/internal/kube"
	"github.com/linq-sync/linq-sync/internal/leader"
	"github.com/linq-sync/linq-sync/internal/metrics"
)

// LeaderFlags are run's leader election flags: with --leader-elect, the
// replicas of one account elect one writer through a Kubernetes Lease.
type LeaderFlags struct {
	Enabled                                   bool
	Namespace, Name                           string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

func (f *LeaderFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.Enabled, "leader-elect", false, "elect one writer among replicas through a Kubernetes Lease; followers make no API call")
	fl.StringVar(&f.Namespace, "leader-elect-namespace", "", "`namespace` of the Lease (default: the pod's namespace)")
	fl.StringVar(&f.Name, "leader-elect-name", leader.DefaultName, "`name` of the Lease")
	fl.DurationVar(&f.LeaseDuration, "leader-elect-lease-duration", leader.DefaultLeaseDuration, "how long followers wait without a renewal before taking over (whole seconds)")
	fl.DurationVar(&f.RenewDeadline, "leader-elect-renew-deadline", leader.DefaultRenewDeadline, "how long the leader keeps trying to renew before it stops writing")
	fl.DurationVar(&f.RetryPeriod, "leader-elect-retry-period", leader.DefaultRetryPeriod, "interval between tries to take or renew the lease")
}

// election is a started leader election: the daemon's wrapper and wake
// channel, and a stop function that releases the lease.
type election struct {
	wrap func(daemon.Reconciler) daemon.Reconciler
	wake <-chan struct{}
	stop func()
}

// startElection starts campaigning when --leader-elect is set; otherwise
// it returns an election that changes nothing.
func (f *LeaderFlags) startElection(ctx context.Context, kubeconfig string, m *metrics.Metrics, log *slog.Logger) (*election, error) {
	if !f.Enabled {
		return &election{wrap: func(r daemon.Reconciler) daemon.Reconciler { return r }, stop: func() {}}, nil
	}
	ns := f.Namespace
	if ns == "" {
		var err error
		if ns, err = kube.PodNamespace(kube.ServiceAccountDir, "--leader-elect-namespace"); err != nil {
			return nil, err
		}
	}
	cfg, err := kube.Config(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := kube.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	id, err := leader.NewIdentity()
	if err != nil {
		return nil, err
	}
	wake := make(chan struct{}, 1)
	e, err := leader.New(leader.Options{
		Client: client, Namespace: ns, Name: f.Name, Identity: id,
		LeaseDuration: f.LeaseDuration, RenewDeadline: f.RenewDeadline, RetryPeriod: f.RetryPeriod,
		OnStarted: func(term context.Context) {
			m.SetLeader(true)
			log.Info("leading: this replica reconciles and writes", "identity", id)
			select { // reconcile at once, without waiting for the interval
			case wake <- struct{}{}:
			default:
			}
			<-term.Done()
		},
		OnStopped: func() {
			m.SetLeader(false)
			log.Warn("not leading any more: this replica stops writing", "identity", id)
		},
		OnNewLeader: func(leaderID string) { log.Info("leader elected", "leader", leaderID, "self", leaderID == id) },
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	m.SetLeader(false)
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.Run(ectx); err != nil {
			log.Error("leader election stopped", "err", err)
		}
	}()
	return &election{
		wrap: func(r daemon.Reconciler) daemon.Reconciler { return daemon.LeaderOnly(r, e.Term, log) },
		wake: wake,
		stop: func() { cancel(); <-done },
	}, nil
}
