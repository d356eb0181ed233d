package linq

import (
	"fmt"
	"strings"
	"testing"
)

func TestDecodeListAcceptsOnlyACompleteList(t *testing.T) {
	item := func(id string) string {
		return `{"id":"` + id + `","target_url":"https://h.example/` + id + `","subscribed_events":["message.sent"],"is_active":true,` +
			`"phone_numbers":null,"environment_id":null,"created_at":"2026-01-02T03:04:05.123Z","updated_at":"2026-01-02T03:04:05Z"}`
	}
	tests := []struct {
		name   string
		body   string
		wantOK bool
	}{
		{"plain list", `{"subscriptions":[` + item("a") + `,` + item("b") + `]}`, true},
		{"empty list", `{"subscriptions":[]}`, true},
		{"success true and null error", `{"success":true,"error":null,"subscriptions":[` + item("a") + `]}`, true},
		{"unknown keys", `{"next":null,"subscriptions":[` + item("a") + `],"meta":{"x":[1,2]}}`, true},
		{"surrounding whitespace", " \n{\"subscriptions\":[" + item("a") + "]}\n ", true},
		{"escaped timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":false,"created_at":"2026-01-02T03:04:05\u005a"}]}`, true},
		{"offset timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":false,"created_at":"2026-01-02 03:04:05+02:00"}]}`, true},
		{"null list", `{"subscriptions":null}`, false},
		{"has_more true", `{"subscriptions":[` + item("a") + `],"has_more":true}`, false},
		{"has_more false", `{"subscriptions":[` + item("a") + `],"has_more":false}`, true},
		{"next URL", `{"subscriptions":[` + item("a") + `],"next":"/v3/webhook-subscriptions?page=2"}`, false},
		{"cursor", `{"cursor":"abc","subscriptions":[` + item("a") + `]}`, false},
		{"next_cursor", `{"subscriptions":[],"next_cursor":"abc"}`, false},
		{"next_page number", `{"subscriptions":[],"next_page":2}`, false},
		{"page token", `{"subscriptions":[],"nextPageToken":"x"}`, false},
		{"links object", `{"subscriptions":[],"links":{"next":"x"}}`, false},
		{"meta has_more", `{"subscriptions":[],"meta":{"has_more":true}}`, false},
		{"meta next null", `{"subscriptions":[],"meta":{"next":null,"count":0}}`, true},
		{"list key in other case twice", `{"subscriptions":[],"SUBSCRIPTIONS":[]}`, false},
		{"other key twice", `{"subscriptions":[],"x":1,"x":2}`, false},
		{"dot id", `{"subscriptions":[{"id":"..","target_url":"u","subscribed_events":[],"is_active":true}]}`, false},
		{"no list", `{"data":[]}`, false},
		{"list key in other case", `{"Subscriptions":[` + item("a") + `]}`, true},
		{"list key twice", `{"subscriptions":[` + item("a") + `],"subscriptions":[{"id":"b"}]}`, false},
		{"success false", `{"success":false,"subscriptions":[]}`, false},
		{"error envelope", `{"error":{"status":500,"code":3006,"message":"x"},"subscriptions":[]}`, false},
		{"error string", `{"error":"boom","subscriptions":[]}`, false},
		{"null item", `{"subscriptions":[null]}`, false},
		{"item missing is_active", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[]}]}`, false},
		{"repeated id", `{"subscriptions":[` + item("a") + `,` + item("a") + `]}`, false},
		{"wrong type", `{"subscriptions":[{"id":7}]}`, false},
		{"bad timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":true,"created_at":"yesterday"}]}`, false},
		{"trailing data", `{"subscriptions":[]} {}`, false},
		{"truncated", `{"subscriptions":[` + item("a")[:40], false},
		{"array body", `[]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subs, err := decodeList([]byte(tt.body))
			if got := err == nil; got != tt.wantOK {
				t.Fatalf("decodeList accepted = %v (%v), want %v", got, err, tt.wantOK)
			}
			if err != nil && subs != nil {
				t.Errorf("a refused answer returned %d subscriptions", len(subs))
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
		})
	}
}

func TestPlainStringMatchesJSONUnmarshal(t *testing.T) {
	tests := []struct {
		raw    string
		want   string
		wantOK bool
	}{
		{`"2026-01-02T03:04:05Z"`, "2026-01-02T03:04:05Z", true},
		{`""`, "", true},
		{`"a\"b"`, "", false},
		{`"\u0041"`, "", false},
		{"\"caf\xc3\xa9\"", "", false},
		{`5`, "", false},
		{`"`, "", false},
	}
	for _, tt := range tests {
		got, ok := plainString([]byte(tt.raw))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("plainString(%s) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.wantOK)
		}
	}
}

// BenchmarkDecodeList measures decoding a list answer of 10,000
// subscriptions as the API encodes them.
func BenchmarkDecodeList(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"subscriptions":[`)
	for i := range 10000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"b3a1c0de-0000-4000-8000-%012x","created_at":"2026-01-02T03:04:05.123Z","is_active":true,`+
			`"subscribed_events":["message.received","message.read"],"target_url":"https://hooks%02d.example.com/linq/%d?version=2026-02-03",`+
			`"updated_at":"2026-01-02T03:04:05.123Z","phone_numbers":null,"environment_id":null}`, i, i%97, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		subs, err := decodeList(body)
		if err != nil || len(subs) != 10000 {
			b.Fatalf("%d subscriptions, %v", len(subs), err)
		}
	}
}
