// Package fakeapi is a faithful in-memory implementation of the Linq API v3
// webhook-subscription endpoints, for tests, benchmarks, `linq-sync mock-api`
// and `linq-sync demo`.
//
// It enforces every published rule of the API (bearer auth, HTTPS target
// URLs unique per account, known event types, E.164 phone numbers, partial
// updates, the error envelope and its published codes) and makes a documented
// choice, configurable where it matters, for each unpublished one. It also
// counts calls, keeps a request log and injects faults (errors before and
// after a write commits, rate limits, latency, dropped and truncated
// connections, malformed answers), all seeded so that runs repeat.
//
// It is not a client, does not deliver webhooks, and keeps nothing on disk.
//
// # Routes
//
// The server answers exactly these paths, with or without the
// `/api/partner` prefix of the production base URL:
//
//	GET    /v3/webhook-subscriptions        list, in creation order
//	POST   /v3/webhook-subscriptions        create: 201, subscription + signing_secret
//	GET    /v3/webhook-subscriptions/{id}   retrieve
//	PUT    /v3/webhook-subscriptions/{id}   partial update
//	DELETE /v3/webhook-subscriptions/{id}   delete: 204, empty body
//	GET    /v3/webhook-events               {"events": [...], "doc_url": "..."}
//
// # Error codes
//
// Every error answer is the envelope
// {"error":{"status":N,"code":C,"message":M},"success":false}. The published
// pairs are 400/1002 (phone number not E.164), 401/2004, 403/2005, 404/2001
// and 500/3006. The API does not publish the others; this server uses
// CodeValidation (400/1001) for any other invalid field, CodeMalformedJSON
// (400/1003), CodeBodyTooLarge (413/1004), CodeMethodNotAllowed (405/1005),
// CodeDuplicateURL (Options.DuplicateURLStatus, default 409, /1009) and
// CodeRateLimited (429/1029).
//
// # Unpublished behaviour, as chosen here
//
//   - Create accepts is_active (a boolean or null) and ignores it: a new
//     subscription is always active.
//   - Unknown body fields are ignored unless Options.RejectUnknownFields.
//   - null for target_url, subscribed_events or is_active is a 400; only
//     phone_numbers gives null a meaning (no filter).
//   - Duplicate event types and phone numbers in one request are collapsed,
//     keeping the first occurrence's order.
//   - Every successful update sets updated_at to now, even when no value
//     changed.
//   - A subscription without a phone filter reads back as
//     Options.EmptyPhoneNumbers says (null by default).
//   - Authentication is checked before routing, so an unknown path without a
//     valid token is a 401, with one a 404. Injected faults act before
//     authentication, as a proxy in front of the API would.
package fakeapi

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultToken is the bearer token the server accepts when Options.Token is
// empty.
const DefaultToken = "test-token"

// EventsDocURL is the doc_url returned by GET /v3/webhook-events, as the
// official SDK declares it.
const EventsDocURL = "https://docs.linqapp.com/guides/webhooks/events"

// MaxBodyBytes caps every request body; a larger one is refused with 413.
const MaxBodyBytes = 1 << 20

// Route patterns, as used in call-count keys ("GET " + RouteSubscriptions),
// Request.Route and Fault.Route.
const (
	RouteSubscriptions = "/v3/webhook-subscriptions"
	RouteSubscription  = "/v3/webhook-subscriptions/{id}"
	RouteEvents        = "/v3/webhook-events"
)

// PartnerPrefix is the path prefix of the production base URL; requests
// under it are served as if it were absent.
const PartnerPrefix = "/api/partner"

// DefaultEventTypes is the list of event types published in @linqapp/sdk
// 0.28: the 25 of the API reference plus the two location-sharing events.
var DefaultEventTypes = []string{
	"message.sent",
	"message.received",
	"message.read",
	"message.delivered",
	"message.failed",
	"message.edited",
	"reaction.added",
	"reaction.removed",
	"participant.added",
	"participant.removed",
	"chat.created",
	"chat.group_name_updated",
	"chat.group_icon_updated",
	"chat.group_name_update_failed",
	"chat.group_icon_update_failed",
	"chat.typing_indicator.started",
	"chat.typing_indicator.stopped",
	"phone_number.status_updated",
	"call.initiated",
	"call.ringing",
	"call.answered",
	"call.ended",
	"call.failed",
	"call.declined",
	"call.no_answer",
	"location.sharing.started",
	"location.sharing.stopped",
}

// EmptyPhoneNumbers chooses how a subscription without a phone filter reads
// back. The API does not publish which form it uses (its types allow null,
// absent and []), so clients must accept all of them.
type EmptyPhoneNumbers int

const (
	// EmptyPhoneNumbersNull returns "phone_numbers": null (the default).
	EmptyPhoneNumbersNull EmptyPhoneNumbers = iota
	// EmptyPhoneNumbersArray returns "phone_numbers": [].
	EmptyPhoneNumbersArray
	// EmptyPhoneNumbersOmit leaves the field out.
	EmptyPhoneNumbersOmit
	// EmptyPhoneNumbersEcho returns the form last written: [] after an
	// update that sent [], null otherwise.
	EmptyPhoneNumbersEcho
)

