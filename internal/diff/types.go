// Package diff computes the plan that turns the remote subscriptions into
// the declared ones. It is pure: no context, no I/O, no logging, no mutation
// of its inputs, and the same inputs always give the same plan in the same
// order. Policies and safety rails are separate steps over a computed plan.
//
// diff uses the API client's data types (linq.Subscription for the remote
// side, linq.CreateParams and linq.UpdateParams for a change) but calls
// nothing of the client. This is deliberate: those types are plain data,
// the API's own model of a subscription, and a plan is exactly the set of
// calls the client will make, so a copy of them in a leaf package would
// add a conversion at every boundary (and a file to touch for every new
// field) without removing a dependency, since apply needs the client's
// types anyway. The cost is that importing diff links the client's
// package; the offline commands (validate, plan --offline) still make no
// request, because nothing here opens a connection.
package diff

import (
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// Action is what a Change does.
type Action string

const (
	// ActionCreate makes a new subscription for a file entry.
	ActionCreate Action = "create"
	// ActionUpdate changes a matched subscription's fields.
	ActionUpdate Action = "update"
	// ActionDelete removes a remote subscription that no entry matches
	// (policy sync only).
	ActionDelete Action = "delete"
	// ActionUnmanaged is a remote subscription that no entry matches and the
	// policy leaves alone. It is reported, never executed.
	ActionUnmanaged Action = "unmanaged"
)

// FieldChange is one changed field of an update.
type FieldChange struct {
	// Field is the API field name: target_url, subscribed_events,
	// phone_numbers or is_active.
	Field string
	// Old and New are the values before and after (string, bool or
	// []string; phone numbers and events sorted).
	Old any
	New any
	// Added and Removed are set for the set-valued fields.
	Added   []string
	Removed []string
}

// Change is one step of a plan.
type Change struct {
	Action Action
	// Name is the file entry's name; empty for delete and unmanaged.
	Name string
	// ID is the remote subscription's id; empty for create.
	ID string
	// TargetURL is the URL the change concerns (the new one for updates).
	TargetURL string
	// Desired is the file entry (nil for delete and unmanaged); Current the
	// remote subscription (nil for create).
	Desired *config.Subscription
	Current *linq.Subscription
	// Fields lists what an update changes, in API field order.
	Fields []FieldChange
	// Create is the create body (ActionCreate).
	Create linq.CreateParams
	// Update is the minimal update body (ActionUpdate), or for a create of an
	// inactive subscription the follow-up update (is_active=false).
	Update linq.UpdateParams
	// Notes are human hints shown with the change (for example that an
	// unpinned entry's new target_url cannot be told from a new endpoint).
	Notes []string
}

// EntryError is a file entry that cannot be planned, such as a pinned id
// that no longer exists. A plan with entry errors must not be applied.
type EntryError struct {
	Name    string
	Pos     config.Position
	Message string
}

// Plan is the ordered list of changes: creates, updates, deletes, then
// unmanaged, each group sorted by name or id.
type Plan struct {
	Changes []Change
	Errors  []EntryError
	// InSync counts the entries that match their remote exactly.
	InSync int
	// OutOfScope counts remote subscriptions of other environments, which the
	// plan never touches.
	OutOfScope int
	// Matched lists every entry matched to a remote subscription (in sync
	// or updated), sorted by name: whose signing secrets custody concerns.
	Matched []Match
	// Custody is the state of each matched entry's secret, when a secret
	// store was consulted (see AssessCustody).
	Custody []Custody
	// Deferred lists the moves held back until their new URL verifies.
	Deferred []Deferred
}

// Summary counts a plan's changes by action.
type Summary struct {
	Create int
	Update int
	Delete int
	// Rotate counts rotations: each deletes a subscription and creates
	// its replacement.
	Rotate    int
	Unmanaged int
	InSync    int
	// OutOfScope counts remote subscriptions of other environments.
	OutOfScope int
	// Adopt counts offline adoptions (ActionAdopt).
	Adopt int
}
