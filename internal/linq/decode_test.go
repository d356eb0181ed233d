package linq

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeSubscriptionAcceptsWhatTheAPIMaySend(t *testing.T) {
	base := `"id":"x","target_url":"https://h.example/","subscribed_events":["message.sent"],"is_active":true`
	tests := []struct {
		name string
		body string
		// check inspects the result.
		check func(t *testing.T, s Subscription)
	}{
		{name: "minimal", body: `{` + base + `}`},
		{name: "unknown fields", body: `{` + base + `,"environment_id":"e","webhook_version":"2026-02-03","nested":{"a":[1,2]}}`,
			check: func(t *testing.T, s Subscription) {
				if s.EnvironmentID == nil || *s.EnvironmentID != "e" {
					t.Errorf("environment id = %v", s.EnvironmentID)
				}
			}},
		{name: "null timestamps", body: `{` + base + `,"created_at":null,"updated_at":""}`,
			check: func(t *testing.T, s Subscription) {
				if !s.CreatedAt.IsZero() || !s.UpdatedAt.IsZero() {
					t.Errorf("timestamps = %v, %v; want zero", s.CreatedAt, s.UpdatedAt)
				}
			}},
		{name: "timestamp without zone", body: `{` + base + `,"created_at":"2026-01-02T03:04:05.5"}`,
			check: func(t *testing.T, s Subscription) {
				if s.CreatedAt.Nanosecond() != 5e8 || s.CreatedAt.Hour() != 3 {
					t.Errorf("created_at = %v", s.CreatedAt)
				}
			}},
		{name: "timestamp with offset", body: `{` + base + `,"created_at":"2026-01-02T03:04:05+02:00"}`},
		{name: "empty events", body: `{"id":"x","target_url":"u","subscribed_events":[],"is_active":false}`},
		{name: "success true", body: `{` + base + `,"success":true}`},
		{name: "error null", body: `{` + base + `,"error":null}`},
		{name: "surrounding whitespace", body: "\n\t {" + base + "} \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := decodeSubscription([]byte(tt.body))
			if err != nil {
				t.Fatalf("decodeSubscription() = %v", err)
			}
			if s.ID != "x" {
				t.Errorf("id = %q", s.ID)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestDecodeRejectsDamagedAnswers(t *testing.T) {
	base := `"target_url":"https://h.example/","subscribed_events":["message.sent"],"is_active":true`
	tests := []struct {
		name    string
		decode  func([]byte) error
		body    string
		wantErr string
	}{
		{name: "list: null subscriptions is refused", decode: list, body: `{"subscriptions":null}`, wantErr: `"subscriptions" is null, not an array`},
		{name: "list: empty", decode: list, body: `{"subscriptions":[]}`, wantErr: ""},
		{name: "list: number", decode: list, body: `42`, wantErr: "body is a number, not an object"},
		{name: "list: null body", decode: list, body: `null`, wantErr: "body is null, not an object"},
		{name: "list: null item", decode: list, body: `{"subscriptions":[null]}`, wantErr: "subscriptions[0]: subscription is null, not an object"},
		{name: "list: string item", decode: list, body: `{"subscriptions":["x"]}`, wantErr: "subscriptions[0]: subscription is a string, not an object"},
		{name: "list: id a number", decode: list, body: `{"subscriptions":[{"id":7,` + base + `}]}`, wantErr: `subscriptions[0]: field "id": number where a string was expected`},
		{name: "list: events a string", decode: list, body: `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":"message.sent","is_active":true}]}`,
			wantErr: `string where an array was expected`},
		{name: "list: no target_url", decode: list, body: `{"subscriptions":[{"id":"a","subscribed_events":[],"is_active":true}]}`, wantErr: `subscription "a": no target_url`},
		{name: "list: null events", decode: list, body: `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":null,"is_active":true}]}`,
			wantErr: `subscription "a": no subscribed_events`},
		{name: "list: not UTF-8 JSON", decode: list, body: "\xff\xfe{}", wantErr: "body is not JSON"},
		{name: "list: error string envelope", decode: list, body: `{"error":"boom","subscriptions":[]}`, wantErr: "error envelope: boom"},
		{name: "one: created_at a number", decode: one, body: `{"id":"a",` + base + `,"created_at":5}`, wantErr: `subscription "a": created_at: a number where a timestamp string was expected`},
		{name: "one: empty", decode: one, body: ``, wantErr: "empty body"},
		{name: "one: whitespace", decode: one, body: " \n", wantErr: "empty body"},
		{name: "one: truncated", decode: one, body: `{"id":"a",` + base[:20], wantErr: "truncated JSON"},
		{name: "created: no secret", decode: created, body: `{"id":"a",` + base + `}`, wantErr: "no signing_secret"},
		{name: "created: secret a number", decode: created, body: `{"id":"a",` + base + `,"signing_secret":12345678}`, wantErr: "number where a string was expected"},
		{name: "created: empty secret", decode: created, body: `{"id":"a",` + base + `,"signing_secret":""}`, wantErr: "no signing_secret"},
		{name: "events: ok", decode: events, body: `{"events":["a","b"],"doc_url":"https://d"}`, wantErr: ""},
		{name: "events: absent", decode: events, body: `{"doc_url":"https://d"}`, wantErr: `no "events" array`},
		{name: "events: null entry", decode: events, body: `{"events":["a",null]}`, wantErr: "events[1]: empty event type"},
		{name: "events: numbers", decode: events, body: `{"events":[1]}`, wantErr: "number where a string was expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode([]byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("decode = %v, want success", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("decode succeeded, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("decode = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func list(b []byte) error    { _, err := decodeList(b); return err }
func one(b []byte) error     { _, err := decodeSubscription(b); return err }
func created(b []byte) error { _, err := decodeCreated(b); return err }
func events(b []byte) error  { _, err := decodeEventTypes(b); return err }

func TestDecodeCreatedErrorsNeverQuoteTheBody(t *testing.T) {
	const secret = "whsec_QUJDREVGR0hJSktMTU5PUA=="
	bodies := []string{
		`{"signing_secret":"` + secret + `"}`,
		`{"id":5,"signing_secret":"` + secret + `"}`,
		`{"id":"a","target_url":"u","subscribed_events":[],"is_active":"` + secret + `","signing_secret":"` + secret + `"}`,
		`{"id":"a","signing_secret":"` + secret + `"`,
		`{"id":"a","signing_secret":"` + secret,
		`{"id":"a","signing_secret":"` + secret + `",}`,
		`["` + secret + `"]`,
		`"` + secret + `"`,
		secret,
	}
	for _, b := range bodies {
		_, err := decodeCreated([]byte(b))
		if err == nil {
			t.Errorf("decodeCreated(%q) succeeded", b)
			continue
		}
		if strings.Contains(err.Error(), "QUJD") || strings.Contains(err.Error(), "whsec_") {
			t.Errorf("decodeCreated error quotes the secret: %v", err)
		}
	}
}

func TestErrorFromResponse(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		quote       bool
		want        APIError
	}{
		{name: "published envelope", status: 400, contentType: "application/json", body: envelope400, quote: true,
			want: APIError{Status: 400, Code: 1002, Message: "Phone number must be in E.164 format"}},
		{name: "codes as strings", status: 404, body: `{"error":{"status":"404","code":"2001","message":"Resource not found"},"success":false}`,
			want: APIError{Status: 404, Code: 2001, Message: "Resource not found"}},
		{name: "error as a string", status: 500, body: `{"error":"database down"}`, want: APIError{Status: 500, Message: "database down"}},
		{name: "top-level message", status: 429, body: `{"message":"slow down"}`, want: APIError{Status: 429, Message: "slow down"}},
		{name: "empty body", status: 503, want: APIError{Status: 503}},
		{name: "HTML quoted", status: 502, contentType: "text/html", body: "<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>", quote: true,
			want: APIError{Status: 502, Message: `answer without an error envelope (content type "text/html"): "502 Bad Gateway nginx"`}},
		{name: "HTML not quoted", status: 502, contentType: "text/html; charset=utf-8", body: "<h1>secret</h1>", quote: false,
			want: APIError{Status: 502, Message: `answer without an error envelope (content type "text/html")`}},
		{name: "token and secrets redacted", status: 401, body: `{"error":{"message":"token ` + testToken + ` bad, also whsec_abc and Bearer xyz"}}`,
			want: APIError{Status: 401, Message: "token [redacted] bad, also [redacted] and [redacted]"}},
		{name: "control characters", status: 500, body: "{\"error\":{\"message\":\"a\\u001b[31mb\\nc\\u202ed\"}}",
			want: APIError{Status: 500, Message: "a?[31mb c?d"}},
		{name: "truncated JSON", status: 500, contentType: "application/json", body: `{"error":{"mess`, quote: true,
			want: APIError{Status: 500, Message: `answer without an error envelope (content type "application/json"): "{\"error\":{\"mess"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorFromResponse("GET", "/v3/x", tt.status, tt.contentType, []byte(tt.body), tt.quote, testToken)
			tt.want.Method, tt.want.Path = "GET", "/v3/x"
			if *got != tt.want {
				t.Errorf("errorFromResponse() = %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestLongMessagesAreShortened(t *testing.T) {
	long := strings.Repeat("é", 5000)
	got := errorFromResponse("GET", "/v3/x", 500, "", []byte(`{"error":{"message":"`+long+`"}}`), true)
	if n := utf8.RuneCountInString(got.Message); n > maxMessageLen+3 {
		t.Errorf("message has %d runes, want at most %d", n, maxMessageLen+3)
	}
	if !utf8.ValidString(got.Message) {
		t.Error("message is not valid UTF-8 after truncation")
	}
}
