package linq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestNewClientValidatesBaseURLAndToken(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		token   string
		wantErr string
	}{
		{name: "http loopback", base: "http://127.0.0.1:4010", token: "t"},
		{name: "https with path and trailing slash", base: "https://api.linqapp.com/api/partner/", token: "t"},
		{name: "default base", base: DefaultBaseURL, token: "t"},
		{name: "other scheme", base: "ftp://example.com", token: "t", wantErr: `scheme "ftp"`},
		{name: "no scheme", base: "127.0.0.1:4010", token: "t", wantErr: "must start with http:// or https://"},
		{name: "empty", base: "", token: "t", wantErr: "must start with http:// or https://"},
		{name: "no host", base: "http:///v3", token: "t", wantErr: "no host"},
		{name: "credentials in URL", base: "https://user:hunter2@example.com", token: "t", wantErr: "credentials"},
		{name: "query", base: "https://example.com/?a=1", token: "t", wantErr: "query"},
		{name: "empty token", base: "https://example.com", token: "", wantErr: "token is empty"},
		{name: "token with newline", base: "https://example.com", token: testToken + "\n", wantErr: "whitespace"},
		{name: "token with space", base: "https://example.com", token: "Bearer " + testToken, wantErr: "whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.base, tt.token)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("NewClient(%q) = %v, %v; want a client", tt.base, c, err)
				}
				if strings.HasSuffix(c.base, "/") {
					t.Errorf("base %q keeps a trailing slash", c.base)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient(%q) succeeded; want error containing %q", tt.base, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q quotes a credential", err)
			}
		})
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"negative attempts", WithRetryPolicy(RetryPolicy{MaxAttempts: -1})},
		{"negative delay", WithRetryPolicy(RetryPolicy{BaseDelay: -time.Second})},
		{"zero attempt timeout", WithAttemptTimeout(0)},
		{"two-line user agent", WithUserAgent("a\r\nX-Evil: 1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient("http://127.0.0.1:1", "t", tt.opt); err == nil {
				t.Error("NewClient succeeded; want an error")
			}
		})
	}
}

func TestClientSendsAuthAndJSONHeadersUnderTheBasePath(t *testing.T) {
	s := newScripted(t, ok200(listAB), step{status: 201, body: createdBody}, ok200(subA))
	h := newHarness(t, s.srv.URL+"/api/partner/", WithVersion("1.2.3"))
	ctx := context.Background()
	if _, err := h.c.List(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Create(ctx, CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.received"}}); err != nil {
		t.Fatal(err)
	}
	active := true
	if _, err := h.c.Update(ctx, "sub-a", UpdateParams{IsActive: &active}); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	wantPaths := []string{"GET /api/partner/v3/webhook-subscriptions", "POST /api/partner/v3/webhook-subscriptions", "PUT /api/partner/v3/webhook-subscriptions/sub-a"}
	for i, r := range reqs {
		if got := r.method + " " + r.path; got != wantPaths[i] {
			t.Errorf("request %d = %q, want %q", i, got, wantPaths[i])
		}
		for k, want := range map[string]string{
			"Authorization": "Bearer " + testToken,
			"Accept":        "application/json",
			"User-Agent":    "linq-sync/1.2.3",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s %s: header %s = %q, want %q", r.method, r.path, k, got, want)
			}
		}
		wantCT := "application/json"
		if r.method == http.MethodGet {
			wantCT = ""
		}
		if got := r.header.Get("Content-Type"); got != wantCT {
			t.Errorf("%s: Content-Type = %q, want %q", r.method, got, wantCT)
		}
	}
}

func TestListDecodesSubscriptionsTolerantly(t *testing.T) {
	s := newScripted(t, ok200(listAB))
	h := newHarness(t, s.srv.URL)
	got, err := h.c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env := "env-1"
	want := []Subscription{
		{
			ID: "sub-a", TargetURL: "https://hooks.example.com/a", SubscribedEvents: []string{"message.received"}, IsActive: true,
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC),
		},
		{
			ID: "sub-b", TargetURL: "https://hooks.example.com/b?version=2026-02-03", SubscribedEvents: []string{"message.sent", "message.read"},
			PhoneNumbers: []string{"+15551234567"}, EnvironmentID: &env,
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List() =\n%+v\nwant\n%+v", got, want)
	}
}

