package fakeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MockPrefix starts the paths of Mock's control endpoints, which the real
// API does not have.
const MockPrefix = "/_mock/"

// Mock is the fake API as a tool for people (linq-sync mock-api): the
// Server, a request log readable from outside a Go test (JSON lines to a
// writer, and GET /_mock/requests), and faults armed over HTTP:
//
//	GET    /_mock/requests   {"requests": [...], "calls": {"METHOD ROUTE": n}, "writes": n}
//	DELETE /_mock/requests   empty the log and zero the counts (204)
//	GET    /_mock/faults     the armed faults, as FaultSpecs
//	POST   /_mock/faults     arm a FaultSpec, or an array of them (201)
//	DELETE /_mock/faults     disarm every fault (204)
//
// Control calls need no token and are neither counted nor logged. Logged
// bodies have every secret-like value redacted.
type Mock struct {
	srv *Server
	now func() time.Time

	mu   sync.Mutex
	reqs []LoggedRequest
	out  io.Writer
	err  error // the first error writing to out
}

// LoggedRequest is one API call in Mock's log.
type LoggedRequest struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Status is the status sent; 0 when no answer was sent (a dropped
	// connection, a client that gave up).
	Status int `json:"status"`
	// Body is the request body with secrets redacted: JSON as it was sent,
	// otherwise a string saying how many bytes came; absent when empty.
	Body json.RawMessage `json:"body,omitempty"`
}

// NewMock wraps srv. Each API call is written to out (nil: nowhere) as
// one JSON line before its answer leaves, so that a client holding its
// answer finds the call in the log.
func NewMock(srv *Server, out io.Writer) *Mock {
	now := srv.opts.Now
	if now == nil {
		now = time.Now
	}
	return &Mock{srv: srv, out: out, now: now}
}

// Server returns the wrapped Server.
func (m *Mock) Server() *Server { return m.srv }

// Requests returns the log since the start or the last reset.
func (m *Mock) Requests() []LoggedRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reqs)
}

// LogErr returns the first error met writing the request log.
func (m *Mock) LogErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *Mock) record(e LoggedRequest) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reqs = append(m.reqs, e)
	if m.out == nil || m.err != nil {
		return
	}
	line, err := json.Marshal(e)
	if err == nil {
		_, err = m.out.Write(append(line, '\n'))
	}
	m.err = err
}

// ServeHTTP serves the control endpoints and passes everything else to the
// Server, logging it.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, MockPrefix) {
		m.control(w, r)
		return
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			// Let the Server answer the broken body as it does.
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		} else {
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		body = b
	}
	lw := &logWriter{ResponseWriter: w}
	lw.log = func(status int) {
		m.record(LoggedRequest{Time: m.now().UTC(), Method: r.Method, Path: r.URL.Path, Status: status, Body: redactBody(body)})
	}
	defer lw.done()
	m.srv.ServeHTTP(lw, r)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// logWriter logs its call once: when the status is sent, or at the end.
type logWriter struct {
	http.ResponseWriter
	log    func(status int)
	logged bool
}

func (w *logWriter) once(status int) {
	if !w.logged {
		w.logged = true
		w.log(status)
	}
}

func (w *logWriter) WriteHeader(code int) {
	w.once(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.once(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (the Server's
// dropped and truncated answers hijack it).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *logWriter) done() { w.once(0) }

// secretKeys are the JSON keys whose values a logged body never shows.
var secretKeys = []string{"secret", "token", "password", "authorization", "api_key"}

// redactBody returns body for the log, with the value of every key that
// names a secret replaced by "[redacted]".
func redactBody(body []byte) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		b, _ := json.Marshal(fmt.Sprintf("(%d bytes, not JSON)", len(body)))
		return b
	}
	b, err := json.Marshal(redact(v))
	if err != nil {
		return nil
	}
	return b
}

func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			lk := strings.ToLower(k)
			if slices.ContainsFunc(secretKeys, func(s string) bool { return strings.Contains(lk, s) }) {
				x[k] = "[redacted]"
				continue
			}
			x[k] = redact(val)
		}
	case []any:
		for i := range x {
			x[i] = redact(x[i])
		}
	}
	return v
}

// control serves the /_mock/ endpoints.
func (m *Mock) control(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, MockPrefix) {
	case "requests":
		switch r.Method {
		case http.MethodGet:
			calls := m.srv.Calls()
			if calls == nil {
				calls = map[string]int{}
			}
			reqs := m.Requests()
			if reqs == nil {
				reqs = []LoggedRequest{}
			}
			writeJSON(w, http.StatusOK, map[string]any{"requests": reqs, "calls": calls, "writes": m.srv.Writes()})
		case http.MethodDelete:
			m.srv.ResetCalls()
			m.mu.Lock()
			m.reqs = nil
			m.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			controlError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
		}
	case "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, m.faultSpecs())
		case http.MethodPost:
			specs, err := decodeFaultSpecs(r.Body)
			if err != nil {
				controlError(w, http.StatusBadRequest, err.Error())
				return
			}
			for _, f := range specs {
				m.srv.AddFault(f)
			}
			writeJSON(w, http.StatusCreated, m.faultSpecs())
		case http.MethodDelete:
			m.srv.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			controlError(w, http.StatusMethodNotAllowed, "use GET, POST or DELETE")
		}
	default:
		controlError(w, http.StatusNotFound, "control endpoints: /_mock/requests, /_mock/faults")
	}
}

