package fakeapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

func TestAuthRefusesMissingOrWrongTokens(t *testing.T) {
	srv, a := start(t, fakeapi.Options{Token: "T", ReadOnlyToken: "RO"})
	srv.Seed(fakeapi.Subscription{ID: "11111111-1111-4111-8111-111111111111", TargetURL: "https://x.example/a", SubscribedEvents: []string{"message.sent"}})
	item := subsPath + "/11111111-1111-4111-8111-111111111111"
	tests := []struct {
		name         string
		header       string
		method, path string
		body         string
		wantStatus   int
		wantCode     int
	}{
		{"no header", "", "GET", subsPath, "", 401, fakeapi.CodeUnauthorized},
		{"wrong token", "Bearer nope", "GET", subsPath, "", 401, fakeapi.CodeUnauthorized},
		{"basic scheme", "Basic VDo=", "GET", subsPath, "", 401, fakeapi.CodeUnauthorized},
		{"token without scheme", "T", "GET", subsPath, "", 401, fakeapi.CodeUnauthorized},
		{"empty bearer", "Bearer ", "GET", subsPath, "", 401, fakeapi.CodeUnauthorized},
		{"no token on create", "", "POST", subsPath, okBody, 401, fakeapi.CodeUnauthorized},
		{"no token on unknown path", "", "GET", "/v3/nothing", "", 401, fakeapi.CodeUnauthorized},
		{"no token on events", "", "GET", "/v3/webhook-events", "", 401, fakeapi.CodeUnauthorized},
		{"read-only token creates", "Bearer RO", "POST", subsPath, okBody, 403, fakeapi.CodeForbidden},
		{"read-only token updates", "Bearer RO", "PUT", item, `{"is_active":false}`, 403, fakeapi.CodeForbidden},
		{"read-only token deletes", "Bearer RO", "DELETE", item, "", 403, fakeapi.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.base+tt.path, strings.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := a.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			res := result{status: resp.StatusCode, header: resp.Header, body: b}
			msg := fakeapi.MsgUnauthorized
			if tt.wantStatus == 403 {
				msg = fakeapi.MsgForbidden
			}
			wantError(t, res, tt.wantStatus, tt.wantCode, msg)
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if got := srv.Len(); got != 1 {
		t.Errorf("Len = %d after refused writes, want 1", got)
	}
	if s, _ := srv.Get("11111111-1111-4111-8111-111111111111"); s.TargetURL != "https://x.example/a" {
		t.Errorf("seeded subscription changed: %+v", s)
	}

	t.Run("read-only token reads", func(t *testing.T) {
		for _, p := range []string{subsPath, item, "/v3/webhook-events"} {
			if res := a.withToken("RO").do("GET", p, ""); res.status != 200 {
				t.Errorf("GET %s with read-only token = %d, want 200", p, res.status)
			}
		}
	})
	t.Run("scheme is case-insensitive", func(t *testing.T) {
		req, _ := http.NewRequest("GET", a.base+subsPath, nil)
		req.Header.Set("Authorization", "bearer T")
		resp, err := a.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status = %d, want 200", resp.StatusCode)
		}
	})
}

func TestDefaultTokenIsTestToken(t *testing.T) {
	_, a := start(t, fakeapi.Options{})
	if res := a.withToken("test-token").do("GET", subsPath, ""); res.status != 200 {
		t.Fatalf("status = %d, want 200", res.status)
	}
}

func TestCreateReturnsActiveSubscriptionWithSecretOnce(t *testing.T) {
	clk := newClock()
	srv, a := start(t, fakeapi.Options{Now: clk.Now})
	res := a.do("POST", subsPath, `{"target_url":"https://hooks.example.com/linq?version=2026-02-03&x=<y>",`+
		`"subscribed_events":["message.sent","message.read","message.sent"],"phone_numbers":["+15551234567"],"is_active":false}`)
	if res.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201: %s", res.status, res.body)
	}
	got := decodeSub(t, res.body)
	if !uuidV4RE.MatchString(got.ID) {
		t.Errorf("id %q is not a UUID v4", got.ID)
	}
	if got.SigningSecret == nil || !secretRE.MatchString(*got.SigningSecret) {
		t.Errorf("signing_secret = %v, want whsec_ + base64 of 32 bytes", got.SigningSecret)
	}
	if !got.IsActive {
		t.Errorf("is_active = false; a new subscription is always active")
	}
	if got.TargetURL != "https://hooks.example.com/linq?version=2026-02-03&x=<y>" {
		t.Errorf("target_url = %q, want it exactly as sent", got.TargetURL)
	}
	if !strings.Contains(string(res.body), `&x=<y>`) {
		t.Errorf("target_url is HTML-escaped on the wire: %s", res.body)
	}
	if want := []string{"message.sent", "message.read"}; !slices.Equal(got.SubscribedEvents, want) {
		t.Errorf("subscribed_events = %v, want %v (duplicates collapsed)", got.SubscribedEvents, want)
	}
	if string(got.PhoneNumbers) != `["+15551234567"]` {
		t.Errorf("phone_numbers = %s", got.PhoneNumbers)
	}
	if string(got.EnvironmentID) != "null" {
		t.Errorf("environment_id = %s, want null", got.EnvironmentID)
	}
	if got.CreatedAt != "2026-02-03T10:30:00Z" || got.UpdatedAt != got.CreatedAt {
		t.Errorf("created_at, updated_at = %q, %q", got.CreatedAt, got.UpdatedAt)
	}
	if sec, ok := srv.Secret(got.ID); !ok || sec != *got.SigningSecret {
		t.Errorf("Secret(id) does not match the secret returned")
	}

	t.Run("secret is absent from list and retrieve", func(t *testing.T) {
		for _, p := range []string{subsPath, subsPath + "/" + got.ID} {
			r := a.do("GET", p, "")
			if r.status != 200 {
				t.Fatalf("GET %s = %d", p, r.status)
			}
			if strings.Contains(string(r.body), "signing_secret") || strings.Contains(string(r.body), *got.SigningSecret) {
				t.Errorf("GET %s leaks the secret: %s", p, r.body)
			}
		}
	})
	t.Run("create without phone_numbers reads back null", func(t *testing.T) {
		s := a.create(`{"target_url":"https://hooks.example.com/b","subscribed_events":["call.ended"]}`)
		if string(s.PhoneNumbers) != "null" {
			t.Errorf("phone_numbers = %s, want null", s.PhoneNumbers)
		}
	})
	t.Run("create with empty phone_numbers means no filter", func(t *testing.T) {
		s := a.create(`{"target_url":"https://hooks.example.com/c","subscribed_events":["call.ended"],"phone_numbers":[]}`)
		if string(s.PhoneNumbers) != "null" {
			t.Errorf("phone_numbers = %s, want null", s.PhoneNumbers)
		}
	})
}