// TestRetriesOnlyWhatIsSafe drives a list call through scripted answers and
// checks the number of attempts, the waits and the outcome.
func TestRetriesOnlyWhatIsSafe(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantCalls int
		wantWaits []time.Duration
		wantIs    error  // nil: success
		wantText  string // in the error
	}{
		{name: "503 twice then success", steps: []step{fail(503), fail(503), ok200(listAB)}, wantCalls: 3,
			wantWaits: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "408 then success", steps: []step{fail(408), ok200(listAB)}, wantCalls: 2, wantWaits: []time.Duration{250 * time.Millisecond}},
		{name: "dropped connection then success", steps: []step{{drop: true}, ok200(listAB)}, wantCalls: 2, wantWaits: []time.Duration{250 * time.Millisecond}},
		{name: "body cut short then success", steps: []step{{raw: "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"subscr"}, ok200(listAB)}, wantCalls: 2,
			wantWaits: []time.Duration{250 * time.Millisecond}},
		{name: "429 waits per Retry-After seconds", steps: []step{withHeader(fail(429), "Retry-After", "7"), ok200(listAB)}, wantCalls: 2,
			wantWaits: []time.Duration{7 * time.Second}},
		{name: "429 waits per retry-after-ms", steps: []step{withHeader(fail(429), "retry-after-ms", "1500"), ok200(listAB)}, wantCalls: 2,
			wantWaits: []time.Duration{1500 * time.Millisecond}},
		{name: "418 marked x-should-retry true", steps: []step{withHeader(fail(418), "X-Should-Retry", "true"), ok200(listAB)}, wantCalls: 2,
			wantWaits: []time.Duration{250 * time.Millisecond}},
		{name: "500 five times gives up", steps: []step{fail(500), fail(500), fail(500), fail(500), fail(500)}, wantCalls: 5,
			wantWaits: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second},
			wantIs:    ErrServer, wantText: "giving up after 5 attempts: GET /v3/webhook-subscriptions: 500 (code 3006): Internal server error"},
		{name: "503 marked x-should-retry false", steps: []step{withHeader(fail(503), "X-Should-Retry", "false")}, wantCalls: 1, wantIs: ErrServer},
		{name: "501 not implemented", steps: []step{fail(501)}, wantCalls: 1, wantIs: ErrServer},
		{name: "400", steps: []step{fail(400)}, wantCalls: 1, wantIs: ErrBadRequest, wantText: "400 (code 1002): Phone number must be in E.164 format"},
		{name: "401", steps: []step{fail(401)}, wantCalls: 1, wantIs: ErrUnauthorized, wantText: "check the API token"},
		{name: "401 even marked x-should-retry true", steps: []step{withHeader(fail(401), "X-Should-Retry", "true")}, wantCalls: 1, wantIs: ErrUnauthorized},
		{name: "403", steps: []step{fail(403)}, wantCalls: 1, wantIs: ErrForbidden, wantText: "check the API token's permissions"},
		{name: "404", steps: []step{fail(404)}, wantCalls: 1, wantIs: ErrNotFound},
		{name: "409", steps: []step{fail(409)}, wantCalls: 1, wantIs: ErrConflict},
		{name: "422", steps: []step{fail(422)}, wantCalls: 1, wantIs: ErrBadRequest},
		{name: "redirect is not followed", steps: []step{{status: 302, header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}}}, wantCalls: 1,
			wantText: "302"},
		{name: "retry then a non-retryable answer", steps: []step{fail(502), fail(400)}, wantCalls: 2, wantWaits: []time.Duration{250 * time.Millisecond},
			wantIs: ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, tt.steps...)
			h := newHarness(t, s.srv.URL)
			subs, err := h.c.List(context.Background())
			t.Logf("error: %v", err)
			if got := len(s.requests()); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			if got := h.sleep.recorded(); !reflect.DeepEqual(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
			checkNoSecrets(t, err)
			if tt.wantIs == nil && tt.wantText == "" {
				if err != nil || len(subs) != 2 {
					t.Fatalf("List() = %d subscriptions, %v; want 2, nil", len(subs), err)
				}
				return
			}
			if err == nil {
				t.Fatal("List() succeeded; want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			var apiErr *APIError
			if errors.Is(err, ErrNotFound) && !errors.As(err, &apiErr) {
				t.Errorf("error %q does not wrap *APIError", err)
			}
		})
	}
}

