package probe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is a log sink safe for the monitor's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMonitorProbesOnEachTickAndForgetsRemovedNames(t *testing.T) {
	secret := newSecret(t)
	good := newReceiver(t, verifying(t, secret))
	stale := newReceiver(t, verifying(t, newSecret(t)))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	var logs syncBuffer
	mo := NewMonitor(New(Options{RootCAs: pool(good.srv, stale.srv)}), m, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	var (
		mu    sync.Mutex
		round int
	)
	targets := func(context.Context) ([]Target, error) {
		mu.Lock()
		defer mu.Unlock()
		round++
		switch round {
		case 1:
			return []Target{
				{Name: "good", TargetURL: good.srv.URL, Secret: secret},
				{Name: "stale", TargetURL: stale.srv.URL, Secret: secret},
			}, nil
		case 2:
			return nil, errors.New("list subscriptions: 503")
		default:
			return []Target{{Name: "good", TargetURL: good.srv.URL, Secret: secret}}, nil
		}
	}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { mo.Run(ctx, tick, targets); close(done) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	tick <- time.Now()
	waitFor("first round's metrics", func() bool { return testutil.CollectAndCount(m.verified) == 2 })
	if got := testutil.ToFloat64(m.verified.WithLabelValues("good")); got != 1 {
		t.Errorf("verified{good} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.last.WithLabelValues("stale", "rejects-valid")); got != 1 {
		t.Errorf("probe_result{stale,rejects-valid} = %v, want 1", got)
	}
	tick <- time.Now() // targets fails: logged, metrics kept
	waitFor("the failed round's log line", func() bool { return strings.Contains(logs.String(), "endpoint probes skipped") })
	if got := testutil.CollectAndCount(m.verified); got != 2 {
		t.Errorf("%d verified series after a failed round, want 2 kept", got)
	}
	tick <- time.Now()
	waitFor("stale's series dropped", func() bool { return testutil.CollectAndCount(m.verified) == 1 })
	cancel()
	<-done

	out := logs.String()
	if !strings.Contains(out, `"level":"WARN","msg":"endpoint probe","name":"stale"`) || !strings.Contains(out, `"result":"rejects-valid"`) {
		t.Errorf("no warning for the stale endpoint in:\n%s", out)
	}
	if strings.Contains(out, strings.TrimPrefix(string(secret), "whsec_")) {
		t.Error("the secret appears in the logs")
	}
	if got := testutil.ToFloat64(m.total.WithLabelValues("good", "verified")); got != 2 {
		t.Errorf("probe_total{good,verified} = %v, want 2", got)
	}
}

func TestWriteRejectsUnknownFormat(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, "yaml", nil); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("Write(yaml) = %v, want an error naming the format", err)
	}
	for _, f := range []string{"text", "json"} {
		b.Reset()
		if err := Write(&b, f, sample); err != nil || b.Len() == 0 {
			t.Errorf("Write(%s) = %v, %d bytes", f, err, b.Len())
		}
	}
}