// Options configures a Server. The zero value is a usable production-like
// server accepting DefaultToken.
type Options struct {
	// Token is the bearer token accepted for every call; "" means
	// DefaultToken.
	Token string
	// ReadOnlyToken, when set, is accepted for GET calls and refused with
	// 403/2005 for writes.
	ReadOnlyToken string
	// EventTypes are the event types the server accepts and lists; nil
	// means DefaultEventTypes.
	EventTypes []string
	// DuplicateURLStatus is the HTTP status of the refusal of a target_url
	// that another subscription already uses (unpublished); 0 means 409.
	DuplicateURLStatus int
	// DuplicateURLCode is the envelope code of that refusal; 0 means
	// CodeDuplicateURL.
	DuplicateURLCode int
	// EmptyPhoneNumbers chooses how "no phone filter" reads back.
	EmptyPhoneNumbers EmptyPhoneNumbers
	// OmitEnvironmentID leaves environment_id out of every answer, as
	// older API versions do. Otherwise it is null for production.
	OmitEnvironmentID bool
	// RejectUnknownFields refuses request bodies with fields the API does
	// not define (400/1001) instead of ignoring them.
	RejectUnknownFields bool
	// Seed makes ids, signing secrets and fault probabilities repeatable.
	Seed int64
	// Now is the clock for created_at, updated_at and HTTP-date
	// Retry-After values; nil means time.Now.
	Now func() time.Time
	// Latency delays every call before it is handled (see SetLatency).
	Latency time.Duration
	// MaxRequestLog bounds the request log, dropping the oldest entries;
	// 0 means unbounded.
	MaxRequestLog int
	// Logger, when set, receives one line per request (method, route,
	// status, fault, duration). Bodies, tokens and secrets are never logged.
	Logger *slog.Logger
}

// Server is the fake API. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts     Options
	token    []byte
	roToken  []byte
	events   []string
	eventSet map[string]struct{}
	dupCode  int
	dupStat  int
	evBody   []byte
	now      func() time.Time
	latency  atomic.Int64
	store    store
	faults   faults
	calls    calls
	lostMu   sync.Mutex
	lostList []string
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	s := &Server{opts: opts}
	tok := opts.Token
	if tok == "" {
		tok = DefaultToken
	}
	s.token = []byte(tok)
	if opts.ReadOnlyToken != "" {
		s.roToken = []byte(opts.ReadOnlyToken)
	}
	s.events = append([]string(nil), opts.EventTypes...)
	if opts.EventTypes == nil {
		s.events = append([]string(nil), DefaultEventTypes...)
	}
	s.eventSet = make(map[string]struct{}, len(s.events))
	for _, e := range s.events {
		s.eventSet[e] = struct{}{}
	}
	s.dupStat = opts.DuplicateURLStatus
	if s.dupStat == 0 {
		s.dupStat = http.StatusConflict
	}
	s.dupCode = opts.DuplicateURLCode
	if s.dupCode == 0 {
		s.dupCode = CodeDuplicateURL
	}
	s.now = opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	s.latency.Store(int64(opts.Latency))
	s.evBody = mustJSON(struct {
		Events []string `json:"events"`
		DocURL string   `json:"doc_url"`
	}{s.events, EventsDocURL})
	seed := uint64(opts.Seed)
	s.store.init(rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), opts)
	s.faults.rnd = rand.New(rand.NewPCG(seed, 0xd1b54a32d192ed03))
	s.calls.max = opts.MaxRequestLog
	return s
}

// EventTypes returns a copy of the event types the server accepts.
func (s *Server) EventTypes() []string { return append([]string(nil), s.events...) }

// SetLatency changes the delay applied before every call.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// LostSecrets returns, in order, the ids of subscriptions whose create
// committed but whose answer (and so signing secret) never reached the
// client, because a fault replaced it or writing it failed.
func (s *Server) LostSecrets() []string {
	s.lostMu.Lock()
	defer s.lostMu.Unlock()
	return append([]string(nil), s.lostList...)
}

func (s *Server) markLost(id string) {
	s.lostMu.Lock()
	s.lostList = append(s.lostList, id)
	s.lostMu.Unlock()
}

// matchRoute maps a request path to its route pattern and subscription id.
// ok is false for a path the API does not have.
func matchRoute(p string) (route, id string, ok bool) {
	if strings.HasPrefix(p, PartnerPrefix+"/") {
		p = p[len(PartnerPrefix):]
	}
	switch {
	case p == RouteSubscriptions:
		return RouteSubscriptions, "", true
	case p == RouteEvents:
		return RouteEvents, "", true
	case strings.HasPrefix(p, RouteSubscriptions+"/"):
		id = p[len(RouteSubscriptions)+1:]
		if id == "" || strings.Contains(id, "/") {
			return "", "", false
		}
		return RouteSubscription, id, true
	}
	return "", "", false
}

// auth classifies the Authorization header: 0 refused, 1 read-only, 2 full.
func (s *Server) auth(r *http.Request) int {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return 0
	}
	tok = strings.TrimSpace(tok)
	if subtle.ConstantTimeCompare([]byte(tok), s.token) == 1 {
		return 2
	}
	if s.roToken != nil && subtle.ConstantTimeCompare([]byte(tok), s.roToken) == 1 {
		return 1
	}
	return 0
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

func mustJSON(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// marshal encodes v without escaping &, < and >, so URLs read back as sent.
func marshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

var _ http.Handler = (*Server)(nil)
