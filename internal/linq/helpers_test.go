package linq

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testToken is the token every test client sends; no error or log line may
// ever contain it.
const testToken = "tok-TOPSECRET-0123456789"

// step is one scripted answer of a scripted server.
type step struct {
	status int
	header map[string]string
	body   string
	// drop closes the connection after reading the request, without answering.
	drop bool
	// raw is written to the connection as is, then the connection is closed
	// (for answers cut short).
	raw string
	// hang waits until the client gives up on the request.
	hang bool
}

// seenRequest is a request as the scripted server received it.
type seenRequest struct {
	method string
	path   string
	header http.Header
	body   string
}

// scripted is an HTTP server that answers each request with the next step
// of its script and records what it received.
type scripted struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	steps []step
	reqs  []seenRequest
	// arrived receives one value per request, when it has been read.
	arrived chan struct{}
}

func newScripted(t *testing.T, steps ...step) *scripted {
	t.Helper()
	s := &scripted{t: t, steps: steps, arrived: make(chan struct{}, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, seenRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: string(body)})
	var st step
	ok := len(s.steps) > 0
	if ok {
		st, s.steps = s.steps[0], s.steps[1:]
	}
	s.mu.Unlock()
	s.arrived <- struct{}{}
	if !ok {
		s.t.Errorf("unscripted request %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	switch {
	case st.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case st.drop || st.raw != "":
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			s.t.Errorf("hijack: %v", err)
			return
		}
		if st.raw != "" {
			buf.WriteString(st.raw)
			buf.Flush()
		}
		conn.Close()
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" && st.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(st.status)
	io.WriteString(w, st.body)
}

// requests returns what the server received so far.
func (s *scripted) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.reqs...)
}

// sleeper records the waits asked for instead of waiting, and advances a
// fake clock by them.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
	now   time.Time
	// onSleep, when set, runs on every wait (before it is recorded).
	onSleep func(n int)
}

func newSleeper() *sleeper {
	return &sleeper{now: time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)}
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.now = s.now.Add(d)
	n := len(s.waits)
	hook := s.onSleep
	s.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return ctx.Err()
}

func (s *sleeper) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// observed is an Observer that records what it is told.
type observed struct {
	mu       sync.Mutex
	requests []string // "METHOD endpoint code"
	retries  []string
}

func (o *observed) ObserveRequest(method, endpoint, code string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, method+" "+endpoint+" "+code)
}

func (o *observed) ObserveRetry(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, reason)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness bundles a client with the fakes that observe it.
type harness struct {
	c     *Client
	sleep *sleeper
	obs   *observed
	logs  *syncBuffer
}

// newHarness returns a client for baseURL whose waits are recorded rather
// than waited, with jitter fixed at 0.5, a fresh connection per attempt (so
// attempt counts are exact), and debug logs captured.
func newHarness(t *testing.T, baseURL string, opts ...Option) *harness {
	t.Helper()
	h := &harness{sleep: newSleeper(), obs: &observed{}, logs: &syncBuffer{}}
	base := []Option{
		WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
		WithSleep(h.sleep.sleep),
		WithClock(h.sleep.clock),
		WithRand(func() float64 { return 0.5 }),
		WithObserver(h.obs),
		WithLogger(slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithAttemptTimeout(2 * time.Second),
	}
	c, err := NewClient(baseURL, testToken, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	h.c = c
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), testToken) {
			t.Errorf("the token appears in the logs:\n%s", h.logs.String())
		}
	})
	return h
}

// closedAddr returns a 127.0.0.1 address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// checkNoSecrets fails the test if err's text holds the token or a
// signing secret.
func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range []string{testToken, "TOPSECRET", "whsec_"} {
		if strings.Contains(msg, s) {
			t.Errorf("error text holds %q: %s", s, msg)
		}
	}
}

// Bodies used by many tests.
const (
	subA = `{"id":"sub-a","target_url":"https://hooks.example.com/a","subscribed_events":["message.received"],"is_active":true,"phone_numbers":null,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05.123Z"}`
	subB = `{"id":"sub-b","target_url":"https://hooks.example.com/b?version=2026-02-03","subscribed_events":["message.sent","message.read"],"is_active":false,"phone_numbers":["+15551234567"],"environment_id":"env-1","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","future_field":{"x":1}}`

	listAB      = `{"subscriptions":[` + subA + `,` + subB + `]}`
	createdBody = `{"id":"sub-new","target_url":"https://hooks.example.com/new","subscribed_events":["message.received"],"is_active":true,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","signing_secret":"whsec_c2VjcmV0c2VjcmV0"}`

	envelope500 = `{"error":{"status":500,"code":3006,"message":"Internal server error"},"success":false}`
	envelope401 = `{"error":{"status":401,"code":2004,"message":"Unauthorized - missing or invalid authentication token"},"success":false}`
	envelope403 = `{"error":{"status":403,"code":2005,"message":"Access denied - insufficient permissions for this resource"},"success":false}`
	envelope404 = `{"error":{"status":404,"code":2001,"message":"Resource not found"},"success":false}`
	envelope400 = `{"error":{"status":400,"code":1002,"message":"Phone number must be in E.164 format"},"success":false}`
)

// ok200 is a 200 answer with body.
func ok200(body string) step { return step{status: http.StatusOK, body: body} }

// fail is an error answer with the published envelope for status.
func fail(status int) step {
	body := map[int]string{400: envelope400, 401: envelope401, 403: envelope403, 404: envelope404}[status]
	if body == "" {
		if status >= 500 {
			body = envelope500
		} else {
			body = `{"error":{"message":"` + http.StatusText(status) + `"},"success":false}`
		}
	}
	return step{status: status, body: body}
}

// withHeader returns st with header k set to v.
func withHeader(st step, k, v string) step {
	h := map[string]string{k: v}
	for kk, vv := range st.header {
		h[kk] = vv
	}
	st.header = h
	return st
}
