package diff

import "fmt"

// DefaultMaxDeletes is the number of deletes one apply may make without
// --allow-mass-delete, unless the user sets --max-deletes.
const DefaultMaxDeletes = 5

// Rails are the safety limits CheckSafety enforces.
type Rails struct {
	// MaxDeletes is the most deletes a plan may hold. The zero value allows
	// none, so that forgotten rails fail safe; use DefaultRails or
	// DefaultMaxDeletes for the documented default.
	MaxDeletes int
	// AllowMassDelete lifts both limits.
	AllowMassDelete bool
}

// DefaultRails returns the rails of a default apply: at most
// DefaultMaxDeletes deletes, no mass delete.
func DefaultRails() Rails { return Rails{MaxDeletes: DefaultMaxDeletes} }

// SafetyError is a plan that CheckSafety refuses.
type SafetyError struct {
	// Deletes is the number of deletes the plan holds.
	Deletes int
	// MaxDeletes is the limit it exceeds (when EmptyConfig is false).
	MaxDeletes int
	// EmptyConfig is set when the config declares no subscriptions.
	EmptyConfig bool
	// Hint tells the user how to proceed if the deletes are intended.
	Hint string
}

// Error describes the refusal; Hint says how to override it.
func (e *SafetyError) Error() string {
	if e.EmptyConfig {
		return fmt.Sprintf("refusing to delete %d %s: the config declares no subscriptions", e.Deletes, plural(e.Deletes, "subscription", "subscriptions"))
	}
	return fmt.Sprintf("refusing to delete %d %s: more than the limit of %d", e.Deletes, plural(e.Deletes, "subscription", "subscriptions"), e.MaxDeletes)
}

// CheckSafety returns a *SafetyError when p must not be applied without
// --allow-mass-delete: when it deletes more than r.MaxDeletes subscriptions,
// or when the config (of desiredCount entries) is empty and p would delete
// anything at all, since an empty or truncated file under policy sync would
// otherwise wipe the account. It returns nil for any plan when
// r.AllowMassDelete is set.
func CheckSafety(p Plan, desiredCount int, r Rails) error {
	if r.AllowMassDelete {
		return nil
	}
	s := p.Summary()
	deletes := s.Delete + s.Rotate // a rotation deletes, too
	switch {
	case deletes == 0:
		return nil
	case desiredCount == 0:
		return &SafetyError{
			Deletes:     deletes,
			MaxDeletes:  r.MaxDeletes,
			EmptyConfig: true,
			Hint:        "an empty config under policy sync deletes every subscription; if that is intended, pass --allow-mass-delete",
		}
	case deletes > r.MaxDeletes:
		return &SafetyError{
			Deletes:    deletes,
			MaxDeletes: r.MaxDeletes,
			Hint:       fmt.Sprintf("check the plan; if these deletes are intended, pass --allow-mass-delete or raise --max-deletes to %d", deletes),
		}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
