package planfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const file = "subscriptions.yaml"

func sub(name, id, url string, line int, events ...string) config.Subscription {
	return config.Subscription{
		Name: name, ID: id, TargetURL: url, SubscribedEvents: events, IsActive: true,
		Pos: config.Position{Line: line, Col: 5},
	}
}

func remote(id, url string, events ...string) linq.Subscription {
	return linq.Subscription{ID: id, TargetURL: url, SubscribedEvents: events, IsActive: true}
}

// fullPlan holds every kind of change: creates (one inactive, one with a
// predecessor note), an update of every field, a delete, unmanaged
// subscriptions, an entry error, in-sync entries and one of another
// environment.
func fullPlan() diff.Plan {
	paused := sub("paused", "", "https://hooks.example.com/paused", 20, "message.received")
	paused.IsActive = false
	paused.PhoneNumbers = []string{"+15550000002", "+15550000001"}
	billing := sub("billing", "6c1b0a52-6f0e-4d3c-9d4e-3f0a1b2c3d4e", "https://billing.example.com/linq?version=2026-02-03", 12, "message.read", "message.received")
	billing.IsActive = false
	desired := []config.Subscription{
		sub("crm-events", "", "https://crm.example.com/linq?version=2026-02-03", 5, "message.received", "message.delivered"),
		paused,
		billing,
		sub("support", "", "https://support.example.com/hook", 28, "chat.created"),
		sub("gone", "0d7f5a6e-0000-4000-8000-000000000000", "https://gone.example.com/hook", 34, "message.sent"),
	}
	sandbox := "env_sandbox"
	billingRemote := remote("6c1b0a52-6f0e-4d3c-9d4e-3f0a1b2c3d4e", "https://billing.example.com/linq", "message.received", "message.sent")
	billingRemote.PhoneNumbers = []string{"+15550000009"}
	other := remote("9a9a9a9a-0000-4000-8000-000000000000", "https://sandbox.example.com/hook", "message.received")
	other.EnvironmentID = &sandbox
	remotes := []linq.Subscription{
		billingRemote,
		remote("11111111-0000-4000-8000-000000000000", "https://support.example.com/hook", "chat.created"),
		remote("22222222-0000-4000-8000-000000000000", "https://crm.example.com/linq?version=2025-01-01", "message.delivered", "message.received"),
		remote("33333333-0000-4000-8000-000000000000", "https://legacy.example.com/a", "message.failed"),
		remote("44444444-0000-4000-8000-000000000000", "https://zzz.example.com/old", "chat.typing_indicator.started"),
		other,
	}
	p := diff.Compute(desired, remotes, diff.Options{})
	// Show a delete beside the unmanaged ones, as if one had been chosen
	// for deletion; deletes come before unmanaged.
	var changes, unmanaged []diff.Change
	for _, c := range p.Changes {
		switch {
		case c.Action == diff.ActionUnmanaged && c.ID == "33333333-0000-4000-8000-000000000000":
			c.Action = diff.ActionDelete
			changes = append(changes, c)
		case c.Action == diff.ActionUnmanaged:
			unmanaged = append(unmanaged, c)
		default:
			changes = append(changes, c)
		}
	}
	p.Changes = append(changes, unmanaged...)
	return p
}

func inSyncPlan() diff.Plan {
	s := sub("crm-events", "", "https://crm.example.com/linq", 5, "message.received")
	return diff.Compute([]config.Subscription{s}, []linq.Subscription{remote("1", s.TargetURL, "message.received")}, diff.Options{})
}

