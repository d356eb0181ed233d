package diff

import (
	"slices"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

func TestAssessCustodyTellsHeldLostAndUnknownApart(t *testing.T) {
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	matched := []Match{
		{Name: "held", ID: "s1"},
		{Name: "killed", ID: "s2"},
		{Name: "moved-on", ID: "s3"},
		{Name: "tampered", ID: "s4"},
		{Name: "adopted", ID: "s5"},
		{Name: "legacy", ID: "s6"},
		{Name: "stale-intent", ID: "s7"},
	}
	held := map[string]Held{
		"held":         {SubscriptionID: "s1", Verified: true},
		"killed":       {PendingSince: since},
		"moved-on":     {SubscriptionID: "old", Verified: true},
		"tampered":     {SubscriptionID: "s4"},
		"legacy":       {Legacy: true},
		"stale-intent": {SubscriptionID: "s7", Verified: true, PendingSince: since},
	}
	want := map[string]struct {
		state  SecretState
		reason string
	}{
		"held":         {SecretHeld, ""},
		"killed":       {SecretLost, LostInterrupted},
		"moved-on":     {SecretLost, LostMismatch},
		"tampered":     {SecretLost, LostMismatch},
		"adopted":      {SecretUnknown, ""},
		"legacy":       {SecretHeld, ""},
		"stale-intent": {SecretHeld, ""},
	}
	got := AssessCustody(matched, held)
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, c := range got {
		if i > 0 && got[i-1].Name > c.Name {
			t.Errorf("not sorted by name: %q before %q", got[i-1].Name, c.Name)
		}
		w := want[c.Name]
		if c.State != w.state || c.Reason != w.reason {
			t.Errorf("%s: %s/%s, want %s/%s", c.Name, c.State, c.Reason, w.state, w.reason)
		}
		if c.State == SecretLost && c.Detail == "" {
			t.Errorf("%s: lost with no detail", c.Name)
		}
	}
}

func TestComputeListsEveryMatchedEntry(t *testing.T) {
	urlA, urlB := "https://hooks.example.com/a", "https://hooks.example.com/b"
	desired := []config.Subscription{entry("b-changed", urlB, "message.read"), entry("a-same", urlA, "message.sent"), entry("c-new", "https://hooks.example.com/c", "message.sent")}
	remote := []linq.Subscription{remoteSub("2", urlB, "message.sent"), remoteSub("1", urlA, "message.sent")}
	p := Compute(desired, remote, Options{})
	var got []string
	for _, m := range p.Matched {
		got = append(got, m.Name+"="+m.ID)
		if m.Desired == nil || m.Current == nil || m.Current.ID != m.ID || m.Desired.Name != m.Name {
			t.Errorf("match %+v lacks its entry or subscription", m)
		}
	}
	if want := []string{"a-same=1", "b-changed=2"}; !slices.Equal(got, want) {
		t.Errorf("Matched = %v, want %v (in sync and updated, by name; never creates)", got, want)
	}
}

func TestRotateReplacesAnUpdateAndCountsAsADelete(t *testing.T) {
	urlA, urlB := "https://hooks.example.com/a", "https://hooks.example.com/b"
	inactive := entry("b", urlB, "message.read")
	inactive.IsActive = false
	desired := []config.Subscription{entry("a", urlA, "message.sent"), inactive}
	remote := []linq.Subscription{remoteSub("1", urlA, "message.sent"), remoteSub("2", urlB, "message.sent")}
	p := Compute(desired, remote, Options{})
	if p.InSync != 1 || p.Summary().Update != 1 {
		t.Fatalf("setup: %+v", p.Summary())
	}
	got, unknown := Rotate(p, []string{"b", "a", "nope"})
	if !slices.Equal(unknown, []string{"nope"}) {
		t.Errorf("unknown = %v, want [nope]", unknown)
	}
	s := got.Summary()
	if s.Rotate != 2 || s.Update != 0 || s.InSync != 0 {
		t.Errorf("summary = %+v, want 2 rotations replacing the update and the in-sync entry", s)
	}
	var names []string
	for _, c := range got.Changes {
		names = append(names, string(c.Action)+" "+c.Name+" "+c.ID)
		if c.Action == ActionRotate && (c.Create.TargetURL != c.TargetURL || c.Current == nil) {
			t.Errorf("rotation %+v lacks its create body or current subscription", c)
		}
	}
	if want := []string{"rotate a 1", "rotate b 2"}; !slices.Equal(names, want) {
		t.Errorf("changes = %v, want %v", names, want)
	}
	if c := got.Changes[1]; c.Update.IsActive == nil || *c.Update.IsActive {
		t.Errorf("rotation of an inactive entry lacks its follow-up update: %+v", c.Update)
	}
	if w := got.Writes(); w != 5 {
		t.Errorf("Writes = %d, want 5 (delete and create each, and one follow-up update)", w)
	}
	if err := CheckSafety(got, 2, Rails{MaxDeletes: 1}); err == nil {
		t.Error("two rotations passed a limit of one delete")
	}
	if len(p.Changes) != 1 || p.Changes[0].Action != ActionUpdate {
		t.Error("Rotate changed its input plan")
	}
}
