package daemon

import (
	"context"
	"fmt"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

// FromReconciler adapts a reconcile.Reconciler, the shared list → plan →
// apply path, to the daemon's Reconciler.
func FromReconciler(r *reconcile.Reconciler) Reconciler {
	return ReconcilerFunc(func(ctx context.Context, cfg *config.Config, mode Mode) (Outcome, error) {
		rep, err := r.ReconcileWith(ctx, cfg, reconcile.RunOptions{DryRun: mode.DryRun, HoldDeletes: mode.HoldDeletes})
		return outcomeOf(rep), err
	})
}

// outcomeOf summarises a reconcile's report as the daemon reports it.
func outcomeOf(rep reconcile.Report) Outcome {
	out := Outcome{
		Planned:     rep.Listed,
		Applied:     map[diff.Action]int{},
		Failed:      map[diff.Action]int{},
		HeldDeletes: rep.HeldDeletes,
	}
	if !out.Planned {
		return out
	}
	// Refused (safety rail, plan errors) or dry run: all of it is pending.
	out.Pending = rep.Pending()
	out.PendingChanges = pendingChanges(rep)
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
	out.Losses = append(out.Losses, rep.Result.LostSecrets...)
	for _, c := range diff.Lost(rep.Plan.Custody) {
		out.Losses = append(out.Losses, apply.LostSecret{Name: c.Name, ID: c.ID, Reason: apply.LossReason(c.Reason)})
	}
	out.SecretsMissing = len(rep.Missing())
	return out
}

// lossCounter remembers which lost secrets were counted, so that each
// subscription is counted once: by the apply that lost its secret, not
// again by every later plan that finds it lost, nor once per replica.
type lossCounter struct{ ids, names map[string]bool }

// first reports whether l is a loss not counted before. A loss reported
// without an id (the outcome of a create was unknown) is keyed by name,
// and the same name found later with its id is the same loss.
func (c *lossCounter) first(l apply.LostSecret) bool {
	if c.ids == nil {
		c.ids, c.names = map[string]bool{}, map[string]bool{}
	}
	if l.ID == "" {
		if c.names[l.Name] {
			return false
		}
		c.names[l.Name] = true
		return true
	}
	if c.ids[l.ID] {
		return false
	}
	c.ids[l.ID] = true
	if c.names[l.Name] {
		delete(c.names, l.Name)
		return false
	}
	return true
}

// maxPendingNames bounds the changes a log line names.
const maxPendingNames = 20

// pendingChanges names the changes left pending: the whole plan when
// nothing was applied (a dry run, a refusal), the failed changes otherwise.
func pendingChanges(rep reconcile.Report) []string {
	var changes []diff.Change
	if rep.Applied {
		for _, f := range rep.Result.Failures {
			changes = append(changes, f.Change)
		}
	} else {
		changes = rep.Plan.Changes
	}
	var out []string
	n := 0
	for _, c := range changes {
		if c.Action == diff.ActionUnmanaged {
			continue
		}
		n++
		if len(out) == maxPendingNames {
			continue
		}
		label := c.Name
		if label == "" {
			label = c.ID
		}
		out = append(out, string(c.Action)+" "+label)
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("and %d more", n-len(out)))
	}
	return out
}
