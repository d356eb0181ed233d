package fakeapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FaultKind is what a Fault does to the calls it matches.
type FaultKind int

// Fault kinds. "Before" kinds answer without handling the call, so nothing
// is committed; "after" kinds let a write commit, then spoil the answer.
const (
	// FaultErrorBefore answers a 5xx envelope (default 500/3006) without
	// handling the call.
	FaultErrorBefore FaultKind = iota + 1
	// FaultErrorAfter handles the call (a write commits), then answers a
	// 5xx envelope; a created subscription's secret is lost.
	FaultErrorAfter
	// FaultRateLimit answers 429/1029 with Retry-After (seconds by
	// default, an HTTP date with RetryAfterHTTPDate) and, with
	// RetryAfterMS, retry-after-ms.
	FaultRateLimit
	// FaultLatency waits Delay before handling the call, or until the
	// client gives up. It combines with any other fault that fires.
	FaultLatency
	// FaultDropBefore closes the connection without answering or handling.
	FaultDropBefore
	// FaultDropAfter handles the call, then closes the connection without
	// answering.
	FaultDropAfter
	// FaultTruncate handles the call, then sends the status line, headers
	// (with the full Content-Length) and half the body, and closes the
	// connection. An empty answer (a delete's 204) is dropped instead.
	FaultTruncate
	// FaultHTML answers an HTML error page (default 502) without handling
	// the call, as a proxy in front of the API would.
	FaultHTML
	// FaultBadJSON answers 200 with well-formed JSON whose fields have the
	// wrong types (or Body), without handling the call.
	FaultBadJSON
	// FaultEnvelope200 answers HTTP 200 carrying an error envelope (inner
	// status Status, default 500/3006), without handling the call.
	FaultEnvelope200
	// FaultLatencyAfter handles the call (a write commits), then waits
	// Delay before answering, or until the client gives up: a client
	// killed in that window has its subscription and never its secret.
	// It combines with any other fault that fires, as FaultLatency does.
	FaultLatencyAfter
)

var faultNames = map[FaultKind]string{
	0:                 "none",
	FaultErrorBefore:  "error_before",
	FaultErrorAfter:   "error_after",
	FaultRateLimit:    "rate_limit",
	FaultLatency:      "latency",
	FaultDropBefore:   "drop_before",
	FaultDropAfter:    "drop_after",
	FaultTruncate:     "truncate",
	FaultHTML:         "html",
	FaultBadJSON:      "bad_json",
	FaultEnvelope200:  "envelope_200",
	FaultLatencyAfter: "latency_after",
}

// String returns the kind's snake_case name; the zero kind is "none".
func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

func (k FaultKind) after() bool {
	return k == FaultErrorAfter || k == FaultDropAfter || k == FaultTruncate
}

// Fault describes a fault to inject. It matches a call when Method, Route
// and ID each are empty or equal to the call's. A matching call fires the
// fault with Probability (0 means always, drawn from the seeded source);
// after Times firings (0 means no limit) the fault is spent and removed.
// Faults are tried in the order added: every latency fault that fires adds
// its delay, and the first other fault that fires decides the answer.
type Fault struct {
	Kind FaultKind
	// Method is an HTTP method such as "POST".
	Method string
	// Route is a route pattern such as RouteSubscription.
	Route string
	// ID restricts the fault to calls about one subscription.
	ID          string
	Times       int
	Probability float64
	// Status overrides the HTTP status (for FaultEnvelope200, the status
	// inside the envelope).
	Status int
	// Code and Message override the envelope's code and message.
	Code    int
	Message string
	// Delay is the wait of FaultLatency and FaultLatencyAfter.
	Delay time.Duration
	// RetryAfter is FaultRateLimit's requested wait; 0 means 1s.
	RetryAfter time.Duration
	// RetryAfterHTTPDate sends Retry-After as an HTTP date, rounded up to
	// the second.
	RetryAfterHTTPDate bool
	// RetryAfterMS also sends retry-after-ms.
	RetryAfterMS bool
	// RetryAfterRaw, when set, is sent verbatim as Retry-After.
	RetryAfterRaw string
	// Header holds extra answer headers, such as x-should-retry.
	Header http.Header
	// Body replaces the answer body of FaultHTML and FaultBadJSON.
	Body []byte
}

