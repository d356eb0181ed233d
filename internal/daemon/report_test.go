package daemon

import (
	"testing"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

func TestOutcomeCountsEveryLossReasonUnderItsOwnLabel(t *testing.T) {
	var rep reconcile.Report
	rep.Listed, rep.Applied = true, true
	for _, r := range apply.LossReasons() {
		rep.Result.LostSecrets = append(rep.Result.LostSecrets, apply.LostSecret{Name: string(r), Reason: r})
	}
	got := outcomeOf(rep).SecretsLost
	if len(got) != len(apply.LossReasons()) {
		t.Fatalf("SecretsLost = %v, want one entry per reason", got)
	}
	for _, r := range apply.LossReasons() {
		if got[r] != 1 {
			t.Errorf("SecretsLost[%q] = %d, want 1", r, got[r])
		}
	}
}

func TestOutcomeOfUnlistedReconcileIsNotPlanned(t *testing.T) {
	out := outcomeOf(reconcile.Report{})
	if out.Planned || out.SecretsLost != nil {
		t.Errorf("outcome = %+v, want not planned and no losses", out)
	}
}
