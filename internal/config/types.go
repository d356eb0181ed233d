// Package config loads and validates the desired-state file
// (subscriptions.yaml). It reports every problem at once, each with file,
// line, column and field path. It does no network I/O: checks that need the
// API (the authoritative event-type list) take their inputs as arguments,
// and it imports nothing of the API client (internal/linq), so validation
// stays offline by construction: Export takes the account's subscriptions
// as entries, converted by its caller.
package config

import (
	"fmt"
	"slices"
	"time"
)

// Policy says what happens to remote subscriptions that no entry matches.
type Policy string

const (
	// PolicyUpsertOnly reports unmatched remote subscriptions and leaves them.
	PolicyUpsertOnly Policy = "upsert-only"
	// PolicySync deletes unmatched remote subscriptions.
	PolicySync Policy = "sync"
)

// Position is a place in the file, 1-based.
type Position struct {
	Line int
	Col  int
}

// Config is a loaded, validated desired-state file.
// MinProbeInterval is the shortest probe_interval: probes are requests to
// the user's own endpoints.
const MinProbeInterval = 10 * time.Second

type Config struct {
	// Path is the file it was loaded from, as given.
	Path    string
	Version int
	Policy  Policy
	// LogLevel, when set (debug, info, warn or error), is linq-sync run's
	// log level: it overrides --log-level and is applied on every reload.
	LogLevel string
	// RotateLostSecrets, when true, has apply and run rotate every
	// subscription whose signing secret is lost (as --rotate-lost-secrets).
	RotateLostSecrets bool
	// ProbeInterval, when set, has linq-sync run probe every managed
	// endpoint this often (as --probe-interval); 0 means off.
	ProbeInterval time.Duration
	// Subscriptions are in file order.
	Subscriptions []Subscription

	// FieldPos holds the position of each top-level key's value that was
	// present ("version", "policy", "subscriptions").
	FieldPos map[string]Position
}

// Subscription is one declared webhook subscription.
type Subscription struct {
	Name string
	// ID pins the entry to an existing remote subscription; empty matches by
	// TargetURL.
	ID               string
	TargetURL        string
	SubscribedEvents []string
	// PhoneNumbers is nil when omitted, null or []: all numbers.
	PhoneNumbers []string
	IsActive     bool
	// VerifyBeforeMove holds a change of target_url until the new URL
	// answers a signed probe as verified.
	VerifyBeforeMove bool

	// Pos is where the entry starts; FieldPos holds the position of each key
	// that was present, taken from its value (for a list, the list's start),
	// which is where a problem with the field is reported.
	Pos      Position
	FieldPos FieldPositions
}

// FieldPositions is where the fields of one entry were written. A key that
// was absent has the zero Position.
type FieldPositions struct {
	Name, ID, TargetURL, SubscribedEvents, PhoneNumbers, IsActive Position
	// Events[i] is where subscribed_events[i] was written, and Phones[i]
	// phone_numbers[i], counting every item as written.
	Events, Phones []Position
}

// Clone returns a copy of f that shares no memory with it.
func (f FieldPositions) Clone() FieldPositions {
	f.Events = slices.Clone(f.Events)
	f.Phones = slices.Clone(f.Phones)
	return f
}

// Severity grades a Diagnostic.
type Severity int

const (
	// SeverityError makes the file invalid.
	SeverityError Severity = iota
	// SeverityWarning is reported but does not invalidate the file.
	SeverityWarning
)

// Diagnostic is one problem found in a file.
type Diagnostic struct {
	File     string
	Line     int
	Col      int
	Path     string // e.g. subscriptions[1].phone_numbers[0]; empty for the document
	Message  string
	Severity Severity
}

// String formats d as FILE:LINE:COL: path: message (with "warning: " before
// the message for warnings).
func (d Diagnostic) String() string {
	sev := ""
	if d.Severity == SeverityWarning {
		sev = "warning: "
	}
	loc := d.File
	if d.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col)
	}
	if d.Path == "" {
		return fmt.Sprintf("%s: %s%s", loc, sev, d.Message)
	}
	return fmt.Sprintf("%s: %s%s: %s", loc, sev, d.Path, d.Message)
}
