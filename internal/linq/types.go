// Package linq is a typed client for the Linq messaging API v3 webhook
// subscription endpoints. It knows the wire format, the error envelope and a
// retry policy that never repeats a write that may have committed. It does not
// know about config files or plans.
package linq

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// DefaultBaseURL is the production API root; every path is under it.
const DefaultBaseURL = "https://api.linqapp.com/api/partner"

// Subscription is a webhook subscription as the API returns it. Unknown
// response fields are ignored.
type Subscription struct {
	ID               string   `json:"id"`
	TargetURL        string   `json:"target_url"`
	SubscribedEvents []string `json:"subscribed_events"`
	IsActive         bool     `json:"is_active"`
	// PhoneNumbers filters events to these numbers. Nil or empty means all
	// numbers; the two are equal.
	PhoneNumbers []string `json:"phone_numbers"`
	// EnvironmentID is nil for production (and for API versions that do not
	// return it).
	EnvironmentID *string   `json:"environment_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// CreateParams is the body of a create call. Create takes no is_active: a
// new subscription is always active.
type CreateParams struct {
	TargetURL        string   `json:"target_url"`
	SubscribedEvents []string `json:"subscribed_events"`
	PhoneNumbers     []string `json:"phone_numbers,omitempty"`
}

// CreatedSubscription is the answer to a create: the subscription and its
// signing secret, which the API returns this one time only.
type CreatedSubscription struct {
	Subscription
	SigningSecret Secret `json:"signing_secret"`
}

// UpdateParams is the body of an update call. Only the fields that are set
// are sent: a nil pointer (or nil SubscribedEvents) leaves the field as it is.
type UpdateParams struct {
	TargetURL *string
	// SubscribedEvents, when non-nil, is the complete new set.
	SubscribedEvents []string
	// PhoneNumbers, when non-nil, is the new filter; a pointer to an empty
	// slice removes the filter (sent as []).
	PhoneNumbers *[]string
	IsActive     *bool
}

// IsZero reports whether p would change nothing.
func (p UpdateParams) IsZero() bool {
	return p.TargetURL == nil && p.SubscribedEvents == nil && p.PhoneNumbers == nil && p.IsActive == nil
}

// Fields lists the names of the fields p sets, in wire order.
func (p UpdateParams) Fields() []string {
	var f []string
	if p.TargetURL != nil {
		f = append(f, "target_url")
	}
	if p.SubscribedEvents != nil {
		f = append(f, "subscribed_events")
	}
	if p.PhoneNumbers != nil {
		f = append(f, "phone_numbers")
	}
	if p.IsActive != nil {
		f = append(f, "is_active")
	}
	return f
}

// MarshalJSON encodes only the fields that are set.
func (p UpdateParams) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 4)
	if p.TargetURL != nil {
		m["target_url"] = *p.TargetURL
	}
	if p.SubscribedEvents != nil {
		m["subscribed_events"] = p.SubscribedEvents
	}
	if p.PhoneNumbers != nil {
		pn := *p.PhoneNumbers
		if pn == nil {
			pn = []string{}
		}
		m["phone_numbers"] = pn
	}
	if p.IsActive != nil {
		m["is_active"] = *p.IsActive
	}
	return json.Marshal(m)
}

// Secret is a signing secret. Its String, GoString, Format and JSON forms
// are redacted so that it cannot reach a log line or an error by accident;
// Reveal returns the value for writing to a secret file.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no secret was received.
func (s Secret) IsZero() bool { return s.v == "" }

const redacted = "[redacted]"

// String returns a redacted placeholder.
func (s Secret) String() string { return redacted }

// GoString returns a redacted placeholder.
func (s Secret) GoString() string { return redacted }

// MarshalJSON encodes a redacted placeholder.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// UnmarshalJSON decodes the secret from a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

// LogValue keeps the secret out of slog output: a Secret logged as an
// attribute is written as a redacted placeholder by every handler.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

var _ slog.LogValuer = Secret{}

// API is what the plan executor and the daemon need from the Linq API. The
// real Client and test doubles both satisfy it.
//
// Every method returns an error that wraps *APIError when the server
// answered with an error status; errors.Is(err, ErrNotFound) and friends
// classify it. Create never retries a request that may have reached the
// server: after such a failure IsAmbiguous(err) is true, and the caller must
// re-list before trying again.
type API interface {
	// List returns every subscription of the account.
	List(ctx context.Context) ([]Subscription, error)
	// Create creates a subscription and returns it with its signing secret.
	Create(ctx context.Context, p CreateParams) (CreatedSubscription, error)
	// Update changes the fields p sets and returns the result.
	Update(ctx context.Context, id string, p UpdateParams) (Subscription, error)
	// Delete removes a subscription. A 404 after an earlier attempt that
	// may have committed counts as success; any other 404 is ErrNotFound.
	Delete(ctx context.Context, id string) error
	// EventTypes returns the event types the API accepts.
	EventTypes(ctx context.Context) ([]string, error)
}

// Observer receives a report of every HTTP attempt the client makes, for
// metrics. Endpoint is a bounded label ("subscriptions", "subscription",
// "webhook-events"); code is the HTTP status as text, or "error" when no
// response arrived. Reason is the retry cause: "timeout", "connection",
// "status_408", "status_429", "status_5xx", "x_should_retry".
type Observer interface {
	ObserveRequest(method, endpoint, code string, d time.Duration)
	ObserveRetry(reason string)
}