func TestCreateRefusesInvalidBodies(t *testing.T) {
	const ev = `"subscribed_events":["message.sent"]`
	big := `{"target_url":"https://a.example/x","subscribed_events":["message.sent"],"pad":"` + strings.Repeat("x", fakeapi.MaxBodyBytes) + `"}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   int
		wantMsg    string
	}{
		{"empty body", "", 400, fakeapi.CodeMalformedJSON, ""},
		{"malformed JSON", `{"target_url":`, 400, fakeapi.CodeMalformedJSON, ""},
		{"trailing garbage", okBody + `}`, 400, fakeapi.CodeMalformedJSON, ""},
		{"array body", `[` + okBody + `]`, 400, fakeapi.CodeMalformedJSON, ""},
		{"null body", `null`, 400, fakeapi.CodeMalformedJSON, ""},
		{"missing target_url", `{` + ev + `}`, 400, fakeapi.CodeValidation, "target_url is required"},
		{"empty target_url", `{"target_url":"",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"null target_url", `{"target_url":null,` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"numeric target_url", `{"target_url":42,` + ev + `}`, 400, fakeapi.CodeValidation, "target_url must be a string"},
		{"http target_url", `{"target_url":"http://a.example/x",` + ev + `}`, 400, fakeapi.CodeValidation, "target_url must use HTTPS"},
		{"relative target_url", `{"target_url":"/hooks",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"no host", `{"target_url":"https:///path",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"port only", `{"target_url":"https://:443/path",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"space in URL", `{"target_url":"https://a.example/x y",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"not a URL", `{"target_url":"https://a b",` + ev + `}`, 400, fakeapi.CodeValidation, ""},
		{"missing events", `{"target_url":"https://a.example/x"}`, 400, fakeapi.CodeValidation, "subscribed_events is required"},
		{"empty events", `{"target_url":"https://a.example/x","subscribed_events":[]}`, 400, fakeapi.CodeValidation, "subscribed_events must not be empty"},
		{"null events", `{"target_url":"https://a.example/x","subscribed_events":null}`, 400, fakeapi.CodeValidation, ""},
		{"events as string", `{"target_url":"https://a.example/x","subscribed_events":"message.sent"}`, 400, fakeapi.CodeValidation, ""},
		{"event as number", `{"target_url":"https://a.example/x","subscribed_events":[1]}`, 400, fakeapi.CodeValidation, ""},
		{"unknown event", `{"target_url":"https://a.example/x","subscribed_events":["message.sent","poll.created"]}`, 400, fakeapi.CodeValidation, `unknown event type "poll.created" in subscribed_events`},
		{"phones as string", `{"target_url":"https://a.example/x",` + ev + `,"phone_numbers":"+15551234567"}`, 400, fakeapi.CodeValidation, ""},
		{"phone as number", `{"target_url":"https://a.example/x",` + ev + `,"phone_numbers":[15551234567]}`, 400, fakeapi.CodeValidation, ""},
		{"is_active not boolean", `{"target_url":"https://a.example/x",` + ev + `,"is_active":"no"}`, 400, fakeapi.CodeValidation, "is_active must be a boolean"},
		{"body over 1 MiB", big, 413, fakeapi.CodeBodyTooLarge, ""},
	}
	for _, pn := range []string{"555", "15551234567", "+0155512345", "+1", "+1234567890123456", "+1 555 123 4567", "+1-555-1234", "++15551234567", "", "+１５５５"} {
		tests = append(tests, struct {
			name       string
			body       string
			wantStatus int
			wantCode   int
			wantMsg    string
		}{"phone " + pn, `{"target_url":"https://a.example/x",` + ev + `,"phone_numbers":["+15551234567",` + mustQuote(pn) + `]}`, 400, fakeapi.CodePhoneNumber, fakeapi.MsgPhoneNumber})
	}
	srv, a := start(t, fakeapi.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("POST", subsPath, tt.body)
			wantError(t, res, tt.wantStatus, tt.wantCode, tt.wantMsg)
			if n := srv.Len(); n != 0 {
				t.Errorf("Len = %d after a refused create, want 0", n)
			}
		})
	}
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCreateAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"shortest E.164", `{"target_url":"https://a.example/1","subscribed_events":["message.sent"],"phone_numbers":["+12"]}`},
		{"longest E.164", `{"target_url":"https://a.example/2","subscribed_events":["message.sent"],"phone_numbers":["+123456789012345"]}`},
		{"upper-case scheme", `{"target_url":"HTTPS://a.example/3","subscribed_events":["message.sent"]}`},
		{"port and query", `{"target_url":"https://a.example:8443/4?line=1","subscribed_events":["message.sent"]}`},
		{"every published event", `{"target_url":"https://a.example/5","subscribed_events":` + string(mustJSON(fakeapi.DefaultEventTypes)) + `}`},
		{"null is_active", `{"target_url":"https://a.example/6","subscribed_events":["message.sent"],"is_active":null}`},
		{"unknown field ignored", `{"target_url":"https://a.example/7","subscribed_events":["message.sent"],"webhook_version":"2026-02-03"}`},
		{"null phone_numbers", `{"target_url":"https://a.example/8","subscribed_events":["message.sent"],"phone_numbers":null}`},
	}
	_, a := start(t, fakeapi.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := a.create(tt.body)
			if !s.IsActive {
				t.Errorf("is_active = false")
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestRejectUnknownFieldsOption(t *testing.T) {
	srv, a := start(t, fakeapi.Options{RejectUnknownFields: true})
	res := a.do("POST", subsPath, `{"target_url":"https://a.example/x","subscribed_events":["message.sent"],"phone_number":["+15551234567"]}`)
	wantError(t, res, 400, fakeapi.CodeValidation, `unknown field "phone_number"`)
	s := a.create(okBody)
	res = a.do("PUT", subsPath+"/"+s.ID, `{"active":false}`)
	wantError(t, res, 400, fakeapi.CodeValidation, `unknown field "active"`)
	if got, _ := srv.Get(s.ID); !got.IsActive {
		t.Errorf("refused update changed the subscription")
	}
}

func TestDuplicateTargetURLIsRefusedWithConfiguredStatus(t *testing.T) {
	for _, status := range []int{0, 400, 409, 422} {
		want := status
		if want == 0 {
			want = 409
		}
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			srv, a := start(t, fakeapi.Options{DuplicateURLStatus: status})
			a.create(`{"target_url":"https://a.example/x?line=1","subscribed_events":["message.sent"]}`)
			res := a.do("POST", subsPath, `{"target_url":"https://a.example/x?line=1","subscribed_events":["call.ended"]}`)
			wantError(t, res, want, fakeapi.CodeDuplicateURL, fakeapi.MsgDuplicateURL)
			if srv.Len() != 1 {
				t.Errorf("Len = %d, want 1", srv.Len())
			}
			// URLs compare as exact strings.
			for _, u := range []string{"https://a.example/x?line=2", "https://a.example/x?line=1&", "https://A.example/x?line=1", "https://a.example/x/?line=1"} {
				a.create(`{"target_url":` + mustQuote(u) + `,"subscribed_events":["message.sent"]}`)
			}
			if srv.Len() != 5 {
				t.Errorf("Len = %d, want 5", srv.Len())
			}
		})
	}
	t.Run("custom code", func(t *testing.T) {
		_, a := start(t, fakeapi.Options{DuplicateURLStatus: 422, DuplicateURLCode: 4242})
		a.create(okBody)
		wantError(t, a.do("POST", subsPath, okBody), 422, 4242, "")
	})
	t.Run("URL is free again after delete", func(t *testing.T) {
		_, a := start(t, fakeapi.Options{})
		s := a.create(okBody)
		if r := a.do("DELETE", subsPath+"/"+s.ID, ""); r.status != 204 {
			t.Fatalf("delete = %d", r.status)
		}
		a.create(okBody)
	})
}

