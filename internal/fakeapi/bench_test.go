package fakeapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

func seeded(n int) *fakeapi.Server {
	srv := fakeapi.New(fakeapi.Options{Seed: 1})
	subs := make([]fakeapi.Subscription, n)
	for i := range subs {
		subs[i] = fakeapi.Subscription{
			TargetURL:        fmt.Sprintf("https://hooks.example.com/linq/%d?version=2026-02-03", i),
			SubscribedEvents: []string{"message.sent", "message.received", "message.delivered"},
			PhoneNumbers:     []string{"+15551234567"},
			IsActive:         true,
		}
	}
	srv.Seed(subs...)
	return srv
}

// BenchmarkList10kHandler measures the handler alone listing 10,000
// subscriptions.
func BenchmarkList10kHandler(b *testing.B) {
	srv := seeded(10000)
	req := httptest.NewRequest("GET", subsPath, nil)
	req.Header.Set("Authorization", "Bearer "+fakeapi.DefaultToken)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

// BenchmarkList10kHTTP measures a list of 10,000 subscriptions over a real
// loopback connection, body read included.
func BenchmarkList10kHTTP(b *testing.B) {
	srv := seeded(10000)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := ts.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", ts.URL+subsPath, nil)
		req.Header.Set("Authorization", "Bearer "+fakeapi.DefaultToken)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
	srv.ResetCalls()
}

// BenchmarkSeed10k measures seeding 10,000 subscriptions.
func BenchmarkSeed10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		seeded(10000)
	}
}
