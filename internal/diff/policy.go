package diff

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/linq-sync/linq-sync/internal/config"
)

// ApplyPolicy returns p filtered by pol. Under config.PolicySync every
// unmanaged subscription becomes a delete; under config.PolicyUpsertOnly
// (and the empty policy, its default) unmanaged ones stay, and an update
// that would move onto an unmanaged one's target_url becomes an entry
// error, as nothing will ever free that URL. p is not
// modified: the result has its own Changes and Errors slices.
func ApplyPolicy(p Plan, pol config.Policy) Plan {
	out := p
	out.Changes = slices.Clone(p.Changes)
	out.Errors = slices.Clone(p.Errors)
	if pol != config.PolicySync {
		return refuseMovesOntoUnmanaged(out)
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
var actionRank = map[Action]int{ActionCreate: 0, ActionUpdate: 1, ActionAdopt: 2, ActionRotate: 3, ActionDelete: 4, ActionUnmanaged: 5}

// compareChanges orders changes as a plan holds them: creates and updates
// by entry name, deletes and unmanaged by target_url then id.
func compareChanges(a, b Change) int {
	if c := cmp.Compare(actionRank[a.Action], actionRank[b.Action]); c != 0 {
		return c
	}
	switch a.Action {
	case ActionCreate, ActionUpdate, ActionAdopt, ActionRotate:
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	default:
		return cmp.Or(strings.Compare(a.TargetURL, b.TargetURL), strings.Compare(a.ID, b.ID))
	}
}

// refuseMovesOntoUnmanaged turns an update that moves a subscription onto
// the target_url of an unmanaged one into an entry error: under
// upsert-only nothing deletes the unmanaged one, and target_url is unique,
// so the update would be refused every reconcile, forever.
func refuseMovesOntoUnmanaged(p Plan) Plan {
	held := map[string]string{}
	for _, c := range p.Changes {
		if c.Action == ActionUnmanaged {
			held[c.TargetURL] = c.ID
		}
	}
	if len(held) == 0 {
		return p
	}
	kept := p.Changes[:0:0]
	for _, c := range p.Changes {
		if c.Action == ActionUpdate && c.Update.TargetURL != nil {
			if id, ok := held[*c.Update.TargetURL]; ok {
				var pos config.Position
				if c.Desired != nil {
					pos = c.Desired.Pos
				}
				p.Errors = append(p.Errors, EntryError{Name: c.Name, Pos: pos, Message: fmt.Sprintf(
					"target_url %q is held by unmanaged subscription %q, which policy upsert-only never deletes; target_url is unique, so delete that subscription or use policy: sync",
					*c.Update.TargetURL, id)})
				continue
			}
		}
		kept = append(kept, c)
	}
	p.Changes = kept
	slices.SortStableFunc(p.Errors, func(a, b EntryError) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Message, b.Message))
	})
	return p
}