func TestConcurrentCreatesOfOneURLYieldOneSubscription(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	const n = 24
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			u := fmt.Sprintf("https://a.example/%d", i%4)
			statuses <- a.do("POST", subsPath, `{"target_url":"`+u+`","subscribed_events":["message.sent"]}`).status
		}()
	}
	created, refused := 0, 0
	for range n {
		switch <-statuses {
		case 201:
			created++
		case 409:
			refused++
		}
	}
	if created != 4 || refused != n-4 || srv.Len() != 4 {
		t.Errorf("created %d, refused %d, Len %d; want 4, %d, 4", created, refused, srv.Len(), n-4)
	}
}

func TestListReturnsSubscriptionsInCreationOrder(t *testing.T) {
	_, a := start(t, fakeapi.Options{Seed: 7})
	if got := a.list(); len(got) != 0 {
		t.Fatalf("empty account lists %d", len(got))
	}
	res := a.do("GET", subsPath, "")
	if string(res.body) != `{"subscriptions":[]}` {
		t.Errorf("empty list body = %s", res.body)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, a.create(fmt.Sprintf(`{"target_url":"https://a.example/%d","subscribed_events":["message.sent"]}`, 5-i)).ID)
	}
	a.do("DELETE", subsPath+"/"+ids[2], "")
	var got []string
	for _, s := range a.list() {
		got = append(got, s.ID)
	}
	want := slices.Delete(slices.Clone(ids), 2, 3)
	if !slices.Equal(got, want) {
		t.Errorf("list ids = %v, want %v", got, want)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRetrieveReturnsOneSubscription(t *testing.T) {
	_, a := start(t, fakeapi.Options{})
	s := a.create(okBody)
	res := a.do("GET", subsPath+"/"+s.ID, "")
	if res.status != 200 {
		t.Fatalf("status = %d", res.status)
	}
	got := decodeSub(t, res.body)
	if got.ID != s.ID || got.TargetURL != s.TargetURL || got.SigningSecret != nil {
		t.Errorf("retrieve = %+v, want %+v without secret", got, s)
	}
}

func TestUnknownIDIsNotFoundEverywhere(t *testing.T) {
	_, a := start(t, fakeapi.Options{})
	a.create(okBody)
	for _, id := range []string{"b2c3d4e5-f6a7-4901-8cde-f23456789012", "not-a-uuid", "%20"} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			t.Run(m+" "+id, func(t *testing.T) {
				body := ""
				if m == "PUT" {
					body = `{"is_active":false}`
				}
				wantError(t, a.do(m, subsPath+"/"+id, body), 404, fakeapi.CodeNotFound, fakeapi.MsgNotFound)
			})
		}
	}
	t.Run("unknown id wins over a bad body", func(t *testing.T) {
		wantError(t, a.do("PUT", subsPath+"/b2c3d4e5-f6a7-4901-8cde-f23456789012", `{`), 404, fakeapi.CodeNotFound, "")
	})
}

