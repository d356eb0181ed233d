package diff

import (
	"strconv"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// SyntheticIDPrefix starts the made-up id CompareConfigs gives an old entry
// that pins no id.
const SyntheticIDPrefix = "old:"

// CompareConfigs diffs the entries of a new version of a file against an
// old version of it, for plan --offline --against OLD_FILE: the old entries
// stand in for the account, so that a review needs no token. An old entry's
// pinned id is its id; an unpinned one gets the synthetic id "old:<name>",
// unless the new version pins the entry of the same name to an id that the
// old version does not use, which is taken to be that entry's adoption.
// An entry pinning an id the old version does not know at all is an
// adoption (ActionAdopt): an existing subscription whose current state an
// offline plan cannot know. Every old entry is in scope. The plan is what Compute would give if the
// account matched the old file exactly.
func CompareConfigs(old, new []config.Subscription) Plan {
	oldIDs := make(map[string]bool, len(old))
	for _, o := range old {
		if o.ID != "" {
			oldIDs[o.ID] = true
		}
	}
	adopted := make(map[string]string) // entry name → id newly pinned
	for _, n := range new {
		if n.ID != "" && !oldIDs[n.ID] {
			adopted[n.Name] = n.ID
		}
	}
	remote := make([]linq.Subscription, 0, len(old))
	used := make(map[string]bool, len(old))
	for i, o := range old {
		id := o.ID
		if id == "" {
			id = adopted[o.Name]
			if used[id] {
				id = ""
			}
		}
		if id == "" {
			id = SyntheticIDPrefix + o.Name
			if used[id] {
				id += "#" + strconv.Itoa(i+1)
			}
		}
		used[id] = true
		remote = append(remote, linq.Subscription{
			ID:               id,
			TargetURL:        o.TargetURL,
			SubscribedEvents: o.SubscribedEvents,
			IsActive:         o.IsActive,
			PhoneNumbers:     o.PhoneNumbers,
		})
	}
	return compute(new, remote, Options{AllEnvironments: true}, nil)
}
