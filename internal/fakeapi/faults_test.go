package fakeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// TestFaultKindsCommitOrNot drives one create through each fault kind and
// checks the answer the client sees and whether the write committed.
func TestFaultKindsCommitOrNot(t *testing.T) {
	tests := []struct {
		kind       fakeapi.FaultKind
		wantStatus int // 0: no answer (transport error)
		wantCommit bool
		check      func(t *testing.T, res result)
	}{
		{fakeapi.FaultErrorBefore, 500, false, func(t *testing.T, res result) {
			wantError(t, res, 500, fakeapi.CodeInternal, fakeapi.MsgInternal)
		}},
		{fakeapi.FaultErrorAfter, 500, true, func(t *testing.T, res result) {
			wantError(t, res, 500, fakeapi.CodeInternal, fakeapi.MsgInternal)
		}},
		{fakeapi.FaultRateLimit, 429, false, func(t *testing.T, res result) {
			wantError(t, res, 429, fakeapi.CodeRateLimited, "")
			if got := res.header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
		}},
		{fakeapi.FaultDropBefore, 0, false, func(t *testing.T, res result) {
			if res.err == nil {
				t.Errorf("got an answer %d, want a dropped connection", res.status)
			}
		}},
		{fakeapi.FaultDropAfter, 0, true, func(t *testing.T, res result) {
			if res.err == nil {
				t.Errorf("got an answer %d, want a dropped connection", res.status)
			}
		}},
		{fakeapi.FaultTruncate, 201, true, func(t *testing.T, res result) {
			if !errors.Is(res.err, io.ErrUnexpectedEOF) {
				t.Errorf("read error = %v, want unexpected EOF", res.err)
			}
			if len(res.body) == 0 || json.Valid(res.body) {
				t.Errorf("body %q is not a truncated JSON document", res.body)
			}
		}},
		{fakeapi.FaultHTML, 502, false, func(t *testing.T, res result) {
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q", ct)
			}
			if !strings.Contains(string(res.body), "<html>") || json.Valid(res.body) {
				t.Errorf("body = %s", res.body)
			}
		}},
		{fakeapi.FaultBadJSON, 200, false, func(t *testing.T, res result) {
			var v map[string]any
			if err := json.Unmarshal(res.body, &v); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if _, isString := v["id"].(string); isString {
				t.Errorf("id has the right type: %s", res.body)
			}
			if _, isString := v["signing_secret"].(string); isString {
				t.Errorf("signing_secret has the right type: %s", res.body)
			}
		}},
		{fakeapi.FaultEnvelope200, 200, false, func(t *testing.T, res result) {
			var env envelope
			if err := json.Unmarshal(res.body, &env); err != nil || env.Error == nil || *env.Success {
				t.Fatalf("body = %s", res.body)
			}
			if env.Error.Status != 500 || env.Error.Code != fakeapi.CodeInternal {
				t.Errorf("envelope = %+v", *env.Error)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			srv, a := start(t, fakeapi.Options{})
			srv.AddFault(fakeapi.Fault{Kind: tt.kind, Method: "POST", Times: 1})
			res := a.do("POST", subsPath, okBody)
			if tt.wantStatus == 0 && res.err == nil || tt.wantStatus != 0 && res.status != tt.wantStatus {
				t.Errorf("status = %d (err %v), want %d", res.status, res.err, tt.wantStatus)
			}
			tt.check(t, res)
			if got := srv.Len() == 1; got != tt.wantCommit {
				t.Errorf("committed = %v, want %v", got, tt.wantCommit)
			}
			lost := srv.LostSecrets()
			if tt.wantCommit && (len(lost) != 1 || lost[0] != srv.Snapshot()[0].ID) {
				t.Errorf("LostSecrets = %v, want the created id", lost)
			}
			if !tt.wantCommit && len(lost) != 0 {
				t.Errorf("LostSecrets = %v, want none", lost)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Fault != tt.kind || reqs[0].Status != tt.wantStatus {
				t.Errorf("logged %+v", reqs)
			}
			// Times: 1 spends the fault; the retry succeeds.
			if len(srv.Faults()) != 0 {
				t.Errorf("fault still armed: %+v", srv.Faults())
			}
			if tt.wantCommit {
				wantError(t, a.do("POST", subsPath, okBody), 409, fakeapi.CodeDuplicateURL, "")
			} else {
				a.create(okBody)
			}
		})
	}
}

func TestFaultsOnOtherRoutes(t *testing.T) {
	t.Run("error after an update commits it", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		s := a.create(okBody)
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Method: "PUT", Status: 503, Times: 1})
		wantError(t, a.do("PUT", subsPath+"/"+s.ID, `{"is_active":false}`), 503, fakeapi.CodeInternal, "Service Unavailable")
		if got, _ := srv.Get(s.ID); got.IsActive {
			t.Errorf("update did not commit")
		}
		if len(srv.LostSecrets()) != 0 {
			t.Errorf("an update cannot lose a secret")
		}
	})
	t.Run("drop after a delete commits it", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		s := a.create(okBody)
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultDropAfter, Method: "DELETE"})
		if res := a.do("DELETE", subsPath+"/"+s.ID, ""); res.err == nil {
			t.Errorf("got %d, want a dropped connection", res.status)
		}
		if srv.Len() != 0 {
			t.Errorf("delete did not commit")
		}
	})
	t.Run("truncating a 204 drops it", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		s := a.create(okBody)
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultTruncate, Method: "DELETE"})
		if res := a.do("DELETE", subsPath+"/"+s.ID, ""); res.err == nil {
			t.Errorf("got %d, want a dropped connection", res.status)
		}
		if srv.Len() != 0 {
			t.Errorf("delete did not commit")
		}
	})
	t.Run("truncated list", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		a.create(okBody)
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultTruncate, Route: fakeapi.RouteSubscriptions, Method: "GET"})
		res := a.do("GET", subsPath, "")
		if res.status != 200 || !errors.Is(res.err, io.ErrUnexpectedEOF) || !strings.HasPrefix(string(res.body), `{"subscriptions":[`) {
			t.Errorf("status %d, err %v, body %s", res.status, res.err, res.body)
		}
	})
	t.Run("bad JSON per route", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Method: "GET"})
		var list struct {
			Subscriptions []struct {
				ID string `json:"id"`
			} `json:"subscriptions"`
		}
		if err := json.Unmarshal(a.do("GET", subsPath, "").body, &list); err == nil {
			t.Errorf("list decodes cleanly into the wire type")
		}
		var ev struct {
			Events []string `json:"events"`
		}
		if err := json.Unmarshal(a.do("GET", "/v3/webhook-events", "").body, &ev); err == nil {
			t.Errorf("events decode cleanly into the wire type")
		}
	})
	t.Run("custom body and headers", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[{"id":"x"`), Header: http.Header{"X-Should-Retry": {"false"}}})
		res := a.do("GET", subsPath, "")
		if string(res.body) != `{"subscriptions":[{"id":"x"` || res.header.Get("X-Should-Retry") != "false" {
			t.Errorf("body %s, headers %v", res.body, res.header)
		}
	})
	t.Run("fault answers before auth", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultHTML, Status: 503})
		res := a.withToken("wrong").do("GET", subsPath, "")
		if res.status != 503 || !strings.Contains(string(res.body), "503 Service Unavailable") {
			t.Errorf("status %d, body %s", res.status, res.body)
		}
	})
}

func TestRateLimitRetryAfterForms(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name     string
		fault    fakeapi.Fault
		wantRA   string
		wantRAMS string
	}{
		{"default one second", fakeapi.Fault{}, "1", ""},
		{"seconds rounded up", fakeapi.Fault{RetryAfter: 1500 * time.Millisecond}, "2", ""},
		{"HTTP date", fakeapi.Fault{RetryAfter: 3 * time.Second, RetryAfterHTTPDate: true}, "Tue, 03 Feb 2026 10:30:03 GMT", ""},
		{"HTTP date rounded up", fakeapi.Fault{RetryAfter: 100 * time.Millisecond, RetryAfterHTTPDate: true}, "Tue, 03 Feb 2026 10:30:01 GMT", ""},
		{"milliseconds too", fakeapi.Fault{RetryAfter: 20 * time.Millisecond, RetryAfterMS: true}, "1", "20"},
		{"raw value", fakeapi.Fault{RetryAfterRaw: "0"}, "0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a := start(t, fakeapi.Options{Now: clk.Now})
			f := tt.fault
			f.Kind = fakeapi.FaultRateLimit
			srv.AddFault(f)
			res := a.do("GET", subsPath, "")
			wantError(t, res, 429, fakeapi.CodeRateLimited, fakeapi.MsgRateLimited)
			if got := res.header.Get("Retry-After"); got != tt.wantRA {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRA)
			}
			if got := res.header.Get("retry-after-ms"); got != tt.wantRAMS {
				t.Errorf("retry-after-ms = %q, want %q", got, tt.wantRAMS)
			}
			if tt.fault.RetryAfterHTTPDate {
				if _, err := http.ParseTime(res.header.Get("Retry-After")); err != nil {
					t.Errorf("Retry-After is not an HTTP date: %v", err)
				}
			} else if _, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil {
				t.Errorf("Retry-After is not whole seconds: %v", err)
			}
		})
	}
}

func TestFaultMatchingAndTimes(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	s := a.create(okBody)
	other := a.create(`{"target_url":"https://a.example/o","subscribed_events":["message.sent"]}`)
	srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: "put", Route: fakeapi.RouteSubscription, ID: s.ID, Times: 2})

	if res := a.do("GET", subsPath+"/"+s.ID, ""); res.status != 200 {
		t.Errorf("GET matched a PUT fault: %d", res.status)
	}
	if res := a.do("PUT", subsPath+"/"+other.ID, `{}`); res.status != 200 {
		t.Errorf("PUT of another id matched: %d", res.status)
	}
	for i := range 2 {
		if res := a.do("PUT", subsPath+"/"+s.ID, `{}`); res.status != 500 {
			t.Errorf("firing %d: status %d, want 500", i, res.status)
		}
	}
	if res := a.do("PUT", subsPath+"/"+s.ID, `{}`); res.status != 200 {
		t.Errorf("after Times firings: status %d, want 200", res.status)
	}

	t.Run("unlimited until cleared", func(t *testing.T) {
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Route: fakeapi.RouteEvents})
		for range 5 {
			if res := a.do("GET", "/v3/webhook-events", ""); res.status != 500 {
				t.Fatalf("status %d, want 500", res.status)
			}
		}
		if f := srv.Faults(); len(f) != 1 || f[0].Times != 0 {
			t.Errorf("Faults = %+v", f)
		}
		srv.ClearFaults()
		if res := a.do("GET", "/v3/webhook-events", ""); res.status != 200 {
			t.Errorf("after ClearFaults: %d", res.status)
		}
	})
	t.Run("first firing fault decides", func(t *testing.T) {
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultRateLimit, Times: 1})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Times: 1})
		statuses := []int{a.do("GET", subsPath, "").status, a.do("GET", subsPath, "").status, a.do("GET", subsPath, "").status}
		if !slices.Equal(statuses, []int{429, 500, 200}) {
			t.Errorf("statuses = %v, want [429 500 200]", statuses)
		}
	})
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	pattern := func(seed int64) []int {
		srv, a := start(t, fakeapi.Options{Seed: seed})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Probability: 0.3})
		var out []int
		for range 100 {
			out = append(out, a.do("GET", subsPath, "").status)
		}
		return out
	}
	p1, p2, p3 := pattern(9), pattern(9), pattern(10)
	if !slices.Equal(p1, p2) {
		t.Errorf("same seed gave different fault patterns")
	}
	if slices.Equal(p1, p3) {
		t.Errorf("different seeds gave the same fault pattern")
	}
	fired := 0
	for _, s := range p1 {
		if s == 500 {
			fired++
		}
	}
	if fired < 15 || fired > 45 {
		t.Errorf("fired %d of 100 at p=0.3", fired)
	}

	t.Run("times bounds probabilistic firings", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{Seed: 1})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Probability: 0.5, Times: 3})
		fired := 0
		for range 60 {
			if a.do("GET", subsPath, "").status == 500 {
				fired++
			}
		}
		if fired != 3 {
			t.Errorf("fired %d, want 3", fired)
		}
	})
}

func TestLatencyDelaysAndRespectsCancel(t *testing.T) {
	t.Run("fault latency combines with another fault", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatency, Delay: 40 * time.Millisecond, Times: 1})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Times: 1})
		begin := time.Now()
		res := a.do("GET", subsPath, "")
		if d := time.Since(begin); d < 40*time.Millisecond {
			t.Errorf("answered after %v, want at least 40ms", d)
		}
		if res.status != 500 {
			t.Errorf("status %d, want 500", res.status)
		}
		if r := srv.Requests(); r[0].Fault != fakeapi.FaultErrorBefore {
			t.Errorf("logged fault %v", r[0].Fault)
		}
		if res := a.do("GET", subsPath, ""); res.status != 200 {
			t.Errorf("status %d after both faults spent", res.status)
		}
	})
	t.Run("global latency", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{Latency: 30 * time.Millisecond})
		begin := time.Now()
		a.create(okBody)
		if d := time.Since(begin); d < 30*time.Millisecond {
			t.Errorf("answered after %v, want at least 30ms", d)
		}
		srv.SetLatency(0)
		a.list()
	})
	t.Run("client cancel ends the wait and commits nothing", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatency, Delay: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		begin := time.Now()
		res := a.doCtx(ctx, "POST", subsPath, okBody)
		if res.err == nil {
			t.Fatalf("got %d, want a client timeout", res.status)
		}
		eventually(t, "the server to log the abandoned call", func() bool { return len(srv.Requests()) == 1 })
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("server held the call %v", d)
		}
		r := srv.Requests()[0]
		if r.Status != 0 || r.Fault != fakeapi.FaultLatency {
			t.Errorf("logged %+v", r)
		}
		if srv.Len() != 0 {
			t.Errorf("abandoned create committed")
		}
	})
}

func TestFaultsAreSafeUnderConcurrency(t *testing.T) {
	srv, a := start(t, fakeapi.Options{Seed: 3})
	srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Method: "POST", Probability: 0.3})
	srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Probability: 0.2, Times: 10})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			a.do("POST", subsPath, `{"target_url":"https://a.example/`+strconv.Itoa(i)+`","subscribed_events":["message.sent"]}`)
			a.do("GET", subsPath, "")
			srv.Faults()
		})
	}
	wg.Wait()
	created := 0
	for _, r := range srv.Requests() {
		if r.Method == "POST" && (r.Status == 201 || r.Fault == fakeapi.FaultErrorAfter) {
			created++
		}
	}
	if created != srv.Len() {
		t.Errorf("%d creates committed per the log, Len %d", created, srv.Len())
	}
	if len(srv.LostSecrets()) > srv.Len() {
		t.Errorf("more lost secrets than subscriptions")
	}
}

func TestLatencyAfterCommitsBeforeAnswering(t *testing.T) {
	t.Run("a client that gives up in the wait has the subscription, not its secret", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatencyAfter, Method: "POST", Delay: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan result, 1)
		go func() { done <- a.doCtx(ctx, "POST", subsPath, okBody) }()
		// The create commits while its answer is still held back.
		eventually(t, "the create to commit", func() bool { return srv.Len() == 1 })
		select {
		case res := <-done:
			t.Fatalf("answered (%d, %v) before the wait ended", res.status, res.err)
		default:
		}
		cancel()
		if res := <-done; res.err == nil {
			t.Fatalf("got %d, want the client's cancellation", res.status)
		}
		eventually(t, "the server to log the abandoned call", func() bool { return len(srv.Requests()) == 1 })
		id := srv.Snapshot()[0].ID
		if got := srv.LostSecrets(); len(got) != 1 || got[0] != id {
			t.Errorf("LostSecrets = %v, want [%s]", got, id)
		}
		if r := srv.Requests()[0]; r.Status != 0 || r.Fault != fakeapi.FaultLatencyAfter {
			t.Errorf("logged %+v, want status 0 and fault latency_after", r)
		}
	})
	t.Run("a client that waits gets the committed subscription and its secret", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatencyAfter, Method: "POST", Delay: 5 * time.Millisecond, Times: 1})
		got := a.create(okBody)
		want, ok := srv.Secret(got.ID)
		if !ok || got.SigningSecret == nil || *got.SigningSecret != want {
			t.Errorf("answered secret does not match the server's (held %v)", ok)
		}
		if len(srv.LostSecrets()) != 0 || len(srv.Faults()) != 0 {
			t.Errorf("lost %v, faults left %v", srv.LostSecrets(), srv.Faults())
		}
		if r := srv.Requests()[0]; r.Status != 201 || r.Fault != fakeapi.FaultLatencyAfter {
			t.Errorf("logged %+v, want 201 with fault latency_after", r)
		}
	})
	t.Run("it waits after another fault's answer is made", func(t *testing.T) {
		srv, a := start(t, fakeapi.Options{})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatencyAfter, Method: "POST", Delay: 5 * time.Millisecond})
		srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Method: "POST", Times: 1})
		if res := a.do("POST", subsPath, okBody); res.status != 500 {
			t.Fatalf("status %d, want 500", res.status)
		}
		if srv.Len() != 1 || len(srv.LostSecrets()) != 1 {
			t.Errorf("len %d, lost %v: want the create committed and its secret lost once", srv.Len(), srv.LostSecrets())
		}
	})
}

func TestFaultKindNames(t *testing.T) {
	if got := fakeapi.FaultLatencyAfter.String(); got != "latency_after" {
		t.Errorf("String() = %q", got)
	}
}
