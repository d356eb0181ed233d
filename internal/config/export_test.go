package config

import (
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func exampleAccount() []Subscription {
	return []Subscription{
		{
			ID:               "b2c3d4e5-f6a7-8901-bcde-f23456789012",
			TargetURL:        "https://hooks.example.com/linq?version=2026-02-03",
			SubscribedEvents: []string{"message.sent", "message.delivered", "message.read"},
			IsActive:         true,
		},
		{
			ID:               "2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b",
			TargetURL:        "https://hooks.example.com/linq?version=2026-02-03&line=2",
			SubscribedEvents: []string{"message.received", "poll.created"},
			PhoneNumbers:     []string{"+447700900123", "+15551234567"},
			IsActive:         false,
		},
		{
			ID:               "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b",
			TargetURL:        "https://Analytics.Example.com:8443/Ingest/Linq%20Calls/",
			SubscribedEvents: []string{"call.ended"},
			PhoneNumbers:     []string{},
			IsActive:         true,
		},
	}
}

func TestExportMatchesGoldenFile(t *testing.T) {
	got, err := Export(exampleAccount())
	if err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/export.yaml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("export differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}

// TestExportOutputParsesBackToTheAccount is the adoption promise: validate
// accepts export's output unchanged, and the entries say exactly what the
// account holds.
func TestExportOutputParsesBackToTheAccount(t *testing.T) {
	odd := []Subscription{
		{ID: "id-1", TargetURL: "https://h.example/", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "123", TargetURL: "https://h.example", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "true", TargetURL: "https://h.example/a:b,c?d=e:f&g=!h%", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "null", TargetURL: "https://h.example/'quoted'\"x\"", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "~", TargetURL: "https://h.example/ünïcödé/пример?q=日本", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "-x", TargetURL: "https://[2001:db8::1]:8443/x?a=1&b=[2]", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "&anchor", TargetURL: "https://h.example/*alias/{x}/%7E", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "0x1F", TargetURL: "https://h.example/" + strings.Repeat("very-long-segment/", 40), SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "1e3", TargetURL: "https://h.example/" + strings.Repeat("very-long-segment/", 40) + "2", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "x:y", TargetURL: "https://H.EXAMPLE/---/___", SubscribedEvents: []string{"z.custom", "message.sent", "message.sent"}, IsActive: false},
		{ID: "#", TargetURL: "https://%E4%BE%8B.example/", SubscribedEvents: []string{"message.sent"}, PhoneNumbers: []string{"+15551234567"}, IsActive: true},
	}
	cases := map[string][]Subscription{"example account": exampleAccount(), "odd values": odd, "empty account": nil}
	for name, subs := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := Export(subs)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ds := Parse("export.yaml", out)
			if cfg == nil {
				t.Fatalf("Parse refused the export:\n%s\n%s", ds.Error(), out)
			}
			if cfg.Policy != PolicyUpsertOnly || len(cfg.Subscriptions) != len(subs) {
				t.Fatalf("got policy %q and %d entries, want upsert-only and %d", cfg.Policy, len(cfg.Subscriptions), len(subs))
			}
			byID := map[string]Subscription{}
			for _, s := range subs {
				byID[s.ID] = s
			}
			names := map[string]bool{}
			for _, e := range cfg.Subscriptions {
				s, ok := byID[e.ID]
				if !ok {
					t.Errorf("entry %q has id %q, which the account does not hold", e.Name, e.ID)
					continue
				}
				if names[e.Name] {
					t.Errorf("name %q used twice", e.Name)
				}
				names[e.Name] = true
				if e.TargetURL != s.TargetURL || e.IsActive != s.IsActive {
					t.Errorf("id %q: got url %q active %v, want %q %v", e.ID, e.TargetURL, e.IsActive, s.TargetURL, s.IsActive)
				}
				if want := sortedSet(s.SubscribedEvents); !reflect.DeepEqual(e.SubscribedEvents, want) {
					t.Errorf("id %q events: got %q, want %q", e.ID, e.SubscribedEvents, want)
				}
				if len(s.PhoneNumbers) == 0 && e.PhoneNumbers != nil || len(s.PhoneNumbers) > 0 && !reflect.DeepEqual(e.PhoneNumbers, sortedSet(s.PhoneNumbers)) {
					t.Errorf("id %q phones: got %q, want %q", e.ID, e.PhoneNumbers, s.PhoneNumbers)
				}
			}
		})
	}
}

func TestExportNamesEntriesAfterTheirURL(t *testing.T) {
	tests := []struct {
		urls []string
		want []string
	}{
		{[]string{"https://hooks.example.com/linq?version=2026-02-03"}, []string{"hooks-example-com-linq"}},
		{[]string{"https://Hooks.Example.com:8443/A_B/c%20d/"}, []string{"hooks-example-com-8443-a_b-c-d"}},
		{[]string{"https://h.example/x?v=1", "https://h.example/x?v=2", "https://h.example/x?v=3"}, []string{"h-example-x", "h-example-x-2", "h-example-x-3"}},
		{[]string{"https://例え.jp/"}, []string{"jp"}},
		{[]string{"https://日本/"}, []string{"subscription"}},
		{[]string{"https://h.example/" + strings.Repeat("abcdefghij", 10), "https://h.example/" + strings.Repeat("abcdefghij", 10) + "?2"}, []string{
			"h-example-" + strings.Repeat("abcdefghij", 6)[:54],
			"h-example-" + strings.Repeat("abcdefghij", 6)[:52] + "-2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.urls[0], func(t *testing.T) {
			var subs []Subscription
			for i, u := range tt.urls {
				subs = append(subs, Subscription{ID: string(rune('a' + i)), TargetURL: u, SubscribedEvents: []string{"message.sent"}, IsActive: true})
			}
			out, err := Export(subs)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ds := Parse("x", out)
			if cfg == nil {
				t.Fatal(ds.Error())
			}
			var got []string
			for _, s := range cfg.Subscriptions {
				got = append(got, s.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExportRefusesWhatAFileCannotExpress(t *testing.T) {
	subs := []Subscription{
		{ID: "good", TargetURL: "https://h.example/a", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "frag", TargetURL: "https://h.example/b#x", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		{ID: "noevents", TargetURL: "https://h.example/c", IsActive: true},
	}
	_, err := Export(subs)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		`subscription id "frag": target_url: "https://h.example/b#x" must not have a fragment`,
		`subscription id "noevents": subscribed_events: must list at least one event type`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), `"good"`) {
		t.Errorf("error blames the good subscription:\n%v", err)
	}
}

func TestExportDoesNotModifyItsInput(t *testing.T) {
	subs := exampleAccount()
	before := slices.Clone(subs[0].SubscribedEvents)
	if _, err := Export(subs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(subs[0].SubscribedEvents, before) || subs[0].ID != "b2c3d4e5-f6a7-8901-bcde-f23456789012" {
		t.Errorf("input changed: %+v", subs[0])
	}
}
