package linq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestDefaultRetryPolicyFillsZeroFields(t *testing.T) {
	got := RetryPolicy{MaxAttempts: 1}.withDefaults()
	want := DefaultRetryPolicy()
	want.MaxAttempts = 1
	if got != want {
		t.Errorf("withDefaults() = %+v, want %+v", got, want)
	}
	if d := DefaultRetryPolicy(); d.MaxAttempts != 5 || d.BaseDelay != 500*time.Millisecond || d.MaxDelay != 8*time.Second || d.MaxElapsed != 2*time.Minute {
		t.Errorf("DefaultRetryPolicy() = %+v", d)
	}
}

func answer(status int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h}
}

var tlsVerifyErr = tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestShouldRetry(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name       string
		resp       *http.Response
		err        error
		want       bool
		wantReason string
	}{
		{name: "200", resp: answer(200), want: false},
		{name: "400", resp: answer(400), want: false, wantReason: "status 400"},
		{name: "401 marked retry", resp: answer(401, "X-Should-Retry", "true"), want: false, wantReason: "status 401"},
		{name: "403", resp: answer(403), want: false, wantReason: "status 403"},
		{name: "404", resp: answer(404), want: false, wantReason: "status 404"},
		{name: "409", resp: answer(409), want: false, wantReason: "status 409"},
		{name: "422", resp: answer(422), want: false, wantReason: "status 422"},
		{name: "408", resp: answer(408), want: true, wantReason: reason408},
		{name: "429", resp: answer(429), want: true, wantReason: reason429},
		{name: "429 marked no retry", resp: answer(429, "X-Should-Retry", "false"), want: false, wantReason: "x-should-retry: false"},
		{name: "500", resp: answer(500), want: true, wantReason: reason5xx},
		{name: "501", resp: answer(501), want: false, wantReason: "status 501"},
		{name: "503 marked retry in capitals", resp: answer(503, "X-Should-Retry", " TRUE "), want: true, wantReason: reason5xx},
		{name: "423 marked retry", resp: answer(423, "X-Should-Retry", "true"), want: true, wantReason: reasonShouldRetry},
		{name: "423", resp: answer(423), want: false, wantReason: "status 423"},
		{name: "connection refused", err: refused, want: true, wantReason: reasonConnection},
		{name: "EOF", err: io.EOF, want: true, wantReason: reasonConnection},
		{name: "net timeout", err: timeoutErr{}, want: true, wantReason: reasonTimeout},
		{name: "attempt deadline", err: fmt.Errorf("read: %w", context.DeadlineExceeded), want: true, wantReason: reasonTimeout},
		{name: "canceled", err: context.Canceled, want: false, wantReason: "canceled"},
		{name: "tls verification", err: &tlsVerifyErr, want: false, wantReason: "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := shouldRetry(tt.resp, tt.err)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("shouldRetry() = %v, %q; want %v, %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestCreateShouldRetryOnlyWhenNotReceived(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name          string
		resp          *http.Response
		err           error
		sent          bool
		want          bool
		wantCommitted bool // mayHaveCommitted of the status, for answers
	}{
		{name: "refused before sending", err: refused, sent: false, want: true},
		{name: "EOF after sending", err: io.EOF, sent: true, want: false},
		{name: "server closed the idle connection", err: errors.New("http: server closed idle connection"), sent: true, want: true},
		{name: "timeout after sending", err: timeoutErr{}, sent: true, want: false},
		{name: "429", resp: answer(429), want: true},
		{name: "429 marked no retry", resp: answer(429, "X-Should-Retry", "false"), want: false},
		{name: "425 marked retry", resp: answer(425, "X-Should-Retry", "true"), want: true},
		{name: "500", resp: answer(500), want: false, wantCommitted: true},
		{name: "503 marked retry", resp: answer(503, "X-Should-Retry", "true"), want: false, wantCommitted: true},
		{name: "408", resp: answer(408), want: false, wantCommitted: true},
		{name: "409", resp: answer(409), want: false, wantCommitted: true},
		{name: "409 marked retry", resp: answer(409, "X-Should-Retry", "true"), want: false, wantCommitted: true},
		{name: "400", resp: answer(400), want: false},
		{name: "401", resp: answer(401), want: false},
		{name: "302", resp: answer(302), want: false, wantCommitted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := createShouldRetry(tt.resp, tt.err, tt.sent)
			if got != tt.want {
				t.Errorf("createShouldRetry() = %v, want %v", got, tt.want)
			}
			if tt.resp != nil {
				if got := mayHaveCommitted(tt.resp.StatusCode); got != tt.wantCommitted {
					t.Errorf("mayHaveCommitted(%d) = %v, want %v", tt.resp.StatusCode, got, tt.wantCommitted)
				}
			}
		})
	}
}