// hostilePlan carries strings that try to break out of every format.
func hostilePlan() diff.Plan {
	name := "evil`<b>@octocat</b>%0A::error::x,y:z\n::warning::injected\x1b[31m"
	return diff.Plan{
		Changes: []diff.Change{
			{
				Action: diff.ActionCreate, Name: name, TargetURL: "https://x.example.com/```\n<script>alert(1)</script>?a=%41&b=1,2",
				Desired: &config.Subscription{Name: name, IsActive: true, Pos: config.Position{Line: 3, Col: 5}},
				Create:  linq.CreateParams{TargetURL: "https://x.example.com/", SubscribedEvents: []string{"message.received`````", "<i>x</i>"}},
				Notes:   []string{"@everyone see [link](https://evil.example.com) | # heading\r\n- item"},
			},
			{Action: diff.ActionUnmanaged, ID: "id</code><b>", TargetURL: "https://y.example.com/|pipe|"},
		},
		Errors: []diff.EntryError{{Name: "bad\nname", Pos: config.Position{Line: 9, Col: 3}, Message: "100% broken: a,b\r\n::error::again"}},
	}
}

type renderer func(w *bytes.Buffer, p diff.Plan, opts Options) error

var renderers = []struct {
	name string
	fn   renderer
}{
	{"text", func(w *bytes.Buffer, p diff.Plan, o Options) error { return Text(w, p, o) }},
	{"json", func(w *bytes.Buffer, p diff.Plan, o Options) error { return JSON(w, p, o) }},
	{"markdown", func(w *bytes.Buffer, p diff.Plan, o Options) error { return Markdown(w, p, o) }},
	{"github", func(w *bytes.Buffer, p diff.Plan, o Options) error { return GitHub(w, p, o) }},
}

var plans = []struct {
	name string
	plan func() diff.Plan
	opts Options
}{
	{"full", fullPlan, Options{File: file, Policy: config.PolicyUpsertOnly}},
	{"in-sync", inSyncPlan, Options{File: file}},
	{"hostile", hostilePlan, Options{File: "dir,with:odd%chars/subs.yaml"}},
	{"custody", custodyPlan, Options{File: file}},
	{"offline-adopt", offlineAdoptPlan, Options{File: file, Offline: true}},
}

// custodyPlan has a secret held, one unknown, one lost and left, and one
// lost and rotated.
func custodyPlan() diff.Plan {
	desired := []config.Subscription{
		sub("held", "", "https://a.example.com/held", 5, "message.received"),
		sub("adopted", "", "https://a.example.com/adopted", 9, "message.received"),
		sub("killed", "", "https://a.example.com/killed", 13, "message.received"),
		sub("moved", "", "https://a.example.com/moved", 17, "message.sent"),
	}
	remotes := []linq.Subscription{
		remote("11111111-0000-4000-8000-000000000000", "https://a.example.com/held", "message.received"),
		remote("22222222-0000-4000-8000-000000000000", "https://a.example.com/adopted", "message.received"),
		remote("33333333-0000-4000-8000-000000000000", "https://a.example.com/killed", "message.received"),
		remote("44444444-0000-4000-8000-000000000000", "https://a.example.com/moved", "message.sent"),
	}
	p := diff.Compute(desired, remotes, diff.Options{})
	p.Custody = diff.AssessCustody(p.Matched, map[string]diff.Held{
		"held":   {SubscriptionID: "11111111-0000-4000-8000-000000000000", Verified: true},
		"killed": {PendingSince: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)},
		"moved":  {SubscriptionID: "99999999-0000-4000-8000-000000000000", Verified: true},
	})
	p, _ = diff.Rotate(p, []string{"moved"})
	p.Deferred = []diff.Deferred{{Name: "shop", ID: "55555555-0000-4000-8000-000000000000", From: "https://a.example.com/shop", To: "https://b.example.com/shop", Reason: "https://b.example.com/shop answered rejects-valid: the receiver has another secret"}}
	return p
}

// offlineAdoptPlan is the pull request that adds an exported file: every
// entry pins an id the (empty) base does not know.
func offlineAdoptPlan() diff.Plan {
	e := config.Subscription{
		Name: "crm", ID: "6f1c2b1e-0000-4000-8000-000000000001", TargetURL: "https://hooks.example.com/crm",
		SubscribedEvents: []string{"message.sent", "message.received"}, IsActive: true, Pos: config.Position{Line: 3, Col: 5},
	}
	return diff.CompareConfigs(nil, []config.Subscription{e})
}

