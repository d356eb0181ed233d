package diff

import (
	"fmt"
	"strings"

	"github.com/linq-sync/linq-sync/internal/linq"
)

// pinnedMissingOnline words the error for a pinned id that is not in the
// account.
func pinnedMissingOnline(id string) string {
	return fmt.Sprintf("pinned id %q does not exist in the account; fix the id, or remove \"id:\" to create a new subscription", id)
}

// otherEnvironment explains why a subscription of another environment
// cannot be matched.
func otherEnvironment(r *linq.Subscription) string {
	return fmt.Sprintf("subscription %q belongs to environment %q, which this plan does not manage; pass --all-environments to manage it", r.ID, *r.EnvironmentID)
}

// predecessorNote explains that a create may really be a URL change of
// the unmatched subscription s.
func predecessorNote(s *linq.Subscription) string {
	return fmt.Sprintf("no subscription has this target_url, so it will be created; without an id a changed URL cannot be told from a new endpoint, and subscription %s (%s) looks like its predecessor: if it is, %s to update it in place", s.ID, s.TargetURL, pinHint(s.ID))
}

// successorNote tells, on an unmatched subscription, which created entry
// may be meant to replace it.
func successorNote(id, name string) string {
	return fmt.Sprintf("may be the predecessor of new entry %q; if so, %s in that entry to update it in place", name, pinHint(id))
}

// pinHint tells how to pin id; an offline plan's made-up ids cannot be
// pinned, so it points at where the real one is found.
func pinHint(id string) string {
	if strings.HasPrefix(id, SyntheticIDPrefix) {
		return "pin its id (linq-sync export shows it)"
	}
	return fmt.Sprintf("pin \"id: %s\"", id)
}

// heldURLNote explains, on an update, that the unmatched subscription id
// still holds the new target_url.
func heldURLNote(id string) string {
	return fmt.Sprintf("unmatched subscription %s already has this target_url, which must be unique: the update succeeds only once %s is deleted (policy sync does that)", id, id)
}