type faultState struct {
	f    Fault
	left int
}

type faults struct {
	mu   sync.Mutex
	list []*faultState
	rnd  *rand.Rand
}

// AddFault arms f. It is safe to call while requests are in flight.
func (s *Server) AddFault(f Fault) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	f.Header = f.Header.Clone()
	f.Body = append([]byte(nil), f.Body...)
	s.faults.list = append(s.faults.list, &faultState{f: f, left: f.Times})
}

// ClearFaults disarms every fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = nil
}

// Faults returns the armed faults; Times is what is left of each.
func (s *Server) Faults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]Fault, 0, len(s.faults.list))
	for _, fs := range s.faults.list {
		f := fs.f
		f.Times = fs.left
		out = append(out, f)
	}
	return out
}

// picked is what pick decided for one call.
type picked struct {
	action *Fault
	// before and after are the summed delays of the latency faults that
	// fired, before handling the call and after it.
	before, after time.Duration
	slowed        FaultKind // the last latency kind that fired, or 0
}

// pick decides which faults fire for one call: the summed delays of latency
// faults, and the first other fault.
func (fs *faults) pick(method, route, id string) (p picked) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	kept := fs.list[:0]
	for _, st := range fs.list {
		f := &st.f
		matches := (f.Method == "" || strings.EqualFold(f.Method, method)) &&
			(f.Route == "" || f.Route == route) &&
			(f.ID == "" || f.ID == id)
		isLatency := f.Kind == FaultLatency || f.Kind == FaultLatencyAfter
		if matches && (isLatency || p.action == nil) && fs.fires(f.Probability) {
			switch {
			case f.Kind == FaultLatency:
				p.before += f.Delay
				p.slowed = f.Kind
			case isLatency:
				p.after += f.Delay
				p.slowed = f.Kind
			default:
				c := *f
				p.action = &c
			}
			if f.Times > 0 {
				st.left--
				if st.left == 0 {
					continue
				}
			}
		}
		kept = append(kept, st)
	}
	clear(fs.list[len(kept):])
	fs.list = kept
	return p
}

func (fs *faults) fires(p float64) bool {
	if p <= 0 || p >= 1 {
		return true
	}
	return fs.rnd.Float64() < p
}

func (f *Fault) status(def int) int {
	if f.Status != 0 {
		return f.Status
	}
	return def
}

func (f *Fault) envelope(status int) []byte {
	code := f.Code
	if code == 0 {
		code = CodeInternal
		if status == http.StatusTooManyRequests {
			code = CodeRateLimited
		}
	}
	msg := f.Message
	if msg == "" {
		switch status {
		case http.StatusInternalServerError:
			msg = MsgInternal
		case http.StatusTooManyRequests:
			msg = MsgRateLimited
		default:
			msg = http.StatusText(status)
		}
	}
	return ErrorBody(status, code, msg)
}

// outcome is what the client gets: an answer, a dropped connection, or a
// truncated answer.
type outcome struct {
	resp     *response
	drop     bool
	truncate bool
}

func (o outcome) status() int {
	if o.drop {
		return 0
	}
	return o.resp.status
}

// send delivers o. For an answer to a create it flushes, so that a failure
// to deliver the signing secret is seen.
func (o outcome) send(w http.ResponseWriter) error {
	switch {
	case o.drop:
		drop(w)
		return nil
	case o.truncate:
		truncate(w, o.resp)
		return nil
	}
	if err := o.resp.write(w); err != nil {
		return err
	}
	if o.resp.created != "" {
		return http.NewResponseController(w).Flush()
	}
	return nil
}