func TestGolden(t *testing.T) {
	for _, pl := range plans {
		for _, r := range renderers {
			t.Run(pl.name+"/"+r.name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := r.fn(&buf, pl.plan(), pl.opts); err != nil {
					t.Fatalf("render: %v", err)
				}
				golden(t, filepath.Join("testdata", pl.name+"."+r.name+".golden"), buf.Bytes())
			})
		}
	}
}

func TestGoldenGitHubDiagnostics(t *testing.T) {
	diags := config.Diagnostics{
		{File: "subs.yaml", Line: 9, Col: 7, Path: "subscriptions[1].phone_numbers[0]", Message: `"555" is not E.164 (e.g. +15551234567)`},
		{File: "subs.yaml", Line: 12, Col: 5, Path: "subscriptions[2].subscribed_events[0]", Message: `unknown event type "message.recieved" (did you mean "message.received"?)`, Severity: config.SeverityWarning},
		{File: "subs.yaml", Path: "", Message: "100% wrong,\nreally"},
		{File: "", Line: 1, Col: 1, Message: "no file"},
	}
	var buf bytes.Buffer
	if err := GitHubDiagnostics(&buf, diags); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "diagnostics.github.golden"), buf.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderedPlansNeverContainSecrets(t *testing.T) {
	for _, pl := range plans {
		for _, r := range renderers {
			t.Run(pl.name+"/"+r.name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := r.fn(&buf, pl.plan(), pl.opts); err != nil {
					t.Fatal(err)
				}
				if buf.Len() == 0 {
					t.Fatal("rendered nothing")
				}
				if bytes.Contains(buf.Bytes(), []byte("whsec_")) {
					t.Errorf("output contains a signing secret prefix:\n%s", buf.Bytes())
				}
			})
		}
	}
}

func TestJSONKeysAlwaysPresentAndArraysNeverNull(t *testing.T) {
	for _, pl := range plans {
		t.Run(pl.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := JSON(&buf, pl.plan(), pl.opts); err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("invalid JSON: %v", err)
			}
			requireKeys(t, "document", doc, "format_version", "summary", "changes", "errors", "offline", "cannot_know")
			requireArray(t, "cannot_know", doc["cannot_know"])
			if v := doc["format_version"]; v != float64(FormatVersion) {
				t.Errorf("format_version = %v, want %d", v, FormatVersion)
			}
			requireKeys(t, "summary", doc["summary"].(map[string]any), "create", "update", "delete", "unmanaged", "in_sync", "out_of_scope", "adopt")
			for _, c := range requireArray(t, "changes", doc["changes"]) {
				cm := c.(map[string]any)
				requireKeys(t, "change", cm, "action", "name", "id", "target_url", "line", "col", "fields", "create", "current", "notes")
				requireArray(t, "notes", cm["notes"])
				for _, f := range requireArray(t, "fields", cm["fields"]) {
					fm := f.(map[string]any)
					requireKeys(t, "field", fm, "field", "old", "new", "added", "removed")
					requireArray(t, "added", fm["added"])
					requireArray(t, "removed", fm["removed"])
				}
				for _, k := range []string{"create", "current"} {
					if s, ok := cm[k].(map[string]any); ok {
						requireKeys(t, k, s, "target_url", "subscribed_events", "phone_numbers", "is_active", "environment_id")
						requireArray(t, k+".subscribed_events", s["subscribed_events"])
						requireArray(t, k+".phone_numbers", s["phone_numbers"])
					}
				}
				if (cm["action"] == "create" || cm["action"] == "rotate") != (cm["create"] != nil) {
					t.Errorf("change %v: create must be set exactly for creates and rotations", cm["action"])
				}
			}
			for _, e := range requireArray(t, "errors", doc["errors"]) {
				requireKeys(t, "error", e.(map[string]any), "name", "line", "col", "message")
			}
		})
	}
}

func requireKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks key %q", what, k)
		}
	}
}