func TestUpdateChangesOnlyPresentFields(t *testing.T) {
	clk := newClock()
	srv, a := start(t, fakeapi.Options{Now: clk.Now})
	s := a.create(`{"target_url":"https://a.example/x","subscribed_events":["message.sent","message.read"],"phone_numbers":["+15551234567"]}`)
	other := a.create(`{"target_url":"https://a.example/other","subscribed_events":["message.sent"]}`)
	item := subsPath + "/" + s.ID

	steps := []struct {
		name    string
		body    string
		check   func(t *testing.T, got wireSub)
		advance time.Duration
	}{
		{"empty body changes nothing but updated_at", `{}`, func(t *testing.T, got wireSub) {
			if got.TargetURL != s.TargetURL || !slices.Equal(got.SubscribedEvents, s.SubscribedEvents) || string(got.PhoneNumbers) != `["+15551234567"]` || !got.IsActive {
				t.Errorf("fields changed: %+v", got)
			}
		}, time.Second},
		{"target_url only", `{"target_url":"https://a.example/y"}`, func(t *testing.T, got wireSub) {
			if got.TargetURL != "https://a.example/y" || !slices.Equal(got.SubscribedEvents, s.SubscribedEvents) || string(got.PhoneNumbers) != `["+15551234567"]` {
				t.Errorf("got %+v", got)
			}
		}, time.Second},
		{"events replace the set", `{"subscribed_events":["call.ended"]}`, func(t *testing.T, got wireSub) {
			if !slices.Equal(got.SubscribedEvents, []string{"call.ended"}) || got.TargetURL != "https://a.example/y" {
				t.Errorf("got %+v", got)
			}
		}, time.Second},
		{"deactivate", `{"is_active":false}`, func(t *testing.T, got wireSub) {
			if got.IsActive || !slices.Equal(got.SubscribedEvents, []string{"call.ended"}) {
				t.Errorf("got %+v", got)
			}
		}, time.Second},
		{"phone filter replaced", `{"phone_numbers":["+447700900123","+15550001111"]}`, func(t *testing.T, got wireSub) {
			if string(got.PhoneNumbers) != `["+447700900123","+15550001111"]` || got.IsActive {
				t.Errorf("got %+v", got)
			}
		}, time.Second},
		{"own URL is not a duplicate", `{"target_url":"https://a.example/y","is_active":true}`, func(t *testing.T, got wireSub) {
			if !got.IsActive {
				t.Errorf("got %+v", got)
			}
		}, time.Second},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.Add(st.advance)
			res := a.do("PUT", item, st.body)
			if res.status != 200 {
				t.Fatalf("status = %d: %s", res.status, res.body)
			}
			got := decodeSub(t, res.body)
			st.check(t, got)
			if want := clk.Now().Format(time.RFC3339Nano); got.UpdatedAt != want {
				t.Errorf("updated_at = %q, want %q", got.UpdatedAt, want)
			}
			if got.CreatedAt != s.CreatedAt {
				t.Errorf("created_at changed: %q -> %q", s.CreatedAt, got.CreatedAt)
			}
			if got.SigningSecret != nil {
				t.Errorf("update returned a signing secret")
			}
			again := decodeSub(t, a.do("GET", item, "").body)
			if again.UpdatedAt != got.UpdatedAt || again.TargetURL != got.TargetURL {
				t.Errorf("retrieve after update disagrees: %+v vs %+v", again, got)
			}
		})
	}

	refusals := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   int
	}{
		{"http URL", `{"target_url":"http://a.example/z"}`, 400, fakeapi.CodeValidation},
		{"null URL", `{"target_url":null}`, 400, fakeapi.CodeValidation},
		{"another subscription's URL", `{"target_url":"https://a.example/other"}`, 409, fakeapi.CodeDuplicateURL},
		{"empty events", `{"subscribed_events":[]}`, 400, fakeapi.CodeValidation},
		{"null events", `{"subscribed_events":null}`, 400, fakeapi.CodeValidation},
		{"unknown event", `{"subscribed_events":["message.bogus"]}`, 400, fakeapi.CodeValidation},
		{"bad phone", `{"phone_numbers":["+15551234567","5551234"]}`, 400, fakeapi.CodePhoneNumber},
		{"phones as object", `{"phone_numbers":{}}`, 400, fakeapi.CodeValidation},
		{"is_active as string", `{"is_active":"false"}`, 400, fakeapi.CodeValidation},
		{"null is_active", `{"is_active":null}`, 400, fakeapi.CodeValidation},
		{"malformed JSON", `{"is_active":`, 400, fakeapi.CodeMalformedJSON},
		{"array body", `[]`, 400, fakeapi.CodeMalformedJSON},
		{"valid field then invalid one", `{"is_active":false,"target_url":"ftp://a.example/z"}`, 400, fakeapi.CodeValidation},
	}
	before, _ := srv.Get(s.ID)
	for _, rf := range refusals {
		t.Run("refuses "+rf.name, func(t *testing.T) {
			clk.Add(time.Second)
			res := a.do("PUT", item, rf.body)
			msg := ""
			if rf.wantCode == fakeapi.CodePhoneNumber {
				msg = fakeapi.MsgPhoneNumber
			}
			wantError(t, res, rf.wantStatus, rf.wantCode, msg)
			after, _ := srv.Get(s.ID)
			if !after.UpdatedAt.Equal(before.UpdatedAt) || after.TargetURL != before.TargetURL || after.IsActive != before.IsActive {
				t.Errorf("refused update changed the subscription: %+v -> %+v", before, after)
			}
		})
	}
	if o, _ := srv.Get(other.ID); o.TargetURL != "https://a.example/other" {
		t.Errorf("other subscription changed: %+v", o)
	}
	t.Run("old URL is free after a URL change", func(t *testing.T) {
		a.create(`{"target_url":"https://a.example/x","subscribed_events":["message.sent"]}`)
	})
}

