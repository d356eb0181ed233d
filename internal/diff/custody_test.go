package diff

import (
	"testing"
	"time"
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