func requireArray(t *testing.T, what string, v any) []any {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Errorf("%s = %v, want an array", what, v)
	}
	return a
}

func TestMarkdownStartsWithMarker(t *testing.T) {
	for _, pl := range plans {
		t.Run(pl.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Markdown(&buf, pl.plan(), pl.opts); err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(buf.String(), "\n"); first != MarkdownMarker {
				t.Errorf("first line = %q, want %q", first, MarkdownMarker)
			}
		})
	}
}

func TestHostileStringsStayContained(t *testing.T) {
	tests := []struct {
		name      string
		render    renderer
		visible   func(string) string
		forbidden []string
	}{
		{"text has no raw control characters", renderers[0].fn, nil, []string{"\x1b", "\r", "\n::"}},
		{"markdown has no raw html or mention from input outside code blocks", renderers[2].fn, outsideFences, []string{"<script>", "<b>@octocat", "<i>x</i>", "</code><b>", "@everyone", "\x1b", "\r"}},
		{"github starts no command from input", renderers[3].fn, nil, []string{"\n::warning::injected", "\n::error::again", "\r", "\x1b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf, hostilePlan(), Options{File: file}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if tt.visible != nil {
				out = tt.visible(out)
			}
			for _, f := range tt.forbidden {
				if strings.Contains(out, f) {
					t.Errorf("output contains %q:\n%s", f, out)
				}
			}
		})
	}
}

// outsideFences returns the lines of md that are not inside fenced code
// blocks, where Markdown and HTML are not interpreted.
func outsideFences(md string) string {
	var out []string
	open := 0
	for _, l := range strings.Split(md, "\n") {
		ticks := len(l) - len(strings.TrimLeft(l, "`"))
		switch {
		case open == 0 && ticks >= 3:
			open = ticks
		case open > 0 && ticks >= open && strings.TrimSpace(l[ticks:]) == "":
			open = 0
		case open == 0:
			out = append(out, l)
		}
	}
	if open > 0 {
		out = append(out, "UNCLOSED FENCE")
	}
	return strings.Join(out, "\n")
}

func TestGitHubEveryLineIsOneCommand(t *testing.T) {
	var buf bytes.Buffer
	if err := GitHub(&buf, hostilePlan(), Options{File: file}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 { // one error, the summary, one create
		t.Errorf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "::error ") && !strings.HasPrefix(l, "::notice ") {
			t.Errorf("line %q is not a workflow command", l)
		}
	}
}

func TestEscapeProperty(t *testing.T) {
	tests := []struct{ in, wantData, wantProp string }{
		{"plain", "plain", "plain"},
		{"100%", "100%25", "100%25"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"x:y,z", "x:y,z", "x%3Ay%2Cz"},
		{"%0A", "%250A", "%250A"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := escapeData(tt.in); got != tt.wantData {
				t.Errorf("escapeData(%q) = %q, want %q", tt.in, got, tt.wantData)
			}
			if got := escapeProperty(tt.in); got != tt.wantProp {
				t.Errorf("escapeProperty(%q) = %q, want %q", tt.in, got, tt.wantProp)
			}
		})
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestRenderersReportWriteErrors(t *testing.T) {
	fns := map[string]func(w *failWriter) error{
		"text":     func(w *failWriter) error { return Text(w, fullPlan(), Options{}) },
		"json":     func(w *failWriter) error { return JSON(w, fullPlan(), Options{}) },
		"markdown": func(w *failWriter) error { return Markdown(w, fullPlan(), Options{}) },
		"github":   func(w *failWriter) error { return GitHub(w, fullPlan(), Options{}) },
		"diagnostics": func(w *failWriter) error {
			return GitHubDiagnostics(w, config.Diagnostics{{File: "f", Message: "m"}})
		},
	}
	for name, fn := range fns {
		t.Run(name, func(t *testing.T) {
			if err := fn(&failWriter{}); err == nil {
				t.Error("got nil, want the write error")
			}
		})
	}
}
