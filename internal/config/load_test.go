package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestParseReadsTheExampleFile(t *testing.T) {
	data, err := os.ReadFile("../../examples/subscriptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := Parse("subscriptions.yaml", data)
	if len(ds) != 0 {
		t.Fatalf("diagnostics:\n%s", ds.Error())
	}
	if cfg.Path != "subscriptions.yaml" || cfg.Version != 1 || cfg.Policy != PolicyUpsertOnly {
		t.Errorf("got path %q version %d policy %q", cfg.Path, cfg.Version, cfg.Policy)
	}
	var got []string
	for _, s := range cfg.Subscriptions {
		got = append(got, s.Name)
	}
	want := []string{"crm-messages", "support-inbox", "call-analytics", "warehouse-loader"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("names: got %q, want %q", got, want)
	}
	support := cfg.Subscriptions[1]
	if !reflect.DeepEqual(support.PhoneNumbers, []string{"+15551234567"}) {
		t.Errorf("support phone numbers: got %q", support.PhoneNumbers)
	}
	if !support.IsActive || cfg.Subscriptions[3].IsActive {
		t.Errorf("is_active: got %v and %v, want true (default) and false", support.IsActive, cfg.Subscriptions[3].IsActive)
	}
}

func TestParseFillsValuesAndDefaults(t *testing.T) {
	in := `version: 1
subscriptions:
  - name: a
    id: 2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b
    target_url: https://hooks.example.com/a?version=2026-02-03
    subscribed_events: [message.sent, message.read]
    phone_numbers: ["+15551234567", "+447700900123"]
    is_active: false
  - name: absent-phones
    target_url: https://hooks.example.com/b
    subscribed_events: [message.sent]
  - name: null-phones
    target_url: https://hooks.example.com/c
    subscribed_events: [message.sent]
    phone_numbers: null
  - name: empty-phones
    target_url: https://hooks.example.com/d
    subscribed_events: [message.sent]
    phone_numbers: []
`
	cfg, ds := Parse("s.yaml", []byte(in))
	if len(ds) != 0 {
		t.Fatalf("diagnostics:\n%s", ds.Error())
	}
	if cfg.Policy != PolicyUpsertOnly {
		t.Errorf("policy: got %q, want the upsert-only default", cfg.Policy)
	}
	got := cfg.Subscriptions[0]
	got.Pos, got.FieldPos = Position{}, FieldPositions{}
	want := Subscription{
		Name:             "a",
		ID:               "2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b",
		TargetURL:        "https://hooks.example.com/a?version=2026-02-03",
		SubscribedEvents: []string{"message.sent", "message.read"},
		PhoneNumbers:     []string{"+15551234567", "+447700900123"},
		IsActive:         false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, s := range cfg.Subscriptions[1:] {
		t.Run(s.Name, func(t *testing.T) {
			if s.PhoneNumbers != nil {
				t.Errorf("phone numbers: got %#v, want nil", s.PhoneNumbers)
			}
			if !s.IsActive {
				t.Error("is_active: got false, want the true default")
			}
		})
	}
}

func TestParseRecordsFieldPositions(t *testing.T) {
	in := `version: 1
policy: sync
subscriptions:
  - name: a
    id: 2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b
    target_url: https://hooks.example.com/a
    subscribed_events:
      - message.sent
      - message.read
    phone_numbers: ["+15551234567"]
    is_active: true
`
	cfg, ds := Parse("s.yaml", []byte(in))
	if ds.HasErrors() {
		t.Fatalf("diagnostics:\n%s", ds.Error())
	}
	wantTop := map[string]Position{"version": {1, 10}, "policy": {2, 9}, "subscriptions": {4, 3}}
	if !reflect.DeepEqual(cfg.FieldPos, wantTop) {
		t.Errorf("config FieldPos: got %v, want %v", cfg.FieldPos, wantTop)
	}
	s := cfg.Subscriptions[0]
	if s.Pos != (Position{4, 5}) {
		t.Errorf("Pos: got %v, want {4 5}", s.Pos)
	}
	want := FieldPositions{
		Name:             Position{4, 11},
		ID:               Position{5, 9},
		TargetURL:        Position{6, 17},
		SubscribedEvents: Position{8, 7},
		Events:           []Position{{8, 9}, {9, 9}},
		PhoneNumbers:     Position{10, 20},
		Phones:           []Position{{10, 21}},
		IsActive:         Position{11, 16},
	}
	if !reflect.DeepEqual(s.FieldPos, want) {
		t.Errorf("FieldPos:\n got %v\nwant %v", s.FieldPos, want)
	}
}

// entry wraps lines (each already indented by four spaces) in a valid file
// whose first subscription starts at line 3.
func entry(lines ...string) string {
	return "version: 1\nsubscriptions:\n" + strings.Join(lines, "\n") + "\n"
}

func TestParseReportsEachProblemWithPositionAndPath(t *testing.T) {
	const ok = "    target_url: https://hooks.example.com/a\n    subscribed_events: [message.sent]"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", []string{"s.yaml:1:1: file is empty"}},
		{"only comments", "# nothing here\n", []string{"s.yaml:1:1: file is empty"}},
		{"null document", "---\n", []string{"s.yaml:2:1: file is empty"}},
		{"document not a mapping", "- a\n", []string{
			`s.yaml:1:1: the document must be a mapping with version, policy and subscriptions, got a list`}},
		{"missing version and subscriptions", "policy: sync\n", []string{
			`s.yaml:1:1: missing required key "version" (add "version: 1")`,
			`s.yaml:1:1: missing required key "subscriptions" (write "subscriptions: []" to declare none)`}},
		{"version as a string", "version: \"1\"\nsubscriptions: []\n", []string{
			`s.yaml:1:10: version: must be the integer 1, got string "1"`}},
		{"version 2", "version: 2\nsubscriptions: []\n", []string{
			`s.yaml:1:10: version: unsupported version 2 (this linq-sync reads version 1)`}},
		{"unknown log level with suggestion", "version: 1\nlog_level: debg\nsubscriptions: []\n", []string{
			`s.yaml:2:12: log_level: must be one of debug, info, warn, error, got "debg" (did you mean "debug"?)`}},
		{"unknown policy with suggestion", "version: 1\npolicy: upsert_only\nsubscriptions: []\n", []string{
			`s.yaml:2:9: policy: must be "upsert-only" or "sync", got "upsert_only" (did you mean "upsert-only"?)`}},
		{"unknown top-level key", "version: 1\nsubscriptons: []\n", []string{
			`s.yaml:1:1: missing required key "subscriptions" (write "subscriptions: []" to declare none)`,
			`s.yaml:2:1: unknown key "subscriptons" (did you mean "subscriptions"?)`}},
		{"entry key at top level", "version: 1\ntarget_url: https://x.example\nsubscriptions: []\n", []string{
			`s.yaml:2:1: unknown key "target_url" (it belongs in an entry under subscriptions)`}},
		{"subscriptions not a list", "version: 1\nsubscriptions: {}\n", []string{
			`s.yaml:2:16: subscriptions: must be a list of subscriptions, got a mapping`}},
		{"subscriptions null", "version: 1\nsubscriptions:\n", []string{
			`s.yaml:2:15: subscriptions: must be a list of subscriptions, got null`}},
		{"entry not a mapping", entry("  - crm"), []string{
			`s.yaml:3:5: subscriptions[0]: must be a mapping with name, target_url and subscribed_events, got string "crm"`}},
		{"missing required keys", entry("  - is_active: true"), []string{
			`s.yaml:3:5: subscriptions[0]: missing required key "name"`,
			`s.yaml:3:5: subscriptions[0]: missing required key "target_url"`,
			`s.yaml:3:5: subscriptions[0]: missing required key "subscribed_events"`}},
		{"unknown key with suggestion", entry("  - name: a", "    taget_url: https://hooks.example.com/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:3:5: subscriptions[0]: missing required key "target_url"`,
			`s.yaml:4:5: subscriptions[0]: unknown key "taget_url" (did you mean "target_url"?)`}},
		{"unknown key by synonym", entry("  - name: a", ok, "    events: [message.read]"), []string{
			`s.yaml:6:5: subscriptions[0]: unknown key "events" (did you mean "subscribed_events"?)`}},
		{"top-level key in an entry", entry("  - name: a", ok, "    policy: sync"), []string{
			`s.yaml:6:5: subscriptions[0]: unknown key "policy" (it belongs at the top level, not in a subscription)`}},
		{"unknown key without suggestion", entry("  - name: a", ok, "    colour: blue"), []string{
			`s.yaml:6:5: subscriptions[0]: unknown key "colour"`}},
		{"duplicate key", entry("  - name: a", "    name: b", ok), []string{
			`s.yaml:4:5: subscriptions[0]: duplicate key "name" (first at line 3)`}},
		{"merge key", entry("  - name: a", ok, "    <<: {is_active: false}"), []string{
			`s.yaml:6:5: subscriptions[0]: merge keys (<<) are not supported; write the fields out, or alias a whole value`}},
		{"name not a string", entry("  - name: 123", ok), []string{
			`s.yaml:3:11: subscriptions[0].name: must be a string, got integer 123 (quote it: "123")`}},
		{"name with capitals", entry("  - name: CRM Events", ok), []string{
			`s.yaml:3:11: subscriptions[0].name: "CRM Events" is not a valid name: use lowercase letters, digits, - and _, starting with a letter or digit (e.g. "crm-events")`}},
		{"name too long", entry("  - name: "+strings.Repeat("a", 65), ok), []string{
			`s.yaml:3:11: subscriptions[0].name: is 65 characters long; the limit is 64`}},
		{"name empty", entry(`  - name: ""`, ok), []string{
			`s.yaml:3:11: subscriptions[0].name: must not be empty`}},
		{"duplicate names", entry("  - name: a", ok, "  - name: a", "    target_url: https://hooks.example.com/b", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:6:11: subscriptions[1].name: duplicate name "a": subscriptions[0] (line 3) already uses it`}},
		{"duplicate target_urls", entry("  - name: a", ok, "  - name: b", ok), []string{
			`s.yaml:7:17: subscriptions[1].target_url: duplicate target_url "https://hooks.example.com/a": subscriptions[0] (line 4) already uses it`}},
		{"duplicate ids", entry(
			"  - name: a", "    id: 2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b", ok,
			"  - name: b", "    id: 2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b", "    target_url: https://hooks.example.com/b", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:8:9: subscriptions[1].id: duplicate id "2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b": subscriptions[0] (line 4) already uses it`}},
		{"id empty", entry("  - name: a", `    id: ""`, ok), []string{
			`s.yaml:4:9: subscriptions[0].id: must not be empty (leave id out to match by target_url)`}},
		{"id with a space", entry("  - name: a", `    id: "a b"`, ok), []string{
			`s.yaml:4:9: subscriptions[0].id: "a b" must not contain spaces or control characters`}},
		{"id not a string", entry("  - name: a", "    id: 42", ok), []string{
			`s.yaml:4:9: subscriptions[0].id: must be a string, got integer 42 (quote it: "42")`}},
		{"target_url http", entry("  - name: a", "    target_url: http://hooks.example.com/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "http://hooks.example.com/a" must use https, not http`}},
		{"target_url other scheme", entry("  - name: a", "    target_url: ftp://hooks.example.com/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "ftp://hooks.example.com/a" must be an https URL, not "ftp"`}},
		{"target_url relative", entry("  - name: a", "    target_url: /linq", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "/linq" is not an absolute https URL (e.g. https://hooks.example.com/linq)`}},
		{"target_url with userinfo is redacted", entry("  - name: a", "    target_url: https://bob:hunter2@hooks.example.com/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "https://REDACTED@hooks.example.com/a" must not contain a user name or password (userinfo before @)`}},
		{"target_url with fragment", entry("  - name: a", "    target_url: https://hooks.example.com/a#top", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "https://hooks.example.com/a#top" must not have a fragment (#...): the API does not send it`}},
		{"target_url without host", entry("  - name: a", "    target_url: https://:443/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "https://:443/a" has no host`}},
		{"target_url bad port", entry("  - name: a", "    target_url: https://h.example:port/a", "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "https://h.example:port/a" is not a valid URL: invalid port ":port" after host`}},
		{"target_url with a space", entry("  - name: a", `    target_url: "https://h.example/a b"`, "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: "https://h.example/a b" must not contain spaces or control characters (percent-encode a space as %20)`}},
		{"target_url too long", entry("  - name: a", "    target_url: https://h.example/"+strings.Repeat("a", 2040), "    subscribed_events: [message.sent]"), []string{
			`s.yaml:4:17: subscriptions[0].target_url: is 2058 characters long; the limit is 2048`}},
		{"events a scalar", entry("  - name: a", "    target_url: https://h.example/a", "    subscribed_events: message.sent"), []string{
			`s.yaml:5:24: subscriptions[0].subscribed_events: must be a list of event types, got string "message.sent" (write [message.sent])`}},
		{"events empty", entry("  - name: a", "    target_url: https://h.example/a", "    subscribed_events: []"), []string{
			`s.yaml:5:24: subscriptions[0].subscribed_events: must list at least one event type (e.g. [message.received])`}},
		{"events duplicate and empty", entry("  - name: a", "    target_url: https://h.example/a", `    subscribed_events: [message.sent, "", message.sent]`), []string{
			`s.yaml:5:39: subscriptions[0].subscribed_events[1]: must not be empty`,
			`s.yaml:5:43: subscriptions[0].subscribed_events[2]: duplicate event type "message.sent" (also at line 5)`}},
		{"unknown event is a warning", entry("  - name: a", "    target_url: https://h.example/a", "    subscribed_events: [message.recieved]"), []string{
			`s.yaml:5:25: warning: subscriptions[0].subscribed_events[0]: unknown event type "message.recieved" (did you mean "message.received"?): not in the built-in list (the API decides when online)`}},
		{"phone numbers", entry("  - name: a", ok, `    phone_numbers: ["555", +15551234567, "+1 (555) 123-4567", "+15551234567", "+15551234567"]`), []string{
			`s.yaml:6:21: subscriptions[0].phone_numbers[0]: "555" is not E.164 (e.g. +15551234567)`,
			`s.yaml:6:28: subscriptions[0].phone_numbers[1]: must be a string, got integer +15551234567 (quote it: "+15551234567")`,
			`s.yaml:6:42: subscriptions[0].phone_numbers[2]: "+1 (555) 123-4567" is not E.164: write it without spaces or punctuation, as "+15551234567"`,
			`s.yaml:6:79: subscriptions[0].phone_numbers[4]: duplicate phone number "+15551234567" (also at line 6)`}},
		{"phone numbers a scalar", entry("  - name: a", ok, `    phone_numbers: "+15551234567"`), []string{
			`s.yaml:6:20: subscriptions[0].phone_numbers: must be a list of E.164 phone numbers, got string "+15551234567" (write [+15551234567])`}},
		{"is_active yes", entry("  - name: a", ok, "    is_active: yes"), []string{
			`s.yaml:6:16: subscriptions[0].is_active: must be a boolean (true or false), got string "yes"`}},
		{"is_active null", entry("  - name: a", ok, "    is_active:"), []string{
			`s.yaml:6:15: subscriptions[0].is_active: must be a boolean (true or false), got null`}},
		{"non-UUID id is a warning", entry("  - name: a", "    id: sub-1", ok), []string{
			`s.yaml:4:9: warning: subscriptions[0].id: "sub-1" does not look like a UUID; the API's ids are UUIDs`}},
		{"sync with no subscriptions is a warning", "version: 1\npolicy: sync\nsubscriptions: []\n", []string{
			`s.yaml:2:9: warning: policy: "sync" with no subscriptions would delete every remote subscription; apply refuses that without --allow-mass-delete`}},
		{"two documents", "version: 1\nsubscriptions: []\n---\nversion: 1\n", []string{
			`s.yaml:3:1: a second YAML document starts here; the file must hold exactly one`}},
		{"syntax error", "version: 1\nsubscriptions:\n  - name: a\n   target_url: x\n", []string{
			`s.yaml:3:1: invalid YAML: did not find expected '-' indicator`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ds := Parse("s.yaml", []byte(tt.in))
			got := strings.Split(ds.Error(), "\n")
			if len(ds) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diagnostics:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
			if (cfg == nil) != ds.HasErrors() {
				t.Errorf("config returned: %v, with errors: %v", cfg != nil, ds.HasErrors())
			}
		})
	}
}

func TestParseReportsAllProblemsAtOnce(t *testing.T) {
	in := entry(
		"  - name: Bad Name",
		"    target_url: http://h.example/a",
		"    subscribed_events: []",
		"  - name: b",
		"    target_url: https://h.example/b",
		"    subscribed_events: [message.sent]",
		`    phone_numbers: ["555"]`,
		"    is_active: maybe",
	)
	_, ds := Parse("s.yaml", []byte(in))
	if got := len(ds.Errors()); got != 5 {
		t.Errorf("got %d errors, want 5:\n%s", got, ds.Error())
	}
}

func TestParseCapsTheNumberOfDiagnostics(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nsubscriptions:\n")
	for range 2000 {
		b.WriteString("  - x\n")
	}
	_, ds := Parse("s.yaml", []byte(b.String()))
	if len(ds) != maxReported+1 {
		t.Fatalf("got %d diagnostics, want %d", len(ds), maxReported+1)
	}
	if last := ds[len(ds)-1]; last.Message != "too many problems: 1000 more not shown" {
		t.Errorf("last diagnostic: got %q", last.Message)
	}
}

func TestParseReturnsConfigWhenThereAreOnlyWarnings(t *testing.T) {
	cfg, ds := Parse("s.yaml", []byte(entry("  - name: a", "    id: not-a-uuid", "    target_url: https://h.example/a", "    subscribed_events: [poll.created]")))
	if cfg == nil {
		t.Fatalf("got no config; diagnostics:\n%s", ds.Error())
	}
	if len(ds.Warnings()) != 2 || ds.HasErrors() {
		t.Errorf("got %d warnings and errors=%v, want 2 warnings only:\n%s", len(ds.Warnings()), ds.HasErrors(), ds.Error())
	}
	if cfg.Subscriptions[0].ID != "not-a-uuid" {
		t.Errorf("id: got %q", cfg.Subscriptions[0].ID)
	}
}

func TestDiagnosticsSplitAndFormat(t *testing.T) {
	ds := Diagnostics{
		{File: "f", Line: 1, Col: 2, Path: "version", Message: "bad", Severity: SeverityError},
		{File: "f", Line: 3, Col: 4, Message: "meh", Severity: SeverityWarning},
	}
	if !ds.HasErrors() || len(ds.Errors()) != 1 || len(ds.Warnings()) != 1 {
		t.Errorf("HasErrors %v, %d errors, %d warnings", ds.HasErrors(), len(ds.Errors()), len(ds.Warnings()))
	}
	if got, want := ds.Error(), "f:1:2: version: bad\nf:3:4: warning: meh"; got != want {
		t.Errorf("Error(): got %q, want %q", got, want)
	}
	if err := ds.Err(); err == nil || err.Error() != "f:1:2: version: bad" || !errors.Is(err, ErrInvalid) {
		t.Errorf("Err(): got %v", err)
	}
	if err := ds.Warnings().Err(); err != nil {
		t.Errorf("Err() of warnings only: got %v, want nil", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "subs.yaml")
	if err := os.WriteFile(valid, []byte(entry("  - name: a", "    target_url: https://h.example/a", "    subscribed_events: [message.sent]")), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 10 MB file: refused from its size, without being read.
	if err := f.Truncate(10 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	t.Run("valid file", func(t *testing.T) {
		cfg, ds, err := Load(valid)
		if err != nil || len(ds) != 0 || cfg == nil {
			t.Fatalf("got cfg %v, diagnostics %v, err %v", cfg != nil, ds, err)
		}
		if cfg.Path != valid {
			t.Errorf("Path: got %q, want %q", cfg.Path, valid)
		}
	})
	t.Run("missing file is an error naming it", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.yaml")
		_, _, err := Load(missing)
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("directory is an error naming it", func(t *testing.T) {
		_, _, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("endless stream is cut at the limit", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip("no /dev/zero")
		}
		cfg, ds, err := Load("/dev/zero")
		want := "/dev/zero:1:1: file is larger than the 4194304-byte (4 MiB) limit"
		if err != nil || cfg != nil || ds.Error() != want {
			t.Errorf("got cfg %v, err %v, diagnostics %q", cfg != nil, err, ds.Error())
		}
	})
	t.Run("oversized file is a diagnostic", func(t *testing.T) {
		cfg, ds, err := Load(big)
		want := big + ":1:1: file is 10485760 bytes, larger than the 4194304-byte (4 MiB) limit"
		if err != nil || cfg != nil || ds.Error() != want {
			t.Errorf("got cfg %v, err %v, diagnostics %q", cfg != nil, err, ds.Error())
		}
	})
}

func TestCheckEventTypesRejectsEventsTheAPIDoesNotOffer(t *testing.T) {
	cfg, ds := Parse("s.yaml", []byte(entry(
		"  - name: a",
		"    target_url: https://h.example/a",
		"    subscribed_events:",
		"      - message.sent",
		"      - poll.created",
		"      - message.sent.v2",
	)))
	if cfg == nil {
		t.Fatal(ds.Error())
	}
	got := CheckEventTypes(cfg, append([]string{"poll.created"}, KnownEventTypes...))
	want := `s.yaml:8:9: subscriptions[0].subscribed_events[2]: unknown event type "message.sent.v2": the API does not offer it (did you mean "message.sent"?)`
	if got.Error() != want || !got.HasErrors() {
		t.Errorf("got %q\nwant %q", got.Error(), want)
	}
	if got := CheckEventTypes(nil, nil); got != nil {
		t.Errorf("nil config: got %v", got)
	}
}

func TestKnownEventTypesAreThe27Published(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range KnownEventTypes {
		if seen[e] {
			t.Errorf("duplicate %q", e)
		}
		seen[e] = true
	}
	if len(KnownEventTypes) != 27 || !seen["location.sharing.stopped"] || !seen["call.no_answer"] {
		t.Errorf("got %d types", len(KnownEventTypes))
	}
}

func TestClosestSuggestsOnlyPlausibleTypos(t *testing.T) {
	tests := []struct{ in, want string }{
		{"taget_url", "target_url"},
		{"Target-URL", "target_url"},
		{"subscribedEvents", "subscribed_events"},
		{"phone_number", "phone_numbers"},
		{"isactive", "is_active"},
		{"url", "target_url"},
		{"enabled", "is_active"},
		{"nmae", "name"},
		{"colour", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := closest(tt.in, entryKeys); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseAcceptsWindowsLineEndingsAndByteOrderMark(t *testing.T) {
	base := entry("  - name: a", "    target_url: https://h.example/a", "    subscribed_events: [message.sent]")
	tests := map[string]string{
		"CRLF":      strings.ReplaceAll(base, "\n", "\r\n"),
		"UTF-8 BOM": "\ufeff" + base,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, ds := Parse("s.yaml", []byte(in))
			if cfg == nil || len(ds) != 0 {
				t.Fatalf("diagnostics:\n%s", ds.Error())
			}
			if got := cfg.Subscriptions[0].TargetURL; got != "https://h.example/a" {
				t.Errorf("target_url: got %q", got)
			}
		})
	}
}

func TestRotateLostSecretsIsABooleanAtTopLevel(t *testing.T) {
	const base = "version: 1\nsubscriptions: []\n"
	cfg, diags := Parse("s.yaml", []byte(base+"rotate_lost_secrets: true\n"))
	if diags.HasErrors() || !cfg.RotateLostSecrets {
		t.Fatalf("rotate_lost_secrets: true gave %v, %v", cfg, diags)
	}
	_, diags = Parse("s.yaml", []byte(base+"rotate_lost_secrets: sometimes\n"))
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "s.yaml:3:22: rotate_lost_secrets: must be a boolean") {
		t.Errorf("a non-boolean gave %q, want its position and field", diags.Error())
	}
}

func TestProbeIntervalAndVerifyBeforeMove(t *testing.T) {
	doc := "version: 1\nprobe_interval: 15m\nsubscriptions:\n  - name: a\n    target_url: https://a.example.com/x\n    subscribed_events: [message.sent]\n    verify_before_move: true\n"
	cfg, diags := Parse("s.yaml", []byte(doc))
	if diags.HasErrors() || cfg.ProbeInterval != 15*time.Minute || !cfg.Subscriptions[0].VerifyBeforeMove {
		t.Fatalf("got %+v, %v", cfg, diags)
	}
	for bad, want := range map[string]string{
		"probe_interval: soon\n": "s.yaml:2:17: probe_interval: must be a duration",
		"probe_interval: 1s\n":   "s.yaml:2:17: probe_interval: must be at least 10s",
		"probe_interval: 15\n":   "s.yaml:2:17: probe_interval: must be a string",
	} {
		_, diags := Parse("s.yaml", []byte(strings.Replace(doc, "probe_interval: 15m\n", bad, 1)))
		if !strings.Contains(diags.Error(), want) {
			t.Errorf("%q: %q, want %q", bad, diags.Error(), want)
		}
	}
	_, diags = Parse("s.yaml", []byte(strings.Replace(doc, "verify_before_move: true", "verify_before_move: 1", 1)))
	if !strings.Contains(diags.Error(), "s.yaml:7:25: subscriptions[0].verify_before_move: must be a boolean") {
		t.Errorf("non-boolean verify_before_move: %q", diags.Error())
	}
}

func TestLoadWithCallsItsHooksWhereGarbageIsDropped(t *testing.T) {
	good, err := os.ReadFile("../../examples/subscriptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                 string
		data                 string
		wantCalls, wantGroup int
	}{
		// A valid file is streamed: no whole tree, a call per group.
		{"valid file", string(good), 0, 1},
		{"file with invalid entries", "version: 1\nsubscriptions:\n  - name: a\n", 1, 0},
		{"valid file in flow style", "version: 1\nsubscriptions: []\n", 1, 0},
		{"invalid YAML", "version: 1\nsubscriptions: [\n", 0, 0},
		{"empty file", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "subs.yaml")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			calls, groups := 0, 0
			got, gotDiags, err := LoadWith(path, LoadOptions{AfterDecode: func() { calls++ }, BetweenGroups: func() { groups++ }})
			if err != nil {
				t.Fatal(err)
			}
			if calls != tt.wantCalls || groups != tt.wantGroup {
				t.Errorf("AfterDecode called %d times and BetweenGroups %d, want %d and %d", calls, groups, tt.wantCalls, tt.wantGroup)
			}
			want, wantDiags, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotDiags, wantDiags) {
				t.Errorf("LoadWith = %+v, %v; Load = %+v, %v", got, gotDiags, want, wantDiags)
			}
		})
	}
}

func TestHasSpaceOrControlMatchesUnicode(t *testing.T) {
	for _, s := range []string{"", "https://h.example/a", "https://h.example/a b", "x\ty", "x\x7f", "x\u0085", "x\u00a0y", "caf\u00e9", "\u2028", "\u3000", "https://hôte.example/é", "\xff"} {
		want := strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		if got := hasSpaceOrControl(s); got != want {
			t.Errorf("hasSpaceOrControl(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPlainASCIIMatchesTheCharacterCheck(t *testing.T) {
	for _, s := range []string{"", "version: 1\n", "a\tb\r\n", "\x00", "\x1f", "\x7f", "caf\u00e9", "\u0085", "~ !"} {
		want := true
		for _, r := range s {
			if r > 0x7e || r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
				want = false
			}
		}
		if got := plainASCII([]byte(s)); got != want {
			t.Errorf("plainASCII(%q) = %v, want %v", s, got, want)
		}
		// Whatever the fast path says, the full check agrees on plain input.
		if want {
			p := &parser{file: "f", data: []byte(s)}
			if !p.checkEncoding() {
				t.Errorf("checkEncoding(%q) refused plain ASCII", s)
			}
		}
	}
}

// TestPlainASCIIFindsEveryByteAnywhere puts each of the 256 byte values at
// every position of a line long enough for several eight-byte words, and
// next to a line break, so that every lane of a word is checked.
func TestPlainASCIIFindsEveryByteAnywhere(t *testing.T) {
	base := []byte("subscriptions: hooks-00001 https://h.example/a?b=c\n")
	for c := range 256 {
		want := c >= 0x20 && c <= 0x7e || c == '\t' || c == '\r' || c == '\n'
		for at := range base {
			data := slices.Clone(base)
			data[at] = byte(c)
			if got := plainASCII(data); got != want {
				t.Fatalf("byte 0x%02x at %d: plainASCII = %v, want %v", c, at, got, want)
			}
		}
	}
}