func TestPhoneFilterRemovalReadsBackPerOption(t *testing.T) {
	tests := []struct {
		name      string
		form      fakeapi.EmptyPhoneNumbers
		send      string
		wantRaw   string // "" means the field is absent
		wantSnapN bool   // Snapshot holds nil (not an empty slice)
	}{
		{"null form, removed with null", fakeapi.EmptyPhoneNumbersNull, "null", "null", true},
		{"null form, removed with []", fakeapi.EmptyPhoneNumbersNull, "[]", "null", true},
		{"array form, removed with null", fakeapi.EmptyPhoneNumbersArray, "null", "[]", true},
		{"array form, removed with []", fakeapi.EmptyPhoneNumbersArray, "[]", "[]", true},
		{"omit form, removed with null", fakeapi.EmptyPhoneNumbersOmit, "null", "", true},
		{"omit form, removed with []", fakeapi.EmptyPhoneNumbersOmit, "[]", "", true},
		{"echo form, removed with null", fakeapi.EmptyPhoneNumbersEcho, "null", "null", true},
		{"echo form, removed with []", fakeapi.EmptyPhoneNumbersEcho, "[]", "[]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a := start(t, fakeapi.Options{EmptyPhoneNumbers: tt.form})
			s := a.create(`{"target_url":"https://a.example/x","subscribed_events":["message.sent"],"phone_numbers":["+15551234567"]}`)
			res := a.do("PUT", subsPath+"/"+s.ID, `{"phone_numbers":`+tt.send+`}`)
			if res.status != 200 {
				t.Fatalf("status = %d: %s", res.status, res.body)
			}
			for name, body := range map[string][]byte{"update": res.body, "retrieve": a.do("GET", subsPath+"/"+s.ID, "").body} {
				got := decodeSub(t, body)
				_, present := got.raw["phone_numbers"]
				if tt.wantRaw == "" && present {
					t.Errorf("%s: phone_numbers present (%s), want absent", name, got.PhoneNumbers)
				}
				if tt.wantRaw != "" && string(got.PhoneNumbers) != tt.wantRaw {
					t.Errorf("%s: phone_numbers = %s, want %s", name, got.PhoneNumbers, tt.wantRaw)
				}
			}
			snap, _ := srv.Get(s.ID)
			if len(snap.PhoneNumbers) != 0 || (snap.PhoneNumbers == nil) != tt.wantSnapN {
				t.Errorf("snapshot phone_numbers = %#v", snap.PhoneNumbers)
			}
		})
	}
}

