package daemon

import (
	"fmt"
	"slices"
	"testing"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

func TestOutcomeCountsEveryLossReasonUnderItsOwnLabel(t *testing.T) {
	var rep reconcile.Report
	rep.Listed, rep.Applied = true, true
	for _, r := range apply.LossReasons() {
		rep.Result.LostSecrets = append(rep.Result.LostSecrets, apply.LostSecret{Name: string(r), Reason: r})
	}
	got := map[apply.LossReason]int{}
	for _, l := range outcomeOf(rep).Losses {
		got[l.Reason]++
	}
	if len(got) != len(apply.LossReasons()) {
		t.Fatalf("losses = %v, want one entry per reason", got)
	}
	for _, r := range apply.LossReasons() {
		if got[r] != 1 {
			t.Errorf("losses[%q] = %d, want 1", r, got[r])
		}
	}
}

func TestOutcomeReportsLossesThePlanFoundAndWhatIsStillMissing(t *testing.T) {
	var rep reconcile.Report
	rep.Listed = true
	rep.Plan.Custody = []diff.Custody{
		{Name: "a", ID: "1", State: diff.SecretLost, Reason: diff.LostInterrupted},
		{Name: "b", ID: "2", State: diff.SecretHeld},
		{Name: "c", ID: "3", State: diff.SecretLost, Reason: diff.LostMismatch},
	}
	out := outcomeOf(rep)
	if out.SecretsMissing != 2 || len(out.Losses) != 2 || out.Losses[0].Reason != apply.ReasonInterrupted || out.Losses[1].Reason != apply.ReasonMismatch {
		t.Errorf("outcome = %+v, want two losses (interrupted, mismatch) and 2 missing", out)
	}
}

func TestLossCounterCountsEachSubscriptionOnce(t *testing.T) {
	var c lossCounter
	reports := []apply.LostSecret{
		{Name: "a", ID: "1", Reason: apply.ReasonResponseLost},
		{Name: "a", ID: "1", Reason: apply.ReasonInterrupted},  // the next plan finds it
		{Name: "a", ID: "1", Reason: apply.ReasonResponseLost}, // another replica
		{Name: "b", Reason: apply.ReasonOutcomeUnknown},
		{Name: "b", ID: "2", Reason: apply.ReasonInterrupted}, // the plan finds it, with its id
		{Name: "a", ID: "9", Reason: apply.ReasonNotStored},   // a rotation's new one, lost again
	}
	var counted []string
	for _, l := range reports {
		if c.first(l) {
			counted = append(counted, l.Name+"/"+l.ID)
		}
	}
	if want := []string{"a/1", "b/", "a/9"}; !slices.Equal(counted, want) {
		t.Errorf("counted %v, want %v", counted, want)
	}
}

func TestOutcomeOfUnlistedReconcileIsNotPlanned(t *testing.T) {
	out := outcomeOf(reconcile.Report{})
	if out.Planned || out.Losses != nil {
		t.Errorf("outcome = %+v, want not planned and no losses", out)
	}
}
func TestPendingChangesNamesWhatDriftsAndBoundsTheList(t *testing.T) {
	var rep reconcile.Report
	rep.Listed = true
	rep.Plan.Changes = []diff.Change{
		{Action: diff.ActionCreate, Name: "crm"},
		{Action: diff.ActionDelete, ID: "id-1"},
		{Action: diff.ActionUnmanaged, ID: "id-2"},
	}
	got := outcomeOf(rep).PendingChanges
	if want := []string{"create crm", "delete id-1"}; !slices.Equal(got, want) {
		t.Errorf("pending = %q, want %q", got, want)
	}

	rep.Plan.Changes = nil
	for i := range maxPendingNames + 3 {
		rep.Plan.Changes = append(rep.Plan.Changes, diff.Change{Action: diff.ActionUpdate, Name: fmt.Sprintf("e%02d", i)})
	}
	got = outcomeOf(rep).PendingChanges
	if len(got) != maxPendingNames+1 || got[maxPendingNames] != "and 3 more" {
		t.Errorf("pending of %d changes = %q", len(rep.Plan.Changes), got)
	}
}
