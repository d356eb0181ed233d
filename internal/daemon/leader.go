package daemon

import (
	"context"
	"errors"
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

// errLostLease is the cause of a reconcile cancelled by a lost lease.
var errLostLease = errors.New("lost the leader lease")
