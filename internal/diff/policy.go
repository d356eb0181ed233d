package diff

import (
	"cmp"
	"slices"
	"strings"

	"github.com/linq-sync/linq-sync/internal/config"
)

// ApplyPolicy returns p filtered by pol. Under config.PolicySync every
// unmanaged subscription becomes a delete; under config.PolicyUpsertOnly
// (and the empty policy, its default) the plan is unchanged. p is not
// modified: the result has its own Changes and Errors slices.
func ApplyPolicy(p Plan, pol config.Policy) Plan {
	out := p
	out.Changes = slices.Clone(p.Changes)
	out.Errors = slices.Clone(p.Errors)
	if pol != config.PolicySync {
		return out
	}
	for i := range out.Changes {
		if out.Changes[i].Action == ActionUnmanaged {
			out.Changes[i].Action = ActionDelete
		}
	}
	slices.SortStableFunc(out.Changes, compareChanges)
	return out
}

// actionRank is the place of each action's group in a plan.
var actionRank = map[Action]int{ActionCreate: 0, ActionUpdate: 1, ActionDelete: 2, ActionUnmanaged: 3}

// compareChanges orders changes as a plan holds them: creates and updates
// by entry name, deletes and unmanaged by target_url then id.
func compareChanges(a, b Change) int {
	if c := cmp.Compare(actionRank[a.Action], actionRank[b.Action]); c != 0 {
		return c
	}
	switch a.Action {
	case ActionCreate, ActionUpdate:
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	default:
		return cmp.Or(strings.Compare(a.TargetURL, b.TargetURL), strings.Compare(a.ID, b.ID))
	}
}