func (m *Mock) faultSpecs() []FaultSpec {
	fs := m.srv.Faults()
	out := make([]FaultSpec, 0, len(fs))
	for _, f := range fs {
		out = append(out, specOf(f))
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// FaultSpec is a Fault as people write it: in the body of POST
// /_mock/faults, and as KIND,key=value,... in mock-api --fault. Kind is
// a FaultKind's name (error_before, rate_limit, ...); Delay and RetryAfter
// are Go durations ("2s").
type FaultSpec struct {
	Kind        string  `json:"kind"`
	Method      string  `json:"method,omitempty"`
	Route       string  `json:"route,omitempty"`
	ID          string  `json:"id,omitempty"`
	Times       int     `json:"times,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	Status      int     `json:"status,omitempty"`
	Code        int     `json:"code,omitempty"`
	Message     string  `json:"message,omitempty"`
	Delay       string  `json:"delay,omitempty"`
	RetryAfter  string  `json:"retry_after,omitempty"`
	// RetryAfterHTTPDate and RetryAfterMS choose the forms of the rate
	// limit's wait.
	RetryAfterHTTPDate bool `json:"retry_after_http_date,omitempty"`
	RetryAfterMS       bool `json:"retry_after_ms,omitempty"`
}

// FaultKindNames lists the names of the fault kinds, for help texts and
// completion.
func FaultKindNames() []string {
	out := make([]string, 0, len(faultNames))
	for k, n := range faultNames {
		if k != 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Fault returns the Fault s describes, or an error naming what is wrong.
func (s FaultSpec) Fault() (Fault, error) {
	var f Fault
	for k, n := range faultNames {
		if k != 0 && n == s.Kind {
			f.Kind = k
		}
	}
	if f.Kind == 0 {
		return f, fmt.Errorf("fault kind %q: want one of %s", s.Kind, strings.Join(FaultKindNames(), ", "))
	}
	switch s.Route {
	case "", RouteSubscriptions, RouteSubscription, RouteEvents:
	default:
		return f, fmt.Errorf("fault route %q: want %s, %s or %s", s.Route, RouteSubscriptions, RouteSubscription, RouteEvents)
	}
	if s.Times < 0 {
		return f, fmt.Errorf("fault times %d: want 0 (always) or more", s.Times)
	}
	if s.Probability < 0 || s.Probability > 1 {
		return f, fmt.Errorf("fault probability %v: want between 0 and 1", s.Probability)
	}
	var err error
	if f.Delay, err = parseSpecDuration("delay", s.Delay); err != nil {
		return f, err
	}
	if f.RetryAfter, err = parseSpecDuration("retry_after", s.RetryAfter); err != nil {
		return f, err
	}
	f.Method, f.Route, f.ID = strings.ToUpper(s.Method), s.Route, s.ID
	f.Times, f.Probability = s.Times, s.Probability
	f.Status, f.Code, f.Message = s.Status, s.Code, s.Message
	f.RetryAfterHTTPDate, f.RetryAfterMS = s.RetryAfterHTTPDate, s.RetryAfterMS
	return f, nil
}

func parseSpecDuration(key, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("fault %s %q: want a duration such as 2s", key, v)
	}
	return d, nil
}

func specOf(f Fault) FaultSpec {
	s := FaultSpec{
		Kind: f.Kind.String(), Method: f.Method, Route: f.Route, ID: f.ID, Times: f.Times,
		Probability: f.Probability, Status: f.Status, Code: f.Code, Message: f.Message,
		RetryAfterHTTPDate: f.RetryAfterHTTPDate, RetryAfterMS: f.RetryAfterMS,
	}
	if f.Delay > 0 {
		s.Delay = f.Delay.String()
	}
	if f.RetryAfter > 0 {
		s.RetryAfter = f.RetryAfter.String()
	}
	return s
}

// decodeFaultSpecs reads one FaultSpec or an array of them, refusing
// unknown keys, and converts them all before any is armed.
func decodeFaultSpecs(r io.Reader) ([]Fault, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	var specs []FaultSpec
	b = bytes.TrimSpace(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if len(b) > 0 && b[0] == '[' {
		err = dec.Decode(&specs)
	} else {
		var s FaultSpec
		err = dec.Decode(&s)
		specs = []FaultSpec{s}
	}
	if err != nil {
		return nil, fmt.Errorf("fault: %v", err)
	}
	out := make([]Fault, 0, len(specs))
	for _, s := range specs {
		f, err := s.Fault()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseFaultSpec parses KIND[,key=value...], the form of mock-api --fault,
// with the keys of FaultSpec's JSON (method, route, id, times,
// probability, status, code, message, delay, retry_after,
// retry_after_http_date, retry_after_ms).
func ParseFaultSpec(text string) (Fault, error) {
	parts := strings.Split(text, ",")
	s := FaultSpec{Kind: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: %q is not key=value", text, p)
		}
		var err error
		switch k {
		case "method":
			s.Method = v
		case "route":
			s.Route = v
		case "id":
			s.ID = v
		case "message":
			s.Message = v
		case "delay":
			s.Delay = v
		case "retry_after":
			s.RetryAfter = v
		case "times":
			s.Times, err = strconv.Atoi(v)
		case "status":
			s.Status, err = strconv.Atoi(v)
		case "code":
			s.Code, err = strconv.Atoi(v)
		case "probability":
			s.Probability, err = strconv.ParseFloat(v, 64)
		case "retry_after_http_date":
			s.RetryAfterHTTPDate, err = strconv.ParseBool(v)
		case "retry_after_ms":
			s.RetryAfterMS, err = strconv.ParseBool(v)
		default:
			return Fault{}, fmt.Errorf("fault %q: unknown key %q", text, k)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %w", text, k, errors.Unwrap(err))
		}
	}
	f, err := s.Fault()
	if err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", text, err)
	}
	return f, nil
}
