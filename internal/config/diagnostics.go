package config

import (
	"errors"
	"strings"
)

// Diagnostics is every problem found in a file, errors and warnings, in file
// order.
type Diagnostics []Diagnostic

// HasErrors reports whether ds holds at least one error (warnings do not
// count).
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns the error diagnostics of ds, in order.
func (ds Diagnostics) Errors() Diagnostics { return ds.filter(SeverityError) }

// Warnings returns the warning diagnostics of ds, in order.
func (ds Diagnostics) Warnings() Diagnostics { return ds.filter(SeverityWarning) }

func (ds Diagnostics) filter(s Severity) Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == s {
			out = append(out, d)
		}
	}
	return out
}

// Error joins the diagnostics, one per line, in the form
// FILE:LINE:COL: path: message.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns the error diagnostics of ds as an error, or nil when there are
// none. Use it rather than converting ds to error directly: a nil
// Diagnostics stored in an error interface is not a nil error.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ErrInvalid is matched (with errors.Is) by the error that Diagnostics.Err
// returns, so callers can tell an invalid file from an I/O failure.
var ErrInvalid = errors.New("invalid config")

// Is makes errors.Is(ds, ErrInvalid) true when ds holds an error.
func (ds Diagnostics) Is(target error) bool {
	return target == ErrInvalid && ds.HasErrors()
}