func TestBackoffIsExponentialWithFullJitterAndCapped(t *testing.T) {
	p := DefaultRetryPolicy()
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 0},
		{1, 0.5, 250 * time.Millisecond},
		{1, 0.999, 499500 * time.Microsecond},
		{2, 0.5, 500 * time.Millisecond},
		{3, 0.5, time.Second},
		{4, 0.5, 2 * time.Second},
		{5, 0.5, 4 * time.Second},
		{6, 0.5, 4 * time.Second}, // 16s ceiling capped at 8s
		{63, 0.5, 4 * time.Second},
		{1000, 0.999, 7992 * time.Millisecond},
		{0, 0.5, 250 * time.Millisecond}, // treated as the first
		{2, 1.5, time.Second},            // a broken source gets the full wait
		{2, -1, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d jitter %v", tt.attempt, tt.jitter), func(t *testing.T) {
			got, fromServer := p.backoff(tt.attempt, nil, tt.jitter, time.Now())
			if got != tt.want || fromServer {
				t.Errorf("backoff() = %v, %v; want %v, false", got, fromServer, tt.want)
			}
		})
	}
	// Property: every wait lies in [0, ceiling).
	r := rand.New(rand.NewPCG(1, 2))
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(p.MaxDelay, p.BaseDelay<<(attempt-1))
		for range 100 {
			if got, _ := p.backoff(attempt, answer(503), r.Float64(), time.Now()); got < 0 || got >= ceiling {
				t.Fatalf("attempt %d: wait %v outside [0, %v)", attempt, got, ceiling)
			}
		}
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header []string
		want   time.Duration
		wantOK bool
	}{
		{name: "none", wantOK: false},
		{name: "seconds", header: []string{"Retry-After", "3"}, want: 3 * time.Second, wantOK: true},
		{name: "zero seconds", header: []string{"Retry-After", "0"}, want: 0, wantOK: true},
		{name: "fractional seconds", header: []string{"Retry-After", "1.5"}, want: 1500 * time.Millisecond, wantOK: true},
		{name: "http date", header: []string{"Retry-After", now.Add(90 * time.Second).Format(http.TimeFormat)}, want: 90 * time.Second, wantOK: true},
		{name: "http date in the past", header: []string{"Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)}, want: 0, wantOK: true},
		{name: "milliseconds", header: []string{"Retry-After-Ms", "250"}, want: 250 * time.Millisecond, wantOK: true},
		{name: "milliseconds win over seconds", header: []string{"Retry-After", "9", "retry-after-ms", "120"}, want: 120 * time.Millisecond, wantOK: true},
		{name: "bad milliseconds fall back to seconds", header: []string{"Retry-After", "2", "retry-after-ms", "soon"}, want: 2 * time.Second, wantOK: true},
		{name: "negative", header: []string{"Retry-After", "-5"}, wantOK: false},
		{name: "garbage", header: []string{"Retry-After", "later please"}, wantOK: false},
		{name: "NaN", header: []string{"Retry-After", "NaN"}, wantOK: false},
		{name: "huge", header: []string{"Retry-After", "1e300"}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retryAfter(answer(429, tt.header...).Header, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("retryAfter() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			if tt.wantOK {
				if got, fromServer := DefaultRetryPolicy().backoff(1, answer(429, tt.header...), 0.5, now); got != tt.want || !fromServer {
					t.Errorf("backoff() = %v, %v; want the server's %v", got, fromServer, tt.want)
				}
			}
		})
	}
}

func TestSleepCtxEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sleepCtx(ctx, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("sleepCtx() = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleepCtx did not return after cancel")
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepCtx(1ms) = %v", err)
	}
}
