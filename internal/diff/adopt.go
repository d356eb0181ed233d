package diff

import (
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// ActionAdopt is an entry that pins an id the old version of the file does
// not know (plan --offline only): an existing subscription the file starts
// to manage, typically from linq-sync export. Offline its current state is
// unknown, so the plan cannot say what apply will change; online the same
// entry is an update, in sync, or an error if the id does not exist. It is
// a pending change, never an error, and never executed.
const ActionAdopt Action = "adopt"

// adoptNote says what an offline plan cannot know about an adoption.
const adoptNote = "offline, the subscription's current state is unknown: the apply plans against the account, and updates it to match this entry if it differs (or stops, applying nothing, if the id does not exist)"

// newAdopt returns the adoption of d.
func newAdopt(d *config.Subscription) Change {
	c := newCreate(d)
	c.Action, c.ID, c.Update = ActionAdopt, d.ID, linq.UpdateParams{}
	c.Notes = []string{adoptNote}
	return c
}
