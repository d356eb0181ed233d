package fakeapi_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

func TestSeedKeepsGivenFieldsAndFillsMissingOnes(t *testing.T) {
	clk := newClock()
	srv, a := start(t, fakeapi.Options{Now: clk.Now})
	created := time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.FixedZone("X", 3600))
	env := "env_1"
	srv.Seed(
		fakeapi.Subscription{ID: "b2c3d4e5-f6a7-8901-bcde-f23456789012", TargetURL: "https://a.example/1", SubscribedEvents: []string{"message.sent"},
			IsActive: true, PhoneNumbers: []string{"+15551234567"}, EnvironmentID: &env, CreatedAt: created},
		fakeapi.Subscription{TargetURL: "https://a.example/2", SubscribedEvents: []string{"call.ended"}, PhoneNumbers: []string{}},
	)
	if srv.Len() != 2 {
		t.Fatalf("Len = %d", srv.Len())
	}
	got := a.list()
	if got[0].ID != "b2c3d4e5-f6a7-8901-bcde-f23456789012" {
		t.Errorf("given id not kept: %q", got[0].ID)
	}
	if got[0].CreatedAt != "2024-01-15T09:30:00.123456789Z" || got[0].UpdatedAt != got[0].CreatedAt {
		t.Errorf("timestamps = %q, %q", got[0].CreatedAt, got[0].UpdatedAt)
	}
	if got[0].IsActive != true || string(got[0].EnvironmentID) != `"env_1"` {
		t.Errorf("first = %+v", got[0])
	}
	if !uuidV4RE.MatchString(got[1].ID) {
		t.Errorf("generated id %q is not a UUID v4", got[1].ID)
	}
	if got[1].CreatedAt != "2026-02-03T10:30:00Z" || got[1].IsActive {
		t.Errorf("second = %+v", got[1])
	}
	if string(got[1].PhoneNumbers) != "null" {
		t.Errorf("seeded [] phone_numbers = %s, want null", got[1].PhoneNumbers)
	}
	for _, s := range got {
		if sec, ok := srv.Secret(s.ID); !ok || !secretRE.MatchString(sec) {
			t.Errorf("seeded %s has no secret", s.ID)
		}
	}

	t.Run("seeding an existing id replaces it", func(t *testing.T) {
		sec, _ := srv.Secret(got[1].ID)
		srv.Seed(fakeapi.Subscription{ID: got[1].ID, TargetURL: "https://a.example/2b", SubscribedEvents: []string{"message.read"}, IsActive: true})
		s, _ := srv.Get(got[1].ID)
		if srv.Len() != 2 || s.TargetURL != "https://a.example/2b" || !s.IsActive {
			t.Errorf("after replace: Len %d, %+v", srv.Len(), s)
		}
		if again, _ := srv.Secret(got[1].ID); again != sec {
			t.Errorf("replacing changed the secret")
		}
		a.create(`{"target_url":"https://a.example/2","subscribed_events":["message.sent"]}`)
		wantError(t, a.do("POST", subsPath, `{"target_url":"https://a.example/2b","subscribed_events":["message.sent"]}`), 409, fakeapi.CodeDuplicateURL, "")
	})
	t.Run("seed does not check uniqueness", func(t *testing.T) {
		srv.Seed(fakeapi.Subscription{TargetURL: "https://a.example/1", SubscribedEvents: []string{"message.sent"}})
		n := 0
		for _, s := range srv.Snapshot() {
			if s.TargetURL == "https://a.example/1" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d subscriptions with the seeded URL, want 2", n)
		}
	})
}

func TestSnapshotIsSortedDeepCopy(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	for i := range 20 {
		a.create(fmt.Sprintf(`{"target_url":"https://a.example/%d","subscribed_events":["message.sent","call.ended"],"phone_numbers":["+1555000%04d"]}`, i, i))
	}
	snap := srv.Snapshot()
	if len(snap) != 20 || !slices.IsSortedFunc(snap, func(x, y fakeapi.Subscription) int { return strings.Compare(x.ID, y.ID) }) {
		t.Fatalf("snapshot has %d entries, sorted %v", len(snap), slices.IsSortedFunc(snap, func(x, y fakeapi.Subscription) int { return strings.Compare(x.ID, y.ID) }))
	}
	snap[0].SubscribedEvents[0] = "mutated"
	snap[0].PhoneNumbers[0] = "mutated"
	snap[0].TargetURL = "mutated"
	again := srv.Snapshot()
	if again[0].SubscribedEvents[0] == "mutated" || again[0].PhoneNumbers[0] == "mutated" || again[0].TargetURL == "mutated" {
		t.Errorf("mutating a snapshot changed the server: %+v", again[0])
	}
	if res := a.do("GET", subsPath+"/"+snap[0].ID, ""); strings.Contains(string(res.body), "mutated") {
		t.Errorf("mutating a snapshot changed the wire: %s", res.body)
	}
}

func TestRemoveAndResetChangeStateOutsideTheAPI(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	var ids []string
	for i := range 100 {
		ids = append(ids, a.create(fmt.Sprintf(`{"target_url":"https://a.example/%d","subscribed_events":["message.sent"]}`, i)).ID)
	}
	if n := srv.Remove(append(ids[:80:80], "nope")...); n != 80 {
		t.Errorf("Remove = %d, want 80", n)
	}
	var got []string
	for _, s := range a.list() {
		got = append(got, s.ID)
	}
	if !slices.Equal(got, ids[80:]) {
		t.Errorf("list after Remove = %d ids, want the last 20 in order", len(got))
	}
	a.create(`{"target_url":"https://a.example/0","subscribed_events":["message.sent"]}`)
	srv.Reset()
	if srv.Len() != 0 || len(a.list()) != 0 {
		t.Errorf("Reset left %d", srv.Len())
	}
	a.create(`{"target_url":"https://a.example/99","subscribed_events":["message.sent"]}`)
}

