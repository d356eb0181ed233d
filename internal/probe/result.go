package probe

import (
	"fmt"
	"net/http"
	"time"
)

// Kind is what a probe showed about an endpoint. Its values are printed as
// they are, in text and JSON output and in metric labels.
type Kind string

// The kinds of result.
const (
	// Verified: the valid probe got 2xx and the forged one 4xx.
	Verified Kind = "verified"
	// NotVerifying: the forged probe got 2xx; the receiver accepts anything.
	NotVerifying Kind = "not-verifying"
	// RejectsValid: the valid probe got 401 or 403; the receiver holds
	// another secret (or its clock is off).
	RejectsValid Kind = "rejects-valid"
	// RejectsProbe: the valid probe got another 4xx (400, 404, 405, 422...):
	// a wrong path, or a receiver that refuses event types it does not know.
	RejectsProbe Kind = "rejects-probe"
	// Redirects: the valid probe got a 3xx, which is not followed.
	Redirects Kind = "redirects"
	// Inconclusive: the valid probe got 2xx but the forged one got neither
	// 2xx nor 4xx (5xx, a redirect, no answer), so whether the receiver
	// checks signatures is unknown.
	Inconclusive Kind = "inconclusive"
	// Unreachable: no answer to the valid probe (connect error, TLS failure,
	// timeout) or a 5xx, 408 or 429.
	Unreachable Kind = "unreachable"
	// NotHTTPS: the target URL is not an https URL; nothing was sent.
	NotHTTPS Kind = "not-https"
	// Skipped: no usable signing secret is held; nothing was sent.
	Skipped Kind = "skipped"
)

// Kinds lists every Kind, in the order summaries show them.
var Kinds = []Kind{Verified, NotVerifying, RejectsValid, RejectsProbe, Redirects, Inconclusive, Unreachable, NotHTTPS, Skipped}

// Result is what probing one endpoint showed.
type Result struct {
	Name           string `json:"name"`
	SubscriptionID string `json:"subscription_id"`
	TargetURL      string `json:"target_url"`
	Result         Kind   `json:"result"`
	// Hint says what to do; empty for verified.
	Hint string `json:"hint,omitempty"`
	// Valid and Forged are the answers to the two probes; nil when the
	// probe was not sent.
	Valid  *Answer `json:"valid,omitempty"`
	Forged *Answer `json:"forged,omitempty"`
}

// Probed reports whether requests were sent (the result is not skipped
// and the URL was acceptable).
func (r Result) Probed() bool { return r.Result != Skipped && r.Result != NotHTTPS }

// AllVerified reports whether every endpoint that should have been probed
// is verified: skipped results do not count, a not-https one fails. This is
// the probe command's exit status (0 when true, 1 otherwise).
func AllVerified(rs []Result) bool {
	for _, r := range rs {
		if r.Result != Verified && r.Result != Skipped {
			return false
		}
	}
	return true
}

func is2xx(s int) bool { return s >= 200 && s <= 299 }
func is3xx(s int) bool { return s >= 300 && s <= 399 }
func is4xx(s int) bool { return s >= 400 && s <= 499 }

// classify names what the two answers show. forged is nil when the valid
// probe got no answer at all and the forged one was not sent.
func classify(valid Answer, forged *Answer, timeout time.Duration) (Kind, string) {
	if valid.failure != failNone {
		return Unreachable, noAnswerHint("the signed probe", valid, timeout)
	}
	// Accepting a forged delivery is the worst finding, whatever the
	// valid probe got.
	if forged != nil && forged.failure == failNone && is2xx(forged.Status) {
		return NotVerifying, fmt.Sprintf("the receiver accepted a probe with a forged signature (HTTP %d): it does not check webhook-signature, so anyone can send it events; verify every delivery with the subscription's signing secret (Standard Webhooks) and answer 401 when it does not match", forged.Status)
	}
	v := valid.Status
	switch {
	case is2xx(v):
		if forged != nil && forged.failure == failNone && is4xx(forged.Status) {
			return Verified, ""
		}
		// forged is never nil here: it is sent whenever the valid probe
		// got an answer.
		what := fmt.Sprintf("HTTP %d", forged.Status)
		if forged.failure != failNone {
			what = noAnswerHint("it", *forged, timeout)
		}
		return Inconclusive, fmt.Sprintf("the signed probe was accepted (HTTP %d) but the forged one got %s, so it is unknown whether the receiver checks signatures; a receiver should answer 4xx (401) to a bad signature; probe again", v, what)
	case v == http.StatusUnauthorized || v == http.StatusForbidden:
		return RejectsValid, fmt.Sprintf("the receiver refused a correctly signed probe with HTTP %d: it holds another signing secret than the one linq-sync holds for this subscription (an old one, or another subscription's), or its clock is more than 5 minutes off; give it the current secret", v)
	case v == http.StatusRequestTimeout || v == http.StatusTooManyRequests:
		return Unreachable, fmt.Sprintf("the receiver answered HTTP %d (busy); Linq retries such deliveries for about 25 minutes, then drops them; probe again later", v)
	case v >= 500:
		return Unreachable, fmt.Sprintf("the receiver answered HTTP %d to a correctly signed probe: it fails while handling it (or a proxy before it does); Linq retries such deliveries for about 25 minutes, then drops them", v)
	case is3xx(v):
		loc := valid.Location
		if loc == "" {
			loc = "none"
		}
		return Redirects, fmt.Sprintf("the receiver answered HTTP %d (Location: %s); linq-sync follows no redirect with a signed request: set target_url to the final URL", v, loc)
	case v == http.StatusNotFound || v == http.StatusGone:
		return RejectsProbe, fmt.Sprintf("nothing receives webhooks at that URL (HTTP %d): check target_url's host and path", v)
	case v == http.StatusMethodNotAllowed:
		return RejectsProbe, "the URL does not accept POST (HTTP 405): check target_url's path"
	case v == http.StatusBadRequest || v == http.StatusUnprocessableEntity:
		return RejectsProbe, fmt.Sprintf("the receiver refused a correctly signed probe with HTTP %d: either it answers %d to signatures it cannot verify (then it holds another secret), or it refuses event types it does not know; it should answer 2xx to unknown types such as %s", v, v, EventType)
	default:
		return RejectsProbe, fmt.Sprintf("the receiver refused a correctly signed probe with HTTP %d", v)
	}
}

func noAnswerHint(what string, a Answer, timeout time.Duration) string {
	switch a.failure {
	case failTimeout:
		return fmt.Sprintf("%s got no answer within %s", what, timeout)
	case failTLS:
		return fmt.Sprintf("%s failed the TLS handshake (%s): the certificate must be valid for the host and chain to a trusted root (SSL_CERT_FILE sets the roots linq-sync trusts)", what, a.Error)
	default:
		return fmt.Sprintf("%s could not be delivered (%s): is the receiver running, and are the URL's host and port right?", what, a.Error)
	}
}