func TestErrorAnswersBecomeAPIErrorWithRouteAndEnvelope(t *testing.T) {
	s := newScripted(t, fail(404))
	h := newHarness(t, s.srv.URL)
	active := false
	_, err := h.c.Update(context.Background(), "2f1c-id", UpdateParams{IsActive: &active})
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *APIError", err)
	}
	want := APIError{Method: "PUT", Path: "/v3/webhook-subscriptions/2f1c-id", Status: 404, Code: 2001, Message: "Resource not found"}
	if *apiErr != want {
		t.Errorf("APIError = %+v, want %+v", *apiErr, want)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %q is not ErrNotFound", err)
	}
}

func TestSafeIDsGoIntoTheRouteUnchanged(t *testing.T) {
	const id = "b2c3d4e5-f6a7-4901-8cde-f23456789012"
	s := newScripted(t, step{status: 204})
	h := newHarness(t, s.srv.URL)
	if err := h.c.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got, want := s.requests()[0].path, "/v3/webhook-subscriptions/"+id; got != want {
		t.Errorf("server saw path %q, want %q", got, want)
	}
}

func TestHTTPDateRetryAfterIsHonoured(t *testing.T) {
	sl := newSleeper()
	date := sl.now.Add(30 * time.Second).Format(http.TimeFormat)
	s := newScripted(t, withHeader(fail(503), "Retry-After", date), ok200(listAB))
	h := newHarness(t, s.srv.URL, WithSleep(sl.sleep), WithClock(sl.clock))
	if _, err := h.c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := sl.recorded(), []time.Duration{30 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestRetryAfterBeyondTheLimitGivesUpAtOnce(t *testing.T) {
	s := newScripted(t, withHeader(fail(429), "Retry-After", "3600"))
	h := newHarness(t, s.srv.URL, WithRetryPolicy(RetryPolicy{MaxRetryAfter: time.Minute}))
	_, err := h.c.List(context.Background())
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("error %v is not ErrRateLimited", err)
	}
	if want := "server asked to wait 1h0m0s, more than the 1m0s limit"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if n := len(h.sleep.recorded()); n != 0 {
		t.Errorf("waited %d times, want 0", n)
	}
}

func TestTotalTimeIsCapped(t *testing.T) {
	steps := []step{fail(503), fail(503), fail(503)}
	s := newScripted(t, steps...)
	h := newHarness(t, s.srv.URL,
		WithRand(func() float64 { return 0.99 }),
		WithRetryPolicy(RetryPolicy{MaxAttempts: 10, BaseDelay: time.Second, MaxElapsed: 2 * time.Second}))
	_, err := h.c.List(context.Background())
	if err == nil || !strings.Contains(err.Error(), "giving up after 2 attempts: the next try would pass the 2s limit") {
		t.Fatalf("error = %v; want giving up after 2 attempts at the 2s limit", err)
	}
	if got, want := h.sleep.recorded(), []time.Duration{990 * time.Millisecond}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
}

func TestContextCancelStopsAWaitPromptly(t *testing.T) {
	s := newScripted(t, withHeader(fail(429), "Retry-After", "30"))
	// The real sleep: the wait must end when the context does.
	c, err := NewClient(s.srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.arrived
		cancel()
	}()
	start := time.Now()
	_, err = c.List(ctx)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("List returned after %v; want promptly after cancel", elapsed)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v is not context.Canceled", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestCanceledContextSendsNothing(t *testing.T) {
	s := newScripted(t)
	h := newHarness(t, s.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.c.Create(ctx, CreateParams{TargetURL: "https://x.example/", SubscribedEvents: []string{"message.sent"}})
	if !errors.Is(err, context.Canceled) || IsAmbiguous(err) {
		t.Errorf("error = %v; want context.Canceled, not ambiguous", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestAttemptTimeoutIsRetriedForReads(t *testing.T) {
	s := newScripted(t, step{hang: true}, ok200(listAB))
	h := newHarness(t, s.srv.URL, WithAttemptTimeout(100*time.Millisecond))
	if _, err := h.c.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := h.obs.retries, []string{"timeout"}; !reflect.DeepEqual(got, want) {
		t.Errorf("retries = %v, want %v", got, want)
	}
}

var newSub = CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.received"}}

func TestCreateIsNotRetriedAfterAFailureThatMayHaveCommitted(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		wantIs error
	}{
		{name: "500", steps: []step{fail(500)}, wantIs: ErrServer},
		{name: "503 even marked x-should-retry true", steps: []step{withHeader(fail(503), "X-Should-Retry", "true")}, wantIs: ErrServer},
		{name: "408", steps: []step{fail(408)}},
		{name: "409 duplicate target_url", steps: []step{fail(409)}, wantIs: ErrConflict},
		{name: "dropped connection", steps: []step{{drop: true}}},
		{name: "answer cut short", steps: []step{{raw: "HTTP/1.1 201 Created\r\nContent-Length: 400\r\n\r\n{\"id\":\"sub-new\",\"signing_secret\":\"whsec_abc"}}},
		{name: "timeout", steps: []step{{hang: true}}},
		{name: "200 with truncated JSON", steps: []step{ok200(createdBody[:60])}, wantIs: ErrMalformedResponse},
		{name: "200 without signing secret", steps: []step{ok200(subA)}, wantIs: ErrMalformedResponse},
		{name: "200 with an error envelope", steps: []step{ok200(envelope500)}, wantIs: ErrMalformedResponse},
		{name: "200 HTML page quoting the secret", steps: []step{{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "<html>whsec_c2VjcmV0 TOPSECRET</html>"}},
			wantIs: ErrMalformedResponse},
		{name: "500 HTML page quoting the secret", steps: []step{{status: 500, header: map[string]string{"Content-Type": "text/html"}, body: "<html>secret is c2VjcmV0</html>"}},
			wantIs: ErrServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, tt.steps...)
			h := newHarness(t, s.srv.URL, WithAttemptTimeout(200*time.Millisecond))
			_, err := h.c.Create(context.Background(), newSub)
			t.Logf("error: %v", err)
			if n := len(s.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			if !IsAmbiguous(err) {
				t.Fatalf("error %v is not ambiguous", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error quotes the create answer: %s", err)
			}
			if len(h.obs.retries) != 0 {
				t.Errorf("retries observed: %v", h.obs.retries)
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestCreateFailsPlainlyOnADefiniteRefusal(t *testing.T) {
	tests := []struct {
		status int
		wantIs error
	}{
		{400, ErrBadRequest}, {401, ErrUnauthorized}, {403, ErrForbidden}, {404, ErrNotFound}, {422, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			s := newScripted(t, fail(tt.status))
			h := newHarness(t, s.srv.URL)
			_, err := h.c.Create(context.Background(), newSub)
			if !errors.Is(err, tt.wantIs) || IsAmbiguous(err) {
				t.Errorf("error = %v; want %v and not ambiguous", err, tt.wantIs)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
		})
	}
}

func TestCreateIsRetriedWhenTheServerCertainlyDidNotHandleIt(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantWaits []time.Duration
	}{
		{name: "429 with Retry-After", steps: []step{withHeader(fail(429), "Retry-After", "2"), {status: 201, body: createdBody}},
			wantWaits: []time.Duration{2 * time.Second}},
		{name: "429 twice", steps: []step{fail(429), fail(429), {status: 201, body: createdBody}},
			wantWaits: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "425 marked x-should-retry true", steps: []step{withHeader(fail(425), "X-Should-Retry", "true"), {status: 200, body: createdBody}},
			wantWaits: []time.Duration{250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, tt.steps...)
			h := newHarness(t, s.srv.URL)
			got, err := h.c.Create(context.Background(), newSub)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != "sub-new" || got.SigningSecret.Reveal() != "whsec_c2VjcmV0c2VjcmV0" {
				t.Errorf("Create() = %+v, secret %q", got.Subscription, got.SigningSecret.Reveal())
			}
			reqs := s.requests()
			if len(reqs) != len(tt.steps) {
				t.Fatalf("server saw %d requests, want %d", len(reqs), len(tt.steps))
			}
			want, _ := json.Marshal(newSub)
			for i, r := range reqs {
				if r.body != string(want) {
					t.Errorf("attempt %d body = %s, want %s (rewound)", i+1, r.body, want)
				}
			}
			if got := h.sleep.recorded(); !reflect.DeepEqual(got, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", got, tt.wantWaits)
			}
		})
	}
}

func TestCreateHonoursXShouldRetryFalseOn429(t *testing.T) {
	s := newScripted(t, withHeader(fail(429), "X-Should-Retry", "false"))
	h := newHarness(t, s.srv.URL)
	_, err := h.c.Create(context.Background(), newSub)
	if !errors.Is(err, ErrRateLimited) || IsAmbiguous(err) {
		t.Errorf("error = %v; want ErrRateLimited, not ambiguous", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestCreateIsRetriedAfterConnectionRefused(t *testing.T) {
	addr := closedAddr(t)
	h := newHarness(t, "http://"+addr)
	// Start listening on the refused address during the first wait.
	var (
		once sync.Once
		srv  *httptest.Server
	)
	h.sleep.onSleep = func(int) {
		once.Do(func() {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Errorf("listen on %s again: %v", addr, err)
				return
			}
			srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(201)
				w.Write([]byte(createdBody))
			}))
			srv.Listener = l
			srv.Start()
		})
	}
	t.Cleanup(func() {
		if srv != nil {
			srv.Close()
		}
	})
	got, err := h.c.Create(context.Background(), newSub)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "sub-new" {
		t.Errorf("Create() id = %q, want sub-new", got.ID)
	}
	if want := []string{"connection"}; !reflect.DeepEqual(h.obs.retries, want) {
		t.Errorf("retries = %v, want %v", h.obs.retries, want)
	}
}

func TestCreateGivesUpWhenNothingListens(t *testing.T) {
	h := newHarness(t, "http://"+closedAddr(t), WithRetryPolicy(RetryPolicy{MaxAttempts: 3}))
	_, err := h.c.Create(context.Background(), newSub)
	if err == nil || !strings.HasPrefix(err.Error(), "create subscription: giving up after 3 attempts: POST /v3/webhook-subscriptions: ") {
		t.Fatalf("error = %v; want giving up after 3 attempts", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %q is not ECONNREFUSED", err)
	}
	if IsAmbiguous(err) {
		t.Errorf("error %q is ambiguous; nothing was sent", err)
	}
}

func TestDeleteCountsA404AfterAPossibleCommitAsDone(t *testing.T) {
	tests := []struct {
		name      string
		steps     []step
		wantErrIs error
	}{
		{name: "204", steps: []step{{status: 204}}},
		{name: "200 with a body", steps: []step{ok200(`{"deleted":true}`)}},
		{name: "404 on the first attempt", steps: []step{fail(404)}, wantErrIs: ErrNotFound},
		{name: "503 then 404", steps: []step{fail(503), fail(404)}},
		{name: "dropped connection then 404", steps: []step{{drop: true}, fail(404)}},
		{name: "timeout then 404", steps: []step{{hang: true}, fail(404)}},
		{name: "429 then 404", steps: []step{fail(429), fail(404)}, wantErrIs: ErrNotFound},
		{name: "503 then 401", steps: []step{fail(503), fail(401)}, wantErrIs: ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, tt.steps...)
			h := newHarness(t, s.srv.URL, WithAttemptTimeout(200*time.Millisecond))
			err := h.c.Delete(context.Background(), "sub-a")
			if tt.wantErrIs == nil && err != nil {
				t.Fatalf("Delete() = %v, want success", err)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Fatalf("Delete() = %v, want %v", err, tt.wantErrIs)
			}
			if n := len(s.requests()); n != len(tt.steps) {
				t.Errorf("server saw %d requests, want %d", n, len(tt.steps))
			}
		})
	}
}

func TestUpdateSendsOnlyTheFieldsItSets(t *testing.T) {
	url := "https://hooks.example.com/moved"
	inactive := false
	empty := []string{}
	var nilSlice []string
	tests := []struct {
		name string
		p    UpdateParams
		want string
	}{
		{name: "is_active only", p: UpdateParams{IsActive: &inactive}, want: `{"is_active":false}`},
		{name: "remove the phone filter", p: UpdateParams{PhoneNumbers: &empty}, want: `{"phone_numbers":[]}`},
		{name: "nil phone slice also removes it", p: UpdateParams{PhoneNumbers: &nilSlice}, want: `{"phone_numbers":[]}`},
		{name: "url and events", p: UpdateParams{TargetURL: &url, SubscribedEvents: []string{"message.sent"}},
			want: `{"subscribed_events":["message.sent"],"target_url":"https://hooks.example.com/moved"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, fail(502), ok200(subA))
			h := newHarness(t, s.srv.URL)
			got, err := h.c.Update(context.Background(), "sub-a", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != "sub-a" {
				t.Errorf("Update() id = %q", got.ID)
			}
			reqs := s.requests()
			if len(reqs) != 2 {
				t.Fatalf("server saw %d requests, want 2 (update is retried)", len(reqs))
			}
			for i, r := range reqs {
				if r.body != tt.want {
					t.Errorf("attempt %d body = %s, want %s", i+1, r.body, tt.want)
				}
			}
		})
	}
}

func TestUpdateRefusesNothingToChangeAndEmptyIDs(t *testing.T) {
	s := newScripted(t)
	h := newHarness(t, s.srv.URL)
	active := true
	if _, err := h.c.Update(context.Background(), "sub-a", UpdateParams{}); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("Update with no fields = %v; want nothing to change", err)
	}
	if _, err := h.c.Update(context.Background(), "", UpdateParams{IsActive: &active}); err == nil {
		t.Error("Update with an empty id succeeded")
	}
	if err := h.c.Delete(context.Background(), ""); err == nil {
		t.Error("Delete with an empty id succeeded")
	}
	if _, err := h.c.Get(context.Background(), ""); err == nil {
		t.Error("Get with an empty id succeeded")
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestUpdateAnswerForAnotherIDIsAnError(t *testing.T) {
	s := newScripted(t, ok200(subB))
	h := newHarness(t, s.srv.URL)
	active := true
	_, err := h.c.Update(context.Background(), "sub-a", UpdateParams{IsActive: &active})
	if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), `"sub-b"`) {
		t.Errorf("error = %v; want a malformed answer naming sub-b", err)
	}
}

func TestGetAndEventTypes(t *testing.T) {
	s := newScripted(t, ok200(subB), ok200(`{"events":["message.sent","poll.created"],"doc_url":"https://docs.example"}`))
	h := newHarness(t, s.srv.URL)
	sub, err := h.c.Get(context.Background(), "sub-b")
	if err != nil || sub.ID != "sub-b" || sub.IsActive {
		t.Errorf("Get() = %+v, %v", sub, err)
	}
	events, err := h.c.EventTypes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"message.sent", "poll.created"}; !reflect.DeepEqual(events, want) {
		t.Errorf("EventTypes() = %v, want %v", events, want)
	}
	if got := s.requests()[1].path; got != "/v3/webhook-events" {
		t.Errorf("event types path = %q", got)
	}
}

func TestMalformedAnswersAreClearErrors(t *testing.T) {
	html := "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>body{x:y}</style></head><body><h1>Bad Gateway</h1>" +
		strings.Repeat("filler ", 100) + "</body></html>"
	tests := []struct {
		name     string
		st       step
		wantIs   error
		wantText []string
	}{
		{name: "HTML 200", st: step{status: 200, header: map[string]string{"Content-Type": "text/html; charset=utf-8"}, body: html},
			wantIs: ErrMalformedResponse, wantText: []string{"200 OK", `content type "text/html"`, `body starts "502 Bad Gateway Bad Gateway filler`, "body is not JSON"}},
		{name: "HTML 502 after retries", st: step{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: html},
			wantIs: ErrServer, wantText: []string{"502", `answer without an error envelope (content type "text/html"): "502 Bad Gateway Bad Gateway filler`}},
		{name: "empty 200", st: ok200(""), wantIs: ErrMalformedResponse, wantText: []string{"empty body"}},
		{name: "truncated JSON", st: ok200(listAB[:len(listAB)-9]), wantIs: ErrMalformedResponse, wantText: []string{"truncated JSON"}},
		{name: "array instead of object", st: ok200(`[` + subA + `]`), wantIs: ErrMalformedResponse, wantText: []string{"body is an array, not an object"}},
		{name: "subscriptions not an array", st: ok200(`{"subscriptions":{"id":"x"}}`), wantIs: ErrMalformedResponse, wantText: []string{`"subscriptions" is an object`}},
		{name: "no subscriptions field", st: ok200(`{"data":[]}`), wantIs: ErrMalformedResponse, wantText: []string{`no "subscriptions" field`}},
		{name: "is_active a string", st: ok200(`{"subscriptions":[` + strings.Replace(subA, `"is_active":true`, `"is_active":"yes"`, 1) + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{"subscriptions[0]", `field "is_active": string where a boolean was expected`}},
		{name: "item without id", st: ok200(`{"subscriptions":[` + strings.Replace(subA, `"id":"sub-a",`, ``, 1) + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{"subscriptions[0]: no id"}},
		{name: "item with an empty id", st: ok200(`{"subscriptions":[` + strings.Replace(subA, `"id":"sub-a"`, `"id":""`, 1) + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{"no id"}},
		{name: "item without is_active", st: ok200(`{"subscriptions":[` + strings.Replace(subA, `"is_active":true,`, ``, 1) + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{`subscription "sub-a": no is_active`}},
		{name: "duplicate ids", st: ok200(`{"subscriptions":[` + subA + `,` + subA + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{`subscriptions[1]: id "sub-a" repeats subscriptions[0]`}},
		{name: "bad timestamp", st: ok200(`{"subscriptions":[` + strings.Replace(subA, `"2026-01-02T03:04:05Z"`, `"yesterday"`, 1) + `]}`),
			wantIs: ErrMalformedResponse, wantText: []string{`timestamp "yesterday" is not RFC 3339`}},
		{name: "200 carrying an error envelope", st: ok200(`{"error":{"status":500,"code":3006,"message":"Internal server error"},"success":false,"subscriptions":[]}`),
			wantIs: ErrMalformedResponse, wantText: []string{"error envelope (status 500, code 3006): Internal server error"}},
		{name: "200 with success false only", st: ok200(`{"success":false,"subscriptions":[]}`),
			wantIs: ErrMalformedResponse, wantText: []string{"error envelope: success is false"}},
		{name: "trailing garbage", st: ok200(listAB + `}`), wantIs: ErrMalformedResponse, wantText: []string{"invalid JSON at byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := []step{tt.st}
			if tt.st.status >= 500 {
				steps = []step{tt.st, tt.st}
			}
			s := newScripted(t, steps...)
			h := newHarness(t, s.srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: len(steps)}))
			subs, err := h.c.List(context.Background())
			if err == nil {
				t.Fatalf("List() = %+v; want an error", subs)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long; want a short excerpt: %s", len(err.Error()), err)
			}
			if strings.ContainsAny(err.Error(), "<>\n") {
				t.Errorf("error holds markup or newlines: %q", err)
			}
		})
	}
}

func TestPhoneNumbersNullAbsentAndEmptyAllDecode(t *testing.T) {
	base := `"target_url":"https://h.example/","subscribed_events":["message.sent"],"is_active":true`
	body := `{"subscriptions":[{"id":"1",` + base + `,"phone_numbers":null},{"id":"2",` + base + `},{"id":"3",` + base + `,"phone_numbers":[]},{"id":"4",` + base + `,"environment_id":null}]}`
	s := newScripted(t, ok200(body))
	h := newHarness(t, s.srv.URL)
	subs, err := h.c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs {
		if len(sub.PhoneNumbers) != 0 || sub.EnvironmentID != nil {
			t.Errorf("subscription %s: phone numbers %v, environment %v; want none", sub.ID, sub.PhoneNumbers, sub.EnvironmentID)
		}
	}
}

func TestLargeAnswersAreCapped(t *testing.T) {
	s := newScripted(t, ok200(listAB))
	h := newHarness(t, s.srv.URL)
	r := &request{method: http.MethodGet, path: routeSubscriptions, endpoint: endpointSubscriptions, maxBody: 20, idempotent: true}
	_, _, err := h.c.do(context.Background(), r)
	if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), "body larger than 20 bytes") {
		t.Errorf("error = %v; want body larger than 20 bytes", err)
	}
}

func TestTheTokenNeverReachesErrorsOrLogs(t *testing.T) {
	// A hostile server echoes the Authorization header everywhere it can.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			w.Write([]byte("<p>you sent " + auth + " and token " + testToken + "</p>"))
		case http.MethodPost:
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"status":401,"code":2004,"message":"bad token ` + testToken + `"},"success":false}`))
		case http.MethodPut:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(200)
			w.Write([]byte("token=" + testToken))
		default:
			w.WriteHeader(500)
			w.Write([]byte(`{"error":"` + auth + `"}`))
		}
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 2}))
	ctx := context.Background()
	active := true
	var errs []error
	_, err := h.c.List(ctx)
	errs = append(errs, err)
	_, err = h.c.Create(ctx, newSub)
	errs = append(errs, err)
	_, err = h.c.Update(ctx, "sub-a", UpdateParams{IsActive: &active})
	errs = append(errs, err)
	errs = append(errs, h.c.Delete(ctx, "sub-a"))
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d succeeded; want an error", i)
		}
		checkNoSecrets(t, err)
	}
	if !strings.Contains(errs[1].Error(), "check the API token") {
		t.Errorf("401 error %q does not tell the user to check the token", errs[1])
	}
	// newHarness's cleanup checks the logs.
	if !strings.Contains(h.logs.String(), "retrying api request") {
		t.Errorf("no retry was logged:\n%s", h.logs.String())
	}
}

func TestEveryAttemptAndRetryIsObservedAndLogged(t *testing.T) {
	s := newScripted(t,
		withHeader(fail(503), "Retry-After", "1"), step{drop: true}, ok200(listAB),
		step{status: 201, body: createdBody},
		ok200(subA),
		step{status: 204},
		ok200(`{"events":["message.sent"]}`))
	h := newHarness(t, s.srv.URL)
	ctx := context.Background()
	active := true
	if _, err := h.c.List(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Create(ctx, newSub); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Update(ctx, "sub-a", UpdateParams{IsActive: &active}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Delete(ctx, "sub-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.EventTypes(ctx); err != nil {
		t.Fatal(err)
	}
	wantReqs := []string{
		"GET subscriptions 503", "GET subscriptions error", "GET subscriptions 200",
		"POST subscriptions 201", "PUT subscription 200", "DELETE subscription 204", "GET webhook-events 200",
	}
	if !reflect.DeepEqual(h.obs.requests, wantReqs) {
		t.Errorf("observed requests\n%v\nwant\n%v", h.obs.requests, wantReqs)
	}
	if want := []string{"status_5xx", "connection"}; !reflect.DeepEqual(h.obs.retries, want) {
		t.Errorf("observed retries %v, want %v", h.obs.retries, want)
	}
	logs := h.logs.String()
	for _, w := range []string{"level=DEBUG", `msg="retrying api request"`, "attempt=1", "wait=1s", "reason=status_5xx", "attempt=2", "wait=500ms", "reason=connection"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q:\n%s", w, logs)
		}
	}
}

func TestConcurrentCallsShareOneClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(listAB))
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.List(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestNewClientRefusesPlainHTTPExceptToLoopback(t *testing.T) {
	tests := []struct {
		base   string
		refuse bool
	}{
		{"http://127.0.0.1:4010", false},
		{"http://127.8.9.10/v3", false},
		{"http://[::1]:4010", false},
		{"http://localhost:4010/", false},
		{"http://LOCALHOST", false},
		{"https://api.example.com", false},
		{"http://api.example.com", true},
		{"http://10.0.0.1:80", true},
		{"http://[::ffff:10.0.0.1]", true},
		{"http://localhost.example.com", true},
		{"http://127.0.0.1.example.com", true},
		{"http://0.0.0.0:4010", true},
		{"http://[::]:4010", true},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			_, err := NewClient(tt.base, testToken)
			if !tt.refuse {
				if err != nil {
					t.Fatalf("NewClient(%q) = %v; want a client", tt.base, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient(%q) succeeded; plain HTTP to a remote host would send the token in clear", tt.base)
			}
			if !strings.Contains(err.Error(), "https") || !strings.Contains(err.Error(), "loopback") {
				t.Errorf("error %q does not say that only loopback may use plain http", err)
			}
		})
	}
}

func TestIDsThatAreNotOneSafePathSegmentAreRefused(t *testing.T) {
	unsafe := []string{".", "..", "a/b", "../x", `a\b`, "%2e%2e", "%2F", "a%2fb", "a b", "a\nb", "a\x00", "a\x7f", "a?b", "a#b", "é", ""}
	item := func(id string) string {
		b, _ := json.Marshal(id)
		return `{"id":` + string(b) + `,"target_url":"https://h.example/a","subscribed_events":["message.sent"],"is_active":true}`
	}
	for _, id := range unsafe {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			// From the server: a list holding it is malformed, not a plan input.
			s := newScripted(t, step{status: 200, body: `{"subscriptions":[` + item("ok-1") + `,` + item(id) + `]}`})
			c := newHarness(t, s.srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 1})).c
			subs, err := c.List(context.Background())
			if err == nil {
				t.Fatalf("List accepted id %q: %v", id, subs)
			}
			if id != "" && !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("List error %v is not ErrMalformedResponse", err)
			}
			// Towards the server: no request path is built from it.
			if _, err := c.Get(context.Background(), id); err == nil {
				t.Errorf("Get(%q) succeeded", id)
			}
			if _, err := c.Update(context.Background(), id, UpdateParams{IsActive: new(bool)}); err == nil {
				t.Errorf("Update(%q) succeeded", id)
			}
			if err := c.Delete(context.Background(), id); err == nil {
				t.Errorf("Delete(%q) succeeded", id)
			}
			if got := len(s.requests()); got != 1 {
				t.Errorf("%d requests sent, want only the list: %v", got, s.requests())
			}
		})
	}
}