func TestSeedMakesIDsAndSecretsRepeatable(t *testing.T) {
	run := func(seed int64) (ids, secrets []string) {
		srv, a := start(t, fakeapi.Options{Seed: seed})
		for i := range 5 {
			s := a.create(fmt.Sprintf(`{"target_url":"https://a.example/%d","subscribed_events":["message.sent"]}`, i))
			ids = append(ids, s.ID)
			secrets = append(secrets, *s.SigningSecret)
			if sec, _ := srv.Secret(s.ID); sec != *s.SigningSecret {
				t.Errorf("Secret(%s) differs from the create answer", s.ID)
			}
		}
		return ids, secrets
	}
	ids1, sec1 := run(42)
	ids2, sec2 := run(42)
	ids3, sec3 := run(43)
	if !slices.Equal(ids1, ids2) || !slices.Equal(sec1, sec2) {
		t.Errorf("same seed gave different ids or secrets")
	}
	if slices.Equal(ids1, ids3) || slices.Equal(sec1, sec3) {
		t.Errorf("different seeds gave the same ids or secrets")
	}
	if len(slices.Compact(slices.Sorted(slices.Values(sec1)))) != 5 {
		t.Errorf("secrets repeat: %d distinct", len(slices.Compact(slices.Sorted(slices.Values(sec1)))))
	}
}

func TestCallsCountEveryCallByRoute(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	s := a.create(okBody)
	a.list()
	a.list()
	a.do("GET", subsPath+"/"+s.ID, "")
	a.do("PUT", subsPath+"/"+s.ID, `{"is_active":false}`)
	a.do("PUT", subsPath+"/nope", `{"is_active":false}`)
	a.do("DELETE", subsPath+"/"+s.ID, "")
	a.do("GET", "/api/partner/v3/webhook-events", "")
	a.withToken("bad").do("POST", subsPath, okBody)
	a.do("GET", "/v3/elsewhere", "")

	want := map[string]int{
		"POST /v3/webhook-subscriptions":        2,
		"GET /v3/webhook-subscriptions":         2,
		"GET /v3/webhook-subscriptions/{id}":    1,
		"PUT /v3/webhook-subscriptions/{id}":    2,
		"DELETE /v3/webhook-subscriptions/{id}": 1,
		"GET /v3/webhook-events":                1,
		"GET /v3/elsewhere":                     1,
	}
	if got := srv.Calls(); !maps.Equal(got, want) {
		t.Errorf("Calls = %v, want %v", got, want)
	}
	if got := srv.Count("PUT /v3/webhook-subscriptions/{id}"); got != 2 {
		t.Errorf("Count(PUT) = %d", got)
	}
	if got := srv.Writes(); got != 5 {
		t.Errorf("Writes = %d, want 5", got)
	}

	reqs := srv.Requests()
	if len(reqs) != 10 {
		t.Fatalf("%d requests logged, want 10", len(reqs))
	}
	put := reqs[4]
	if put.Method != "PUT" || put.Route != fakeapi.RouteSubscription || put.ID != s.ID || string(put.Body) != `{"is_active":false}` || put.Status != 200 {
		t.Errorf("logged update = %+v", put)
	}
	if reqs[5].Status != 404 || reqs[7].Path != "/api/partner/v3/webhook-events" || reqs[8].Status != 401 || reqs[9].Route != "" {
		t.Errorf("log = %+v", reqs[5:])
	}
	reqs[4].Body[0] = 'X'
	if srv.Requests()[4].Body[0] != '{' {
		t.Errorf("Requests shares body memory with the log")
	}

	srv.ResetCalls()
	if len(srv.Calls()) != 0 || srv.Writes() != 0 || len(srv.Requests()) != 0 {
		t.Errorf("ResetCalls left %v, %d, %d", srv.Calls(), srv.Writes(), len(srv.Requests()))
	}
}

func TestMaxRequestLogKeepsTheLatest(t *testing.T) {
	srv, a := start(t, fakeapi.Options{MaxRequestLog: 3})
	for i := range 10 {
		a.do("GET", fmt.Sprintf("/v3/x%d", i), "")
	}
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Path)
	}
	if want := []string{"/v3/x7", "/v3/x8", "/v3/x9"}; !slices.Equal(paths, want) {
		t.Errorf("log = %v, want %v", paths, want)
	}
	if srv.Count("GET /v3/x0") != 1 {
		t.Errorf("counts must not be bounded by the log")
	}
}

func TestLoggerNeverSeesSecretsOrTokens(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, a := start(t, fakeapi.Options{Token: "tok-SECRET-123", Logger: logger})
	s := a.create(okBody)
	a.list()
	srv.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Times: 1})
	res := a.do("POST", subsPath, `{"target_url":"https://a.example/lost","subscribed_events":["message.sent"]}`)
	if res.status != 500 {
		t.Fatalf("status = %d", res.status)
	}
	lost := srv.LostSecrets()
	if len(lost) != 1 {
		t.Fatalf("LostSecrets = %v", lost)
	}
	lostSecret, _ := srv.Secret(lost[0])
	out := buf.String()
	for _, secret := range []string{*s.SigningSecret, lostSecret, "tok-SECRET-123", "whsec_"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret: %s", out)
		}
	}
	if strings.Count(out, "msg=request") != 3 || !strings.Contains(out, "fault=error_after") || !strings.Contains(out, "status=201") {
		t.Errorf("log = %s", out)
	}
}