func TestDeleteAnswers204ThenNotFound(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	s := a.create(okBody)
	res := a.do("DELETE", subsPath+"/"+s.ID, "")
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("delete = %d %q, want 204 and no body", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "" {
		t.Errorf("Content-Type on 204 = %q", ct)
	}
	if srv.Len() != 0 {
		t.Errorf("Len = %d", srv.Len())
	}
	wantError(t, a.do("DELETE", subsPath+"/"+s.ID, ""), 404, fakeapi.CodeNotFound, fakeapi.MsgNotFound)
	wantError(t, a.do("GET", subsPath+"/"+s.ID, ""), 404, fakeapi.CodeNotFound, fakeapi.MsgNotFound)
	if _, ok := srv.Secret(s.ID); ok {
		t.Errorf("secret of a deleted subscription is still held")
	}
}

func TestEventTypesListsPublishedTypes(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		_, a := start(t, fakeapi.Options{})
		res := a.do("GET", "/v3/webhook-events", "")
		var got struct {
			Events []string `json:"events"`
			DocURL string   `json:"doc_url"`
		}
		if err := json.Unmarshal(res.body, &got); err != nil || res.status != 200 {
			t.Fatalf("status %d, %v: %s", res.status, err, res.body)
		}
		if len(got.Events) != 27 || !slices.Equal(got.Events, fakeapi.DefaultEventTypes) {
			t.Errorf("events = %v (%d), want the 27 published", got.Events, len(got.Events))
		}
		if got.DocURL != "https://docs.linqapp.com/guides/webhooks/events" {
			t.Errorf("doc_url = %q", got.DocURL)
		}
	})
	t.Run("custom list is the validation authority", func(t *testing.T) {
		_, a := start(t, fakeapi.Options{EventTypes: []string{"message.sent", "poll.created"}})
		a.create(`{"target_url":"https://a.example/x","subscribed_events":["poll.created"]}`)
		wantError(t, a.do("POST", subsPath, `{"target_url":"https://a.example/y","subscribed_events":["message.read"]}`), 400, fakeapi.CodeValidation, "")
		var got struct{ Events []string }
		_ = json.Unmarshal(a.do("GET", "/v3/webhook-events", "").body, &got)
		if !slices.Equal(got.Events, []string{"message.sent", "poll.created"}) {
			t.Errorf("events = %v", got.Events)
		}
	})
}

