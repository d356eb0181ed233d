package linq

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors; an *APIError matches the one for its status with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrUnauthorized = errors.New("unauthorized: check the API token")
	ErrForbidden    = errors.New("forbidden: check the API token's permissions")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrRateLimited  = errors.New("rate limited")
	ErrServer       = errors.New("server error")
	// ErrAmbiguous marks a failed write that may nevertheless have been
	// committed by the server (timeout, dropped connection, 5xx, conflict).
	ErrAmbiguous = errors.New("outcome unknown: the write may have been applied")
	// ErrMalformedResponse marks a success status whose body could not be
	// understood (not JSON, truncated, wrong types, missing ids, or an error
	// envelope with success:false).
	ErrMalformedResponse = errors.New("malformed answer")
)

// APIError is an error answer from the API, decoded from its envelope
// {"error":{"status","code","message"},"success":false}.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Code    int
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s %s: %d (code %d): %s", e.Method, e.Path, e.Status, e.Code, msg)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, msg)
}

// Is matches the sentinel for e's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// IsAmbiguous reports whether err is a write failure whose effect on the
// server is unknown.
func IsAmbiguous(err error) bool { return errors.Is(err, ErrAmbiguous) }

// IsAuth reports whether err is a 401 or 403, which no retry can cure.
func IsAuth(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden)
}
