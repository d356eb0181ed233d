package fakeapi

import "time"

// Subscription is a webhook subscription as the fake server holds it. It is
// the fake's own model of the server's record, deliberately not the
// client's linq.Subscription: answers are encoded from it by the fake's
// own wire types (wireSub), so that a mistake in how the client reads the
// API cannot hide by being made the same way in both.
type Subscription struct {
	ID               string
	TargetURL        string
	SubscribedEvents []string
	IsActive         bool
	// PhoneNumbers filters events to these numbers; nil or empty is all
	// numbers (how the empty filter is written depends on
	// Options.EmptyPhoneNumbers).
	PhoneNumbers []string
	// EnvironmentID is nil for production.
	EnvironmentID *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