func TestEnvironmentID(t *testing.T) {
	env := "env_staging"
	tests := []struct {
		name string
		omit bool
		seed *string
		want string // "" means absent
	}{
		{"production is null", false, nil, "null"},
		{"other environment is returned", false, &env, `"env_staging"`},
		{"older API omits it", true, nil, ""},
		{"older API omits it even when set", true, &env, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a := start(t, fakeapi.Options{OmitEnvironmentID: tt.omit})
			srv.Seed(fakeapi.Subscription{TargetURL: "https://a.example/x", SubscribedEvents: []string{"message.sent"}, EnvironmentID: tt.seed})
			got := a.list()[0]
			_, present := got.raw["environment_id"]
			if tt.want == "" && present || tt.want != "" && string(got.EnvironmentID) != tt.want {
				t.Errorf("environment_id = %s (present %v), want %q", got.EnvironmentID, present, tt.want)
			}
		})
	}
	t.Run("create cannot set it", func(t *testing.T) {
		_, a := start(t, fakeapi.Options{})
		s := a.create(`{"target_url":"https://a.example/x","subscribed_events":["message.sent"],"environment_id":"env_x"}`)
		if string(s.EnvironmentID) != "null" {
			t.Errorf("environment_id = %s", s.EnvironmentID)
		}
	})
}

