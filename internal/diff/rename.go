package diff

import (
	"fmt"

	"github.com/linq-sync/linq-sync/internal/config"
)

// refuseSwaps turns updates whose target_url changes form a cycle (a moves
// to b's URL while b moves to a's) into entry errors. target_url is unique,
// so no order of single updates can apply a cycle: each would be refused,
// every reconcile, forever.
func (p *Plan) refuseSwaps(updates []Change) []Change {
	_, inCycle, leaving := renameChains(updates)
	kept := updates[:0:0]
	for i, c := range updates {
		if !inCycle[i] {
			kept = append(kept, c)
			continue
		}
		holder := updates[leaving[*c.Update.TargetURL]]
		var pos config.Position
		if c.Desired != nil {
			pos = c.Desired.Pos
		}
		p.Errors = append(p.Errors, EntryError{Name: c.Name, Pos: pos, Message: fmt.Sprintf(
			"target_url %q is the current URL of entry %q, which moves away in a cycle of URL changes; target_url is unique, so the cycle cannot be applied in one step: move one entry to a temporary URL first",
			*c.Update.TargetURL, holder.Name)})
	}
	return kept
}

// RenameWaves orders updates so that one moving a subscription onto a
// target_url that another update moves away from runs after it: wave 0
// holds the updates whose new URL nobody is leaving, wave n+1 those whose
// new URL is left by an update of wave n. Order within a wave is kept.
// Cycles cannot be ordered; Compute refuses them, and here they end up in a
// late wave.
func RenameWaves(updates []Change) [][]Change {
	depth, _, _ := renameChains(updates)
	var waves [][]Change
	for i, c := range updates {
		for len(waves) <= depth[i] {
			waves = append(waves, nil)
		}
		waves[depth[i]] = append(waves[depth[i]], c)
	}
	return waves
}

// renameChains follows, from each update, the chain of updates that must
// move away from its new target_url first. depth[i] is the length of that
// chain and inCycle[i] whether it leads back to i; leaving maps an old URL
// to the update moving away from it.
func renameChains(updates []Change) (depth []int, inCycle []bool, leaving map[string]int) {
	leaving = make(map[string]int)
	for i, c := range updates {
		if c.Update.TargetURL != nil && c.Current != nil && *c.Update.TargetURL != c.Current.TargetURL {
			leaving[c.Current.TargetURL] = i
		}
	}
	depth = make([]int, len(updates))
	inCycle = make([]bool, len(updates))
	if len(leaving) == 0 {
		return depth, inCycle, leaving
	}
	for i := range updates {
		j := i
		for steps := 0; steps <= len(leaving); steps++ {
			u := updates[j].Update.TargetURL
			if u == nil {
				break
			}
			k, ok := leaving[*u]
			if !ok {
				break
			}
			if k == i {
				inCycle[i] = true
				break
			}
			depth[i]++
			j = k
		}
	}
	return depth, inCycle, leaving
}
