package daemon

import (
	"context"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

// FromReconciler adapts a reconcile.Reconciler, the shared list → plan →
// apply path, to the daemon's Reconciler.
func FromReconciler(r *reconcile.Reconciler) Reconciler {
	return ReconcilerFunc(func(ctx context.Context, cfg *config.Config, dryRun bool) (Outcome, error) {
		rep, err := r.Reconcile(ctx, cfg, dryRun)
		return outcomeOf(rep), err
	})
}

// outcomeOf summarises a reconcile's report as the daemon reports it.
func outcomeOf(rep reconcile.Report) Outcome {
	out := Outcome{
		Planned: rep.Listed,
		Applied: map[diff.Action]int{},
		Failed:  map[diff.Action]int{},
	}
	if !out.Planned {
		return out
	}
	// Refused (safety rail, plan errors) or dry run: all of it is pending.
	out.Pending = rep.Pending()
	s := rep.Plan.Summary()
	out.Managed = s.InSync + s.Update
	for a, n := range rep.Result.Applied {
		out.Applied[a] = n
	}
	for _, f := range rep.Result.Failures {
		out.Failed[f.Action]++
	}
	if rep.Applied {
		out.Managed += rep.Result.Applied[diff.ActionCreate]
	}
	for _, l := range rep.Result.LostSecrets {
		if out.SecretsLost == nil {
			out.SecretsLost = map[apply.LossReason]int{}
		}
		out.SecretsLost[l.Reason]++
	}
	return out
}
