package linq

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The fuzz targets below check that no answer, however damaged, makes the
// decoders panic, that a body that is not valid JSON is always an error, and
// that what they accept satisfies what the rest of the program relies on.
// Their seed corpora live in testdata/fuzz/<FuzzName>/; run one longer with
// go test -run '^$' -fuzz '^FuzzDecodeList$' -fuzztime 30s ./internal/linq

func addSeeds(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
}

// checkSubscription fails when an accepted subscription lacks what a plan
// needs.
func checkSubscription(t *testing.T, s Subscription) {
	t.Helper()
	if s.ID == "" || s.TargetURL == "" || s.SubscribedEvents == nil {
		t.Fatalf("accepted an incomplete subscription: %+v", s)
	}
}

func FuzzDecodeList(f *testing.F) {
	addSeeds(f, listAB, `{"subscriptions":[]}`, `{"subscriptions":null}`, `{"subscriptions":[`+subA+`,`+subA+`]}`,
		`{"subscriptions":[{"id":""}]}`, `{"error":{"status":500},"success":false}`, `[]`, `<html></html>`, listAB[:40])
	f.Fuzz(func(t *testing.T, body []byte) {
		subs, err := decodeList(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		seen := map[string]bool{}
		for _, s := range subs {
			checkSubscription(t, s)
			if seen[s.ID] {
				t.Fatalf("accepted duplicate id %q", s.ID)
			}
			seen[s.ID] = true
		}
	})
}

func FuzzDecodeSubscription(f *testing.F) {
	addSeeds(f, subA, subB, `{}`, `{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":"2026-01-02T03:04:05"}`,
		`{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":true}`, envelope404, `null`, subA[:50])
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := decodeSubscription(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		checkSubscription(t, s)
	})
}

func FuzzDecodeCreated(f *testing.F) {
	addSeeds(f, createdBody, subA, `{"signing_secret":"whsec_x"}`, createdBody[:70], `{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"signing_secret":7}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeCreated(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		checkSubscription(t, c.Subscription)
		if c.SigningSecret.IsZero() {
			t.Fatal("accepted a create answer without a secret")
		}
	})
}

func FuzzDecodeEventTypes(f *testing.F) {
	addSeeds(f, `{"events":["message.sent"],"doc_url":"https://d"}`, `{"events":[]}`, `{"events":null}`, `{"events":[null]}`, `{}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := decodeEventTypes(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		for _, e := range events {
			if e == "" {
				t.Fatal("accepted an empty event type")
			}
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	f.Add(400, "application/json", []byte(envelope400))
	f.Add(502, "text/html; charset=utf-8", []byte("<html><title>502</title><script>x()</script><body>Bad\x00Gateway "+testToken+"</body></html>"))
	f.Add(500, "", []byte(`{"error":"Bearer abc"}`))
	f.Add(429, "application/problem+json", []byte(`{"message":"\u202eevil\u001b[0m"}`))
	f.Add(404, "bogus/;;", []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		for _, quote := range []bool{true, false} {
			e := errorFromResponse("POST", "/v3/webhook-subscriptions", status, contentType, body, quote, testToken)
			msg := e.Error()
			if e.Status != status || e.Method != "POST" || e.Path != "/v3/webhook-subscriptions" {
				t.Fatalf("APIError lost its request: %+v", e)
			}
			if strings.Contains(msg, testToken) {
				t.Fatalf("error holds the token: %q", msg)
			}
			if !utf8.ValidString(e.Message) {
				t.Fatalf("message is not UTF-8: %q", e.Message)
			}
			for _, r := range e.Message {
				if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
					t.Fatalf("message holds control character %U: %q", r, e.Message)
				}
			}
			if n := utf8.RuneCountInString(e.Message); n > 500 {
				t.Fatalf("message has %d runes", n)
			}
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"3", "1.5", "-1", "NaN", "1e400", "Tue, 03 Feb 2026 10:00:30 GMT", "0x10", "+Inf", ""} {
		f.Add(s, "")
	}
	f.Add("", "250")
	f.Add("5", "-0")
	f.Fuzz(func(t *testing.T, ra, raMS string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("Retry-After-Ms", raMS)
		d, ok := retryAfter(h, time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC))
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("retryAfter(%q, %q) = %v, %v", ra, raMS, d, ok)
		}
	})
}