// before is the outcome of a before-kind fault: the call is not handled.
func (s *Server) before(f *Fault, method, route string) outcome {
	resp := &response{header: f.Header.Clone()}
	if resp.header == nil {
		resp.header = http.Header{}
	}
	switch f.Kind {
	case FaultDropBefore:
		return outcome{drop: true}
	case FaultRateLimit:
		resp.status = http.StatusTooManyRequests
		resp.body = f.envelope(resp.status)
		s.retryAfter(resp.header, f)
	case FaultHTML:
		resp.status = f.status(http.StatusBadGateway)
		resp.body = f.Body
		if len(resp.body) == 0 {
			resp.body = fmt.Appendf(nil, "<html>\r\n<head><title>%[1]d %[2]s</title></head>\r\n<body>\r\n<center><h1>%[1]d %[2]s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
				resp.status, http.StatusText(resp.status))
		}
		resp.header.Set("Content-Type", "text/html; charset=utf-8")
	case FaultBadJSON:
		resp.status = f.status(http.StatusOK)
		resp.body = f.Body
		if len(resp.body) == 0 {
			resp.body = wrongTypes(method, route)
		}
	case FaultEnvelope200:
		resp.status = http.StatusOK
		resp.body = f.envelope(f.status(http.StatusInternalServerError))
	default: // FaultErrorBefore
		resp.status = f.status(http.StatusInternalServerError)
		resp.body = f.envelope(resp.status)
	}
	return outcome{resp: resp}
}

// after is the outcome of an after-kind fault for a handled call.
func (s *Server) after(f *Fault, handled *response) outcome {
	switch f.Kind {
	case FaultDropAfter:
		return outcome{drop: true}
	case FaultTruncate:
		if len(handled.body) == 0 {
			return outcome{drop: true}
		}
		return outcome{resp: handled, truncate: true}
	default: // FaultErrorAfter
		status := f.status(http.StatusInternalServerError)
		return outcome{resp: &response{status: status, header: f.Header.Clone(), body: f.envelope(status)}}
	}
}

func (s *Server) retryAfter(h http.Header, f *Fault) {
	d := f.RetryAfter
	if d <= 0 {
		d = time.Second
	}
	switch {
	case f.RetryAfterRaw != "":
		h.Set("Retry-After", f.RetryAfterRaw)
	case f.RetryAfterHTTPDate:
		at := s.now().UTC().Add(d + time.Second - 1).Truncate(time.Second)
		h.Set("Retry-After", at.Format(http.TimeFormat))
	default:
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
	if f.RetryAfterMS {
		h.Set("Retry-After-Ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
}

// drop closes the connection without a word. When the connection cannot be
// hijacked (HTTP/2), it aborts the handler, which resets the stream.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

// truncate sends the status line, the headers with the full Content-Length
// and half the body, then closes the connection.
func truncate(w http.ResponseWriter, resp *response) {
	half := resp.body[:len(resp.body)/2]
	conn, bw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
		w.WriteHeader(resp.status)
		_, _ = w.Write(half)
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		resp.status, http.StatusText(resp.status), len(resp.body))
	_, _ = bw.Write(half)
	_ = bw.Flush()
}

// wrongTypes is a 200 body for route whose fields all have the wrong JSON
// type.
func wrongTypes(method, route string) []byte {
	const sub = `{"id":12345,"created_at":false,"is_active":"yes","subscribed_events":"message.sent",` +
		`"target_url":42,"updated_at":[],"phone_numbers":"+15551234567","environment_id":7}`
	switch {
	case route == RouteEvents:
		return []byte(`{"events":"message.sent","doc_url":7}`)
	case route == RouteSubscriptions && method == http.MethodPost:
		return []byte(sub[:len(sub)-1] + `,"signing_secret":42}`)
	case route == RouteSubscriptions:
		return []byte(`{"subscriptions":[` + sub + `]}`)
	case route == RouteSubscription:
		return []byte(sub)
	}
	return []byte(`{"subscriptions":{"id":1}}`)
}
