package linq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// endless serves a 200 list answer that starts with head and then repeats
// what next returns until the client goes away.
func endless(t *testing.T, head string, next func(i int) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if _, err := w.Write([]byte(head)); err != nil {
			return
		}
		var chunk []byte
		for i := 0; ; i++ {
			chunk = append(chunk[:0], next(i)...)
			for len(chunk) < 32<<10 {
				i++
				chunk = append(chunk, next(i)...)
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndlessListAnswerIsDecodedInBoundedMemory serves list answers that
// never end, in the shapes a broken or hostile server could send, and
// bounds the bytes allocated while the client reads one (the 64 MiB body
// cap is not a memory bound if the body is first read whole) and the heap
// left behind once it has given up.
func TestEndlessListAnswerIsDecodedInBoundedMemory(t *testing.T) {
	item := func(i int) string {
		return fmt.Sprintf(`{"id":"b3a1c0de-0000-4000-8000-%012x","target_url":"https://hooks.example.com/%d","subscribed_events":["message.received"],"is_active":true},`, i, i)
	}
	tests := []struct {
		name string
		head string
		next func(int) string
		// maxAlloc bounds the bytes allocated by one List call.
		maxAlloc uint64
		want     string
	}{
		{"endless whitespace", `{"subscriptions":[`, func(int) string { return "    " }, 24 << 20, "larger than"},
		{"endless string", `{"subscriptions":[{"id":"`, func(int) string { return "aaaa" }, 24 << 20, "larger than"},
		{"endless unknown value", `{"junk":[`, func(int) string { return "1," }, 24 << 20, "larger than"},
		{"endless items", `{"subscriptions":[`, item, 100 << 20, "more than 50000 subscriptions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := endless(t, tt.head, tt.next)
			// The race detector slows decoding; the attempt timeout must not
			// end the read before the limits do.
			c := newHarness(t, srv.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}), WithAttemptTimeout(time.Minute)).c
			runtime.GC()
			var before, after, settled runtime.MemStats
			runtime.ReadMemStats(&before)
			subs, err := c.List(context.Background())
			runtime.ReadMemStats(&after)
			if err == nil || subs != nil {
				t.Fatalf("List = %d subscriptions, %v; want an error and nothing", len(subs), err)
			}
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > tt.maxAlloc {
				t.Errorf("List allocated %d MiB reading the answer, want at most %d MiB", got>>20, tt.maxAlloc>>20)
			}
			subs = nil
			runtime.GC()
			runtime.ReadMemStats(&settled)
			if settled.HeapInuse > before.HeapInuse+8<<20 {
				t.Errorf("heap in use grew from %d to %d MiB after the failed list; nothing of it should be kept", before.HeapInuse>>20, settled.HeapInuse>>20)
			}
			t.Logf("allocated %d MiB; heap in use %d → %d MiB; error: %.200s", (after.TotalAlloc-before.TotalAlloc)>>20, before.HeapInuse>>20, settled.HeapInuse>>20, err)
		})
	}
}
