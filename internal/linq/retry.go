package linq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says which failed attempts are tried again and how long to
// wait between them. A zero field takes its value from DefaultRetryPolicy.
//
// The wait before retry n (n = 1 after the first failure) is drawn uniformly
// from [0, min(MaxDelay, BaseDelay·2^(n-1))) ("full jitter"), unless the
// server named a wait with Retry-After or retry-after-ms, which is then used
// as given. A server-named wait longer than MaxRetryAfter, or any wait that
// would carry the call past MaxElapsed, ends the call instead.
type RetryPolicy struct {
	// MaxAttempts is the most attempts per call, the first included; 1
	// disables retries.
	MaxAttempts int
	// BaseDelay is the backoff ceiling before the first retry; it doubles
	// with every further retry.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling.
	MaxDelay time.Duration
	// MaxElapsed caps the total time of a call, waits included.
	MaxElapsed time.Duration
	// MaxRetryAfter is the longest server-named wait that is honoured.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns the policy a Client uses unless told
// otherwise: 5 attempts, 500ms doubling up to 8s, 2m in all, and server
// requested waits of up to 1m.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:   5,
		BaseDelay:     500 * time.Millisecond,
		MaxDelay:      8 * time.Second,
		MaxElapsed:    2 * time.Minute,
		MaxRetryAfter: time.Minute,
	}
}

// withDefaults fills the zero fields of p from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	return p
}

// validate reports a policy that cannot work.
func (p RetryPolicy) validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("retry policy: max attempts %d is negative", p.MaxAttempts)
	case p.BaseDelay < 0, p.MaxDelay < 0, p.MaxElapsed < 0, p.MaxRetryAfter < 0:
		return errors.New("retry policy: durations must not be negative")
	}
	return nil
}

// Retry reasons, the bounded label values given to Observer.ObserveRetry.
const (
	reasonTimeout     = "timeout"
	reasonConnection  = "connection"
	reason408         = "status_408"
	reason429         = "status_429"
	reason5xx         = "status_5xx"
	reasonShouldRetry = "x_should_retry"
)

// neverRetried are the statuses no retry can cure, whatever the server's
// x-should-retry header says.
func neverRetried(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// shouldRetry reports whether an attempt that ended with resp or err is
// worth repeating for an idempotent request, and why (a bounded reason for
// metrics). Exactly one of resp and err is non-nil. The caller has already
// ruled out that the caller's own context ended.
//
// Retried: connection errors, timeouts, 408, 429 and 5xx (except 501), and
// any status the server marks with x-should-retry: true, except the
// statuses no retry can cure (400, 401, 403, 404, 409, 422). A response
// marked x-should-retry: false is never retried.
func shouldRetry(resp *http.Response, err error) (bool, string) {
	if err != nil {
		return retryableError(err)
	}
	status := resp.StatusCode
	if status < 300 {
		return false, ""
	}
	if neverRetried(status) {
		return false, "status " + strconv.Itoa(status)
	}
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("X-Should-Retry"))) {
	case "false":
		return false, "x-should-retry: false"
	case "true":
		if r := statusReason(status); r != "" {
			return true, r
		}
		return true, reasonShouldRetry
	}
	if r := statusReason(status); r != "" {
		return true, r
	}
	return false, "status " + strconv.Itoa(status)
}

// statusReason names the retry reason of a status retried by default, or
// "" for a status that is not.
func statusReason(status int) string {
	switch {
	case status == http.StatusRequestTimeout:
		return reason408
	case status == http.StatusTooManyRequests:
		return reason429
	case status >= 500 && status != http.StatusNotImplemented && status < 600:
		return reason5xx
	}
	return ""
}

// retryableError classifies a transport error.
func retryableError(err error) (bool, string) {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return false, "canceled"
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &verify):
		return false, "tls"
	case errors.Is(err, context.DeadlineExceeded):
		return true, reasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true, reasonTimeout
	}
	return true, reasonConnection
}

// createShouldRetry reports whether a failed create may be repeated: only
// when the request certainly did not reach the server's handler. That is a
// transport error before any connection was had (sent false), a 429, or a
// 4xx the server marks x-should-retry: true (x-should-retry: false wins
// over 429). Everything else is final, and ambiguous if it may have
// committed (see createMayHaveCommitted).
func createShouldRetry(resp *http.Response, err error, sent bool) (bool, string) {
	if err != nil {
		if sent && !serverClosedIdle(err) {
			return false, ""
		}
		return retryableError(err)
	}
	status := resp.StatusCode
	if status < 400 || status >= 500 || neverRetried(status) {
		return false, ""
	}
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("X-Should-Retry"))) {
	case "false":
		return false, ""
	case "true":
		if status == http.StatusTooManyRequests {
			return true, reason429
		}
		return true, reasonShouldRetry
	}
	if status == http.StatusTooManyRequests {
		return true, reason429
	}
	return false, ""
}

// serverClosedIdle reports net/http's errServerClosedIdle: the server
// closed a kept-alive connection while it was idle, before it read the
// request written to it, so no handler saw the request. net/http retries
// such requests itself unless they are not idempotent, and exports no
// sentinel, hence the comparison of texts.
func serverClosedIdle(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "http: server closed idle connection" {
			return true
		}
	}
	return false
}

// mayHaveCommitted reports whether a write that ended with status (0 for a
// transport error after the request was sent) may nevertheless have been
// applied: 5xx, 408, 409, no answer, and anything that is neither a success
// nor a definite refusal.
func mayHaveCommitted(status int) bool {
	switch {
	case status == 0, status == http.StatusRequestTimeout, status == http.StatusConflict:
		return true
	case status >= 400 && status < 500:
		return false
	}
	return true
}

// backoff returns the wait before the retry that follows attempt (1 after
// the first attempt failed). jitter is a number in [0, 1). When resp names
// a wait (retry-after-ms or Retry-After), that wait is returned as is and
// fromServer is true; the caller weighs it against MaxRetryAfter.
func (p RetryPolicy) backoff(attempt int, resp *http.Response, jitter float64, now time.Time) (wait time.Duration, fromServer bool) {
	if resp != nil {
		if d, ok := retryAfter(resp.Header, now); ok {
			return d, true
		}
	}
	return p.jittered(attempt, jitter), false
}

// jittered is the full-jitter exponential wait after attempt.
func (p RetryPolicy) jittered(attempt int, jitter float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceiling := p.MaxDelay
	if shift := attempt - 1; shift < 62 {
		if d := float64(p.BaseDelay) * math.Exp2(float64(shift)); d < float64(p.MaxDelay) {
			ceiling = time.Duration(d)
		}
	}
	if jitter < 0 || jitter >= 1 || math.IsNaN(jitter) {
		jitter = 1 // a broken source gets the full wait, not none
	}
	return time.Duration(jitter * float64(ceiling))
}

// retryAfter reads a server-named wait: retry-after-ms (milliseconds), or
// Retry-After as delay-seconds or an HTTP date. Negative or unparsable
// values are ignored; a date in the past means no wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && !math.IsInf(ms, 0) && ms < float64(math.MaxInt64/int64(time.Millisecond)) {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || math.IsNaN(s) || s >= float64(math.MaxInt64/int64(time.Second)) {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// sleepCtx waits for d or until ctx ends, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
