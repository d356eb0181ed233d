package fakeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

var (
	uuidV4RE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	secretRE = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)
)

const subsPath = "/v3/webhook-subscriptions"

// api is a minimal raw HTTP client for the fake, built on net/http only.
type api struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// start serves a new fake on 127.0.0.1 and returns it with a client that
// opens a fresh connection per call, so that the transport never retries
// a call on a reused connection by itself.
func start(t *testing.T, opts fakeapi.Options) (*fakeapi.Server, *api) {
	t.Helper()
	srv := fakeapi.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	tok := opts.Token
	if tok == "" {
		tok = fakeapi.DefaultToken
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return srv, &api{t: t, base: ts.URL, token: tok, hc: hc}
}

func (a *api) withToken(tok string) *api {
	c := *a
	c.token = tok
	return &c
}

// do sends body (raw JSON text, or none when "") and reads the answer.
func (a *api) do(method, path, body string) result {
	return a.doCtx(context.Background(), method, path, body)
}

func (a *api) doCtx(ctx context.Context, method, path, body string) result {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		a.t.Fatalf("new request: %v", err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// wireSub mirrors the API's subscription with raw optional fields so that
// null, [] and absence can be told apart.
type wireSub struct {
	ID               string   `json:"id"`
	TargetURL        string   `json:"target_url"`
	SubscribedEvents []string `json:"subscribed_events"`
	IsActive         bool     `json:"is_active"`
	CreatedAt        string   `json:"created_at"`
	UpdatedAt        string   `json:"updated_at"`
	SigningSecret    *string  `json:"signing_secret"`
	PhoneNumbers     json.RawMessage
	EnvironmentID    json.RawMessage
	raw              map[string]json.RawMessage
}

func decodeSub(t *testing.T, b []byte) wireSub {
	t.Helper()
	var s wireSub
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("decode subscription %s: %v", b, err)
	}
	if err := json.Unmarshal(b, &s.raw); err != nil {
		t.Fatalf("decode subscription %s: %v", b, err)
	}
	s.PhoneNumbers = s.raw["phone_numbers"]
	s.EnvironmentID = s.raw["environment_id"]
	return s
}

func (a *api) create(body string) wireSub {
	a.t.Helper()
	res := a.do(http.MethodPost, subsPath, body)
	if res.err != nil || res.status != http.StatusCreated {
		a.t.Fatalf("create %s: status %d, err %v, body %s", body, res.status, res.err, res.body)
	}
	return decodeSub(a.t, res.body)
}

func (a *api) list() []wireSub {
	a.t.Helper()
	res := a.do(http.MethodGet, subsPath, "")
	if res.err != nil || res.status != http.StatusOK {
		a.t.Fatalf("list: status %d, err %v, body %s", res.status, res.err, res.body)
	}
	var env struct {
		Subscriptions []json.RawMessage `json:"subscriptions"`
	}
	if err := json.Unmarshal(res.body, &env); err != nil {
		a.t.Fatalf("decode list: %v", err)
	}
	out := make([]wireSub, len(env.Subscriptions))
	for i, r := range env.Subscriptions {
		out[i] = decodeSub(a.t, r)
	}
	return out
}

type envelope struct {
	Error *struct {
		Status  int    `json:"status"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Success *bool `json:"success"`
}

// wantError checks that res is the error envelope for status and code, and
// that its message is msg when msg is not "".
func wantError(t *testing.T, res result, status, code int, msg string) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("transport error: %v", res.err)
	}
	if res.status != status {
		t.Fatalf("status = %d, want %d (body %s)", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var env envelope
	if err := json.Unmarshal(res.body, &env); err != nil {
		t.Fatalf("decode envelope %s: %v", res.body, err)
	}
	if env.Error == nil || env.Success == nil || *env.Success {
		t.Fatalf("not an error envelope: %s", res.body)
	}
	if env.Error.Status != status || env.Error.Code != code {
		t.Errorf("envelope = %d/%d, want %d/%d (%s)", env.Error.Status, env.Error.Code, status, code, res.body)
	}
	if msg != "" && env.Error.Message != msg {
		t.Errorf("message = %q, want %q", env.Error.Message, msg)
	}
	if env.Error.Message == "" {
		t.Errorf("empty message in %s", res.body)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 2, 3, 10, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const okBody = `{"target_url":"https://hooks.example.com/a","subscribed_events":["message.sent"]}`
