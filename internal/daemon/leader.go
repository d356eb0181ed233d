package daemon

import (
	"context"
	"log/slog"

	"github.com/linq-sync/linq-sync/internal/config"
)

// LeaderOnly returns a Reconciler that reconciles through r only while
// this replica leads, and makes no API call otherwise: among replicas of
// one account, only the leader may write. lead returns the context of the
// current leadership term, or false while following. A reconcile runs
// under that context too, so when the lease is lost no further write
// starts; the next leader's first reconcile finishes what was left.
func LeaderOnly(r Reconciler, lead func() (context.Context, bool), log *slog.Logger) Reconciler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return ReconcilerFunc(func(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error) {
		term, ok := lead()
		if !ok || term.Err() != nil {
			log.Debug("following: the leader reconciles; no API call here")
			return Outcome{Following: true}, nil
		}
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(term, func() { cancel(errLostLease) })
		defer stop()
		out, err := r.Reconcile(ctx, cfg, mode)
		if term.Err() != nil {
			log.Warn("lost the lease during a reconcile; stopped starting writes", "err", err)
		}
		return out, err
	})
}

type lostLease struct{}

func (lostLease) Error() string { return "lost the leader lease" }

var errLostLease error = lostLease{}
