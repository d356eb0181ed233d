package linq

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fastAgrees fails when decodeListFast accepts body with a result that
// decodeListSlow does not give.
func fastAgrees(t *testing.T, body []byte) (accepted bool) {
	t.Helper()
	fast, ok := decodeListFast(body)
	if !ok {
		return false
	}
	slow, err := decodeListSlow(body)
	if err != nil {
		t.Fatalf("fast path accepted what the slow path refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path decoded %q differently:\nfast %+v\nslow %+v", body, fast, slow)
	}
	return true
}

func TestDecodeListFastPathAgreesWithTheSlowPath(t *testing.T) {
	item := func(id string) string {
		return `{"id":"` + id + `","target_url":"https://h.example/` + id + `","subscribed_events":["message.sent"],"is_active":true,` +
			`"phone_numbers":null,"environment_id":null,"created_at":"2026-01-02T03:04:05.123Z","updated_at":"2026-01-02T03:04:05Z"}`
	}
	tests := []struct {
		name     string
		body     string
		wantFast bool
	}{
		{"plain list", `{"subscriptions":[` + item("a") + `,` + item("b") + `]}`, true},
		{"empty list", `{"subscriptions":[]}`, true},
		{"success true and null error", `{"success":true,"error":null,"subscriptions":[` + item("a") + `]}`, true},
		{"unknown keys", `{"next":null,"subscriptions":[` + item("a") + `],"meta":{"x":[1,2]}}`, true},
		{"surrounding whitespace", " \n{\"subscriptions\":[" + item("a") + "]}\n ", true},
		{"escaped timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":false,"created_at":"2026-01-02T03:04:05\u005a"}]}`, true},
		{"offset timestamp", `{"subscriptions":[{"id":"a","target_url":"u","subscribed_events":[],"is_active":false,"created_at":"2026-01-02 03:04:05+02:00"}]}`, true},
		{"null list", `{"subscriptions":null}`, false},
		{"no list", `{"data":[]}`, false},
		{"list key in other case", `{"Subscriptions":[` + item("a") + `]}`, false},
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
			if got := fastAgrees(t, []byte(tt.body)); got != tt.wantFast {
				t.Errorf("fast path accepted = %v, want %v", got, tt.wantFast)
			}
			// Whatever path is taken, decodeList answers as the slow path.
			got, gotErr := decodeList([]byte(tt.body))
			want, wantErr := decodeListSlow([]byte(tt.body))
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeList = %v, %v; slow path = %v, %v", got, gotErr, want, wantErr)
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

// FuzzDecodeListFastPath checks that the one-pass decoder never accepts a
// list answer the careful decoder refuses, nor decodes one differently.
func FuzzDecodeListFastPath(f *testing.F) {
	addSeeds(f, listAB, `{"subscriptions":[]}`, `{"subscriptions":null}`, `{"subscriptions":[`+subA+`,`+subA+`]}`,
		`{"success":true,"subscriptions":[`+subA+`]}`, `{"Subscriptions":[`+subA+`]}`,
		`{"subscriptions":[`+subA+`],"subscriptions":[{"id":"b"}]}`, `{"subscriptions":[`+subB+`]} x`)
	f.Fuzz(func(t *testing.T, body []byte) {
		fastAgrees(t, body)
	})
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
	for _, path := range []struct {
		name   string
		decode func([]byte) ([]Subscription, error)
	}{{"decodeList", decodeList}, {"slow", decodeListSlow}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				subs, err := path.decode(body)
				if err != nil || len(subs) != 10000 {
					b.Fatalf("%d subscriptions, %v", len(subs), err)
				}
			}
		})
	}
}