func TestRoutesAcceptPartnerPrefixAndRefuseOthers(t *testing.T) {
	srv, a := start(t, fakeapi.Options{})
	s := a.create(okBody)
	t.Run("partner prefix", func(t *testing.T) {
		for _, p := range []string{"/api/partner/v3/webhook-subscriptions", "/api/partner/v3/webhook-subscriptions/" + s.ID, "/api/partner/v3/webhook-events"} {
			if res := a.do("GET", p, ""); res.status != 200 {
				t.Errorf("GET %s = %d", p, res.status)
			}
		}
		if n := srv.Count("GET /v3/webhook-subscriptions"); n != 1 {
			t.Errorf("prefixed call counted as %d under the plain route", n)
		}
	})
	notFound := []string{"/", "/v3", "/v3/webhook-subscriptions/", "/v3/webhook-subscriptions/" + s.ID + "/x", "/v2/webhook-subscriptions", "/api/partner", "/api/partner/v3/nope"}
	for _, p := range notFound {
		t.Run("not found "+p, func(t *testing.T) {
			wantError(t, a.do("GET", p, ""), 404, fakeapi.CodeNotFound, fakeapi.MsgNotFound)
		})
	}
	methods := []struct{ method, path, allow string }{
		{"DELETE", subsPath, "GET, POST"},
		{"PUT", subsPath, "GET, POST"},
		{"PATCH", subsPath + "/" + s.ID, "GET, PUT, DELETE"},
		{"POST", subsPath + "/" + s.ID, "GET, PUT, DELETE"},
		{"POST", "/v3/webhook-events", "GET"},
	}
	for _, m := range methods {
		t.Run("method "+m.method+" "+m.path, func(t *testing.T) {
			res := a.do(m.method, m.path, "")
			wantError(t, res, 405, fakeapi.CodeMethodNotAllowed, "")
			if got := res.header.Get("Allow"); got != m.allow {
				t.Errorf("Allow = %q, want %q", got, m.allow)
			}
		})
	}
	if srv.Len() != 1 {
		t.Errorf("Len = %d", srv.Len())
	}
}
