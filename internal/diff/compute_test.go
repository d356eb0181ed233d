package diff

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// entry is an active, unpinned file entry.
func entry(name, url string, events ...string) config.Subscription {
	return config.Subscription{Name: name, TargetURL: url, SubscribedEvents: events, IsActive: true}
}

// remoteSub is an active production subscription.
func remoteSub(id, url string, events ...string) linq.Subscription {
	return linq.Subscription{ID: id, TargetURL: url, SubscribedEvents: events, IsActive: true}
}

func pinned(s config.Subscription, id string) config.Subscription { s.ID = id; return s }

func phones(s config.Subscription, p ...string) config.Subscription { s.PhoneNumbers = p; return s }

func inactive(s config.Subscription) config.Subscription { s.IsActive = false; return s }

func rphones(s linq.Subscription, p ...string) linq.Subscription { s.PhoneNumbers = p; return s }

func rinactive(s linq.Subscription) linq.Subscription { s.IsActive = false; return s }

func env(s linq.Subscription, e string) linq.Subscription { s.EnvironmentID = &e; return s }

func ptr[T any](v T) *T { return &v }

const (
	urlA = "https://hooks.example.com/a"
	urlB = "https://hooks.example.com/b"
	urlC = "https://other.example.net/c"
)

func TestComputeMatching(t *testing.T) {
	tests := []struct {
		name    string
		desired []config.Subscription
		remote  []linq.Subscription
		opts    Options
		want    Plan
	}{
		{
			name:    "unpinned entry matches the remote with the identical url",
			desired: []config.Subscription{entry("a", urlA, "message.received")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received")},
			want:    Plan{InSync: 1},
		},
		{
			name:    "url comparison is exact, so a different query is a different endpoint",
			desired: []config.Subscription{entry("a", urlA+"?version=2", "message.received")},
			remote:  []linq.Subscription{remoteSub("1", urlA+"?version=1", "message.received")},
			want: Plan{Changes: []Change{
				{
					Action: ActionCreate, Name: "a", TargetURL: urlA + "?version=2",
					Desired: ptr(entry("a", urlA+"?version=2", "message.received")),
					Create:  linq.CreateParams{TargetURL: urlA + "?version=2", SubscribedEvents: []string{"message.received"}},
					Notes:   []string{`no subscription has this target_url, so it will be created; without an id a changed URL cannot be told from a new endpoint, and subscription 1 (https://hooks.example.com/a?version=1) looks like its predecessor: if it is, pin "id: 1" to update it in place`},
				},
				{
					Action: ActionUnmanaged, ID: "1", TargetURL: urlA + "?version=1",
					Current: ptr(remoteSub("1", urlA+"?version=1", "message.received")),
					Notes:   []string{`may be the predecessor of new entry "a"; if so, pin "id: 1" in that entry to update it in place`},
				},
			}},
		},
		{
			name:    "pinned entry with a new url is an update of target_url only",
			desired: []config.Subscription{pinned(entry("a", urlB, "message.received"), "1")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received")},
			want: Plan{Changes: []Change{{
				Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlB,
				Desired: ptr(pinned(entry("a", urlB, "message.received"), "1")),
				Current: ptr(remoteSub("1", urlA, "message.received")),
				Fields:  []FieldChange{{Field: "target_url", Old: urlA, New: urlB}},
				Update:  linq.UpdateParams{TargetURL: ptr(urlB)},
			}}},
		},
		{
			name:    "pinned id wins over a url held by another subscription",
			desired: []config.Subscription{pinned(entry("a", urlA, "message.received"), "2")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received"), remoteSub("2", urlA, "message.received")},
			want: Plan{InSync: 1, Changes: []Change{{
				Action: ActionUnmanaged, ID: "1", TargetURL: urlA,
				Current: ptr(remoteSub("1", urlA, "message.received")),
			}}},
		},
		{
			name:    "events compare as sets, ignoring order and duplicates",
			desired: []config.Subscription{entry("a", urlA, "message.sent", "message.received", "message.sent")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received", "message.sent")},
			want:    Plan{InSync: 1},
		},
		{
			name:    "changed events carry the complete new set and what was added and removed",
			desired: []config.Subscription{entry("a", urlA, "message.sent", "message.read")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.sent", "message.received")},
			want: Plan{Changes: []Change{{
				Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlA,
				Desired: ptr(entry("a", urlA, "message.sent", "message.read")),
				Current: ptr(remoteSub("1", urlA, "message.sent", "message.received")),
				Fields: []FieldChange{{
					Field: "subscribed_events",
					Old:   []string{"message.received", "message.sent"}, New: []string{"message.read", "message.sent"},
					Added: []string{"message.read"}, Removed: []string{"message.received"},
				}},
				Update: linq.UpdateParams{SubscribedEvents: []string{"message.read", "message.sent"}},
			}}},
		},
		{
			name:    "nil and empty phone numbers are equal",
			desired: []config.Subscription{phones(entry("a", urlA, "message.received"))},
			remote:  []linq.Subscription{rphones(remoteSub("1", urlA, "message.received"), []string{}...)},
			want:    Plan{InSync: 1},
		},
		{
			name:    "phone numbers compare as sets",
			desired: []config.Subscription{phones(entry("a", urlA, "message.received"), "+15550000002", "+15550000001")},
			remote:  []linq.Subscription{rphones(remoteSub("1", urlA, "message.received"), "+15550000001", "+15550000002")},
			want:    Plan{InSync: 1},
		},
		{
			name:    "removing the phone filter sends an empty list",
			desired: []config.Subscription{entry("a", urlA, "message.received")},
			remote:  []linq.Subscription{rphones(remoteSub("1", urlA, "message.received"), "+15550000001")},
			want: Plan{Changes: []Change{{
				Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlA,
				Desired: ptr(entry("a", urlA, "message.received")),
				Current: ptr(rphones(remoteSub("1", urlA, "message.received"), "+15550000001")),
				Fields: []FieldChange{{
					Field: "phone_numbers",
					Old:   []string{"+15550000001"}, New: []string{},
					Removed: []string{"+15550000001"},
				}},
				Update: linq.UpdateParams{PhoneNumbers: ptr([]string{})},
			}}},
		},
		{
			name:    "deactivating is an update of is_active only",
			desired: []config.Subscription{inactive(entry("a", urlA, "message.received"))},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received")},
			want: Plan{Changes: []Change{{
				Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlA,
				Desired: ptr(inactive(entry("a", urlA, "message.received"))),
				Current: ptr(remoteSub("1", urlA, "message.received")),
				Fields:  []FieldChange{{Field: "is_active", Old: true, New: false}},
				Update:  linq.UpdateParams{IsActive: ptr(false)},
			}}},
		},
		{
			name:    "inactive matches inactive",
			desired: []config.Subscription{inactive(entry("a", urlA, "message.received"))},
			remote:  []linq.Subscription{rinactive(remoteSub("1", urlA, "message.received"))},
			want:    Plan{InSync: 1},
		},
		{
			name:    "inactive new entry is a create with a follow-up update",
			desired: []config.Subscription{inactive(phones(entry("a", urlA, "message.received"), "+15550000001"))},
			want: Plan{Changes: []Change{{
				Action: ActionCreate, Name: "a", TargetURL: urlA,
				Desired: ptr(inactive(phones(entry("a", urlA, "message.received"), "+15550000001"))),
				Create:  linq.CreateParams{TargetURL: urlA, SubscribedEvents: []string{"message.received"}, PhoneNumbers: []string{"+15550000001"}},
				Update:  linq.UpdateParams{IsActive: ptr(false)},
			}}},
		},
		{
			name:    "pinned id that does not exist is an entry error, never a create",
			desired: []config.Subscription{pinned(entry("a", urlA, "message.received"), "gone")},
			want: Plan{Errors: []EntryError{{
				Name:    "a",
				Message: `pinned id "gone" does not exist in the account; fix the id, or remove "id:" to create a new subscription`,
			}}},
		},
		{
			name:    "subscriptions of other environments are out of scope and never unmanaged",
			desired: []config.Subscription{entry("a", urlA, "message.received")},
			remote:  []linq.Subscription{remoteSub("1", urlA, "message.received"), env(remoteSub("2", urlB, "message.received"), "sandbox")},
			want:    Plan{InSync: 1, OutOfScope: 1},
		},
		{
			name:    "pinned id of another environment is an entry error",
			desired: []config.Subscription{pinned(entry("a", urlA, "message.received"), "2")},
			remote:  []linq.Subscription{env(remoteSub("2", urlA, "message.received"), "sandbox")},
			want: Plan{OutOfScope: 1, Errors: []EntryError{{
				Name:    "a",
				Message: `subscription "2" belongs to environment "sandbox", which this plan does not manage; pass --all-environments to manage it`,
			}}},
		},
		{
			name:    "url of another environment is an entry error, not a create",
			desired: []config.Subscription{entry("a", urlA, "message.received")},
			remote:  []linq.Subscription{env(remoteSub("2", urlA, "message.received"), "sandbox")},
			want: Plan{OutOfScope: 1, Errors: []EntryError{{
				Name:    "a",
				Message: `target_url matches a subscription of another environment: subscription "2" belongs to environment "sandbox", which this plan does not manage; pass --all-environments to manage it`,
			}}},
		},
		{
			name:    "all environments brings other environments into scope",
			desired: []config.Subscription{entry("a", urlA, "message.received")},
			remote:  []linq.Subscription{env(remoteSub("2", urlA, "message.received"), "sandbox"), env(remoteSub("3", urlB, "message.read"), "sandbox")},
			opts:    Options{AllEnvironments: true},
			want: Plan{InSync: 1, Changes: []Change{{
				Action: ActionUnmanaged, ID: "3", TargetURL: urlB,
				Current: ptr(env(remoteSub("3", urlB, "message.read"), "sandbox")),
			}}},
		},
		{
			name: "unpinned url of a subscription another entry pins is an entry error",
			desired: []config.Subscription{
				pinned(entry("a", urlB, "message.received"), "1"),
				entry("b", urlA, "message.received"),
			},
			remote: []linq.Subscription{remoteSub("1", urlA, "message.received")},
			want: Plan{
				Changes: []Change{{
					Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlB,
					Desired: ptr(pinned(entry("a", urlB, "message.received"), "1")),
					Current: ptr(remoteSub("1", urlA, "message.received")),
					Fields:  []FieldChange{{Field: "target_url", Old: urlA, New: urlB}},
					Update:  linq.UpdateParams{TargetURL: ptr(urlB)},
				}},
				Errors: []EntryError{{
					Name:    "b",
					Message: `target_url is that of subscription "1", which entry "a" pins by id; give this entry another target_url, or remove it`,
				}},
			},
		},
		{
			name: "two entries pinning one id: the second by name is an entry error",
			desired: []config.Subscription{
				pinned(entry("b", urlB, "message.received"), "1"),
				pinned(entry("a", urlA, "message.received"), "1"),
			},
			remote: []linq.Subscription{remoteSub("1", urlA, "message.received")},
			want: Plan{InSync: 1, Errors: []EntryError{{
				Name: "b", Message: `id "1" is also pinned by entry "a"`,
			}}},
		},
		{
			name: "pinned update to a url an unmatched subscription holds gets a note",
			desired: []config.Subscription{
				pinned(entry("a", urlB, "message.received"), "1"),
			},
			remote: []linq.Subscription{remoteSub("1", urlA, "message.received"), remoteSub("2", urlB, "message.read")},
			want: Plan{Changes: []Change{
				{
					Action: ActionUpdate, Name: "a", ID: "1", TargetURL: urlB,
					Desired: ptr(pinned(entry("a", urlB, "message.received"), "1")),
					Current: ptr(remoteSub("1", urlA, "message.received")),
					Fields:  []FieldChange{{Field: "target_url", Old: urlA, New: urlB}},
					Update:  linq.UpdateParams{TargetURL: ptr(urlB)},
					Notes:   []string{"unmatched subscription 2 already has this target_url, which must be unique: the update succeeds only once 2 is deleted (policy sync does that)"},
				},
				{Action: ActionUnmanaged, ID: "2", TargetURL: urlB, Current: ptr(remoteSub("2", urlB, "message.read"))},
			}},
		},
		{
			name:    "create with the same events and numbers as the one unmatched subscription on its host names it as a possible predecessor",
			desired: []config.Subscription{entry("a", urlB, "message.read", "message.received")},
			remote:  []linq.Subscription{remoteSub("9", urlA, "message.received", "message.read")},
			want: Plan{Changes: []Change{
				{
					Action: ActionCreate, Name: "a", TargetURL: urlB,
					Desired: ptr(entry("a", urlB, "message.read", "message.received")),
					Create:  linq.CreateParams{TargetURL: urlB, SubscribedEvents: []string{"message.read", "message.received"}},
					Notes:   []string{`no subscription has this target_url, so it will be created; without an id a changed URL cannot be told from a new endpoint, and subscription 9 (https://hooks.example.com/a) looks like its predecessor: if it is, pin "id: 9" to update it in place`},
				},
				{
					Action: ActionUnmanaged, ID: "9", TargetURL: urlA,
					Current: ptr(remoteSub("9", urlA, "message.received", "message.read")),
					Notes:   []string{`may be the predecessor of new entry "a"; if so, pin "id: 9" in that entry to update it in place`},
				},
			}},
		},
		{
			name:    "a create on another host is never told to adopt a subscription with the same events",
			desired: []config.Subscription{entry("a", urlC, "message.read", "message.received")},
			remote:  []linq.Subscription{remoteSub("9", urlA, "message.received", "message.read")},
			want: Plan{Changes: []Change{
				{
					Action: ActionCreate, Name: "a", TargetURL: urlC,
					Desired: ptr(entry("a", urlC, "message.read", "message.received")),
					Create:  linq.CreateParams{TargetURL: urlC, SubscribedEvents: []string{"message.read", "message.received"}},
				},
				{
					Action: ActionUnmanaged, ID: "9", TargetURL: urlA,
					Current: ptr(remoteSub("9", urlA, "message.received", "message.read")),
				},
			}},
		},
		{
			name:    "create unlike any unmatched subscription has no note",
			desired: []config.Subscription{entry("a", urlC, "message.read")},
			remote:  []linq.Subscription{remoteSub("9", urlA, "message.received")},
			want: Plan{Changes: []Change{
				{
					Action: ActionCreate, Name: "a", TargetURL: urlC,
					Desired: ptr(entry("a", urlC, "message.read")),
					Create:  linq.CreateParams{TargetURL: urlC, SubscribedEvents: []string{"message.read"}},
				},
				{Action: ActionUnmanaged, ID: "9", TargetURL: urlA, Current: ptr(remoteSub("9", urlA, "message.received"))},
			}},
		},
		{
			name: "plan orders creates and updates by name, unmanaged by url then id",
			desired: []config.Subscription{
				entry("z-update", urlA, "message.read"),
				entry("b-create", urlC+"/b", "message.sent"),
				pinned(entry("m-update", urlB, "message.read"), "5"),
				entry("a-create", urlC+"/a", "message.sent"),
			},
			remote: []linq.Subscription{
				remoteSub("8", "https://x.example.org/2", "chat.created"),
				remoteSub("5", urlB, "message.sent"),
				remoteSub("7", "https://x.example.org/1", "chat.created"),
				remoteSub("6", "https://x.example.org/1", "chat.created"),
				remoteSub("1", urlA, "message.sent"),
			},
			want: Plan{Changes: []Change{
				{
					Action: ActionCreate, Name: "a-create", TargetURL: urlC + "/a",
					Desired: ptr(entry("a-create", urlC+"/a", "message.sent")),
					Create:  linq.CreateParams{TargetURL: urlC + "/a", SubscribedEvents: []string{"message.sent"}},
				},
				{
					Action: ActionCreate, Name: "b-create", TargetURL: urlC + "/b",
					Desired: ptr(entry("b-create", urlC+"/b", "message.sent")),
					Create:  linq.CreateParams{TargetURL: urlC + "/b", SubscribedEvents: []string{"message.sent"}},
				},
				{
					Action: ActionUpdate, Name: "m-update", ID: "5", TargetURL: urlB,
					Desired: ptr(pinned(entry("m-update", urlB, "message.read"), "5")),
					Current: ptr(remoteSub("5", urlB, "message.sent")),
					Fields:  []FieldChange{{Field: "subscribed_events", Old: []string{"message.sent"}, New: []string{"message.read"}, Added: []string{"message.read"}, Removed: []string{"message.sent"}}},
					Update:  linq.UpdateParams{SubscribedEvents: []string{"message.read"}},
				},
				{
					Action: ActionUpdate, Name: "z-update", ID: "1", TargetURL: urlA,
					Desired: ptr(entry("z-update", urlA, "message.read")),
					Current: ptr(remoteSub("1", urlA, "message.sent")),
					Fields:  []FieldChange{{Field: "subscribed_events", Old: []string{"message.sent"}, New: []string{"message.read"}, Added: []string{"message.read"}, Removed: []string{"message.sent"}}},
					Update:  linq.UpdateParams{SubscribedEvents: []string{"message.read"}},
				},
				{Action: ActionUnmanaged, ID: "6", TargetURL: "https://x.example.org/1", Current: ptr(remoteSub("6", "https://x.example.org/1", "chat.created"))},
				{Action: ActionUnmanaged, ID: "7", TargetURL: "https://x.example.org/1", Current: ptr(remoteSub("7", "https://x.example.org/1", "chat.created"))},
				{Action: ActionUnmanaged, ID: "8", TargetURL: "https://x.example.org/2", Current: ptr(remoteSub("8", "https://x.example.org/2", "chat.created"))},
			}},
		},
		{
			name:    "empty inputs give an empty plan",
			desired: nil,
			remote:  nil,
			want:    Plan{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.desired, tt.remote, tt.opts)
			got.Matched = nil // TestComputeListsEveryMatchedEntry covers it
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Compute() =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestComputeUpdateCarriesOnlyChangedFields(t *testing.T) {
	tests := []struct {
		name     string
		desired  config.Subscription
		remote   linq.Subscription
		wantBody string
	}{
		{
			name:     "events",
			desired:  entry("a", urlA, "message.read"),
			remote:   remoteSub("1", urlA, "message.sent"),
			wantBody: `{"subscribed_events":["message.read"]}`,
		},
		{
			name:     "phone filter removed",
			desired:  entry("a", urlA, "message.read"),
			remote:   rphones(remoteSub("1", urlA, "message.read"), "+15550000001"),
			wantBody: `{"phone_numbers":[]}`,
		},
		{
			name:     "phone filter added",
			desired:  phones(entry("a", urlA, "message.read"), "+15550000001"),
			remote:   remoteSub("1", urlA, "message.read"),
			wantBody: `{"phone_numbers":["+15550000001"]}`,
		},
		{
			name:     "url and is_active",
			desired:  inactive(pinned(entry("a", urlB, "message.read"), "1")),
			remote:   remoteSub("1", urlA, "message.read"),
			wantBody: `{"is_active":false,"target_url":"https://hooks.example.com/b"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute([]config.Subscription{tt.desired}, []linq.Subscription{tt.remote}, Options{})
			if len(p.Changes) != 1 || p.Changes[0].Action != ActionUpdate {
				t.Fatalf("Compute() = %s, want one update", dump(p))
			}
			got, err := json.Marshal(p.Changes[0].Update)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.wantBody {
				t.Errorf("update body = %s, want %s", got, tt.wantBody)
			}
			if gotF, wantF := fieldNames(p.Changes[0].Fields), p.Changes[0].Update.Fields(); !slices.Equal(gotF, wantF) {
				t.Errorf("Fields = %v, Update sets %v; want the same", gotF, wantF)
			}
		})
	}
}

func fieldNames(fs []FieldChange) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Field)
	}
	return out
}

func TestComputePredecessorNoteOnlyWhenUnambiguous(t *testing.T) {
	withPhones := func(s linq.Subscription, phones ...string) linq.Subscription { s.PhoneNumbers = phones; return s }
	tests := []struct {
		name     string
		desired  []config.Subscription
		remote   []linq.Subscription
		wantNote bool
	}{
		{
			name:     "the only one at the same host and path, another query",
			desired:  []config.Subscription{entry("new", "https://hooks.example.com/x?v=2", "message.read")},
			remote:   []linq.Subscription{remoteSub("1", "https://hooks.example.com/x?v=1", "chat.created"), remoteSub("2", "https://hooks.example.com/y", "message.read")},
			wantNote: true,
		},
		{
			name:    "two at the same host and path",
			desired: []config.Subscription{entry("new", "https://hooks.example.com/x?v=9", "message.read")},
			remote:  []linq.Subscription{remoteSub("1", "https://hooks.example.com/x?v=1", "message.read"), remoteSub("2", "https://hooks.example.com/x?v=2", "message.read")},
		},
		{
			name:    "same events on the same host, but other phone numbers",
			desired: []config.Subscription{entry("new", "https://hooks.example.com/new", "message.sent")},
			remote:  []linq.Subscription{withPhones(remoteSub("1", "https://hooks.example.com/old", "message.sent"), "+15551234567")},
		},
		{
			name:    "two with the same events on the same host",
			desired: []config.Subscription{entry("new", "https://hooks.example.com/new", "message.sent")},
			remote:  []linq.Subscription{remoteSub("1", "https://hooks.example.com/a", "message.sent"), remoteSub("2", "https://hooks.example.com/b", "message.sent")},
		},
		{
			name:    "same events, other host: someone else's webhook",
			desired: []config.Subscription{entry("new", "https://brand-new.example.org/hook", "message.sent")},
			remote:  []linq.Subscription{remoteSub("1", "https://hooks.example.com/old", "message.sent")},
		},
		{
			name:    "two creates alike to one subscription",
			desired: []config.Subscription{entry("a", "https://hooks.example.com/a", "message.sent"), entry("b", "https://hooks.example.com/b", "message.sent")},
			remote:  []linq.Subscription{remoteSub("1", "https://hooks.example.com/old", "message.sent")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(tt.desired, tt.remote, Options{})
			notes := 0
			for _, c := range p.Changes {
				notes += len(c.Notes)
			}
			switch {
			case tt.wantNote && notes != 2:
				t.Errorf("want a note on the create and on its predecessor, got %s", dump(p))
			case !tt.wantNote && notes != 0:
				t.Errorf("want no note, got %s", dump(p))
			}
		})
	}
}

func TestComputeIsDeterministicAndDoesNotMutateInputs(t *testing.T) {
	desired, remote := drifted(300, 7)
	for i := range desired {
		if i%7 == 0 {
			desired[i].SubscribedEvents = []string{"message.sent", "message.received"} // unsorted
			desired[i].FieldPos = config.FieldPositions{Name: config.Position{Line: i + 1, Col: 3}, Events: []config.Position{{Line: i + 1, Col: 5}}}
		}
	}
	// Add the hard cases: errors, out of scope, notes.
	desired = append(desired, pinned(entry("gone", urlA, "message.read"), "missing"))
	remote = append(remote, env(remoteSub("env-1", urlB, "message.read"), "sandbox"))
	// A broken account: two subscriptions share a target_url that an entry
	// declares, another two share one that nobody declares and a pinned
	// entry moves to, and one id comes twice.
	desired = append(desired, entry("shared", urlC, "message.read"), pinned(entry("mover", "https://hooks.example.com/held", "message.read"), "mover-1"))
	remote = append(remote,
		remoteSub("shared-2", urlC, "message.read"), remoteSub("shared-1", urlC, "message.read"),
		remoteSub("held-2", "https://hooks.example.com/held", "message.read"), remoteSub("held-1", "https://hooks.example.com/held", "message.read"),
		remoteSub("mover-1", "https://hooks.example.com/old", "message.read"),
		remoteSub("twice", "https://hooks.example.com/twice-b", "message.read"), remoteSub("twice", "https://hooks.example.com/twice-a", "message.read"))
	wantDesired, wantRemote := deepCopyDesired(desired), deepCopyRemote(remote)

	want := Compute(desired, remote, Options{})
	if !reflect.DeepEqual(desired, wantDesired) || !reflect.DeepEqual(remote, wantRemote) {
		t.Fatal("Compute modified its inputs")
	}
	if len(want.Errors) != 2 || want.OutOfScope != 1 || !want.HasChanges() {
		t.Fatalf("fixture does not exercise the hard cases: %+v", want.Summary())
	}
	mover := slices.IndexFunc(want.Changes, func(c Change) bool { return c.Name == "mover" })
	if mover < 0 || len(want.Changes[mover].Notes) != 2 {
		t.Fatalf("the move onto a URL two subscriptions hold is missing or has not one note for each: %s", dump(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		d, r := deepCopyDesired(desired), deepCopyRemote(remote)
		rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		rng.Shuffle(len(r), func(i, j int) { r[i], r[j] = r[j], r[i] })
		got := Compute(d, r, Options{})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d: plan differs from the unshuffled one", i)
		}
	}
	// The plan holds copies: changing it leaves the inputs alone.
	for _, c := range want.Changes {
		if c.Desired != nil && len(c.Desired.SubscribedEvents) > 0 {
			c.Desired.SubscribedEvents[0] = "changed"
		}
		if c.Desired != nil && len(c.Desired.FieldPos.Events) > 0 {
			c.Desired.FieldPos.Events[0] = config.Position{}
		}
		if c.Current != nil && len(c.Current.SubscribedEvents) > 0 {
			c.Current.SubscribedEvents[0] = "changed"
		}
	}
	if !reflect.DeepEqual(desired, wantDesired) || !reflect.DeepEqual(remote, wantRemote) {
		t.Error("the plan shares memory with Compute's inputs")
	}
}

func TestPlanCounts(t *testing.T) {
	tests := []struct {
		name           string
		plan           Plan
		wantSummary    Summary
		wantHasChanges bool
		wantWrites     int
	}{
		{name: "empty plan", plan: Plan{InSync: 3}, wantSummary: Summary{InSync: 3}},
		{
			name:        "unmanaged only is not a pending change",
			plan:        Plan{Changes: []Change{{Action: ActionUnmanaged}, {Action: ActionUnmanaged}}, OutOfScope: 2},
			wantSummary: Summary{Unmanaged: 2, OutOfScope: 2},
		},
		{
			name: "an inactive create takes two writes",
			plan: Plan{Changes: []Change{
				{Action: ActionCreate},
				{Action: ActionCreate, Update: linq.UpdateParams{IsActive: ptr(false)}},
				{Action: ActionUpdate, Update: linq.UpdateParams{IsActive: ptr(true)}},
				{Action: ActionDelete},
				{Action: ActionUnmanaged},
			}, InSync: 1},
			wantSummary:    Summary{Create: 2, Update: 1, Delete: 1, Unmanaged: 1, InSync: 1},
			wantHasChanges: true,
			wantWrites:     5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.plan.Summary(); got != tt.wantSummary {
				t.Errorf("Summary() = %+v, want %+v", got, tt.wantSummary)
			}
			if got := tt.plan.HasChanges(); got != tt.wantHasChanges {
				t.Errorf("HasChanges() = %v, want %v", got, tt.wantHasChanges)
			}
			if got := tt.plan.Writes(); got != tt.wantWrites {
				t.Errorf("Writes() = %d, want %d", got, tt.wantWrites)
			}
		})
	}
}

// drifted returns n entries and n remote subscriptions of which about 10 %
// differ: one in 30 changes its events, one in 30 its is_active, and one in
// 30 is new while its remote counterpart is unmanaged. Half the entries are
// pinned.
func drifted(n int, seed uint64) ([]config.Subscription, []linq.Subscription) {
	rng := rand.New(rand.NewPCG(seed, seed))
	events := []string{"message.received", "message.sent", "message.delivered", "message.read", "chat.created"}
	desired := make([]config.Subscription, 0, n)
	remote := make([]linq.Subscription, 0, n)
	for i := range n {
		ev := []string{events[i%5], events[(i+1)%5]}
		d := config.Subscription{
			Name:             fmt.Sprintf("sub-%06d", i),
			TargetURL:        fmt.Sprintf("https://hooks.example.com/h/%d?line=%d", i%97, i),
			SubscribedEvents: ev,
			IsActive:         true,
			Pos:              config.Position{Line: 3 + 5*i, Col: 5},
		}
		if i%3 == 0 {
			d.PhoneNumbers = []string{fmt.Sprintf("+1555%07d", i)}
		}
		r := linq.Subscription{
			ID:               fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), i),
			TargetURL:        d.TargetURL,
			SubscribedEvents: slices.Clone(ev),
			IsActive:         true,
			PhoneNumbers:     slices.Clone(d.PhoneNumbers),
		}
		if i%2 == 0 {
			d.ID = r.ID
		}
		switch i % 30 {
		case 3: // events drift
			r.SubscribedEvents = []string{events[(i+2)%5]}
		case 13: // new entry; the remote one is unmanaged
			d.ID = ""
			d.TargetURL += "&new=1"
			r.TargetURL = fmt.Sprintf("https://old.example.com/%d", i)
		case 23: // is_active drift
			r.IsActive = false
		}
		desired = append(desired, d)
		remote = append(remote, r)
	}
	return desired, remote
}

func deepCopyDesired(in []config.Subscription) []config.Subscription {
	out := make([]config.Subscription, len(in))
	for i := range in {
		out[i] = *cloneDesired(&in[i])
	}
	return out
}

func deepCopyRemote(in []linq.Subscription) []linq.Subscription {
	out := make([]linq.Subscription, len(in))
	for i := range in {
		out[i] = *cloneRemote(&in[i])
	}
	return out
}

func dump(p Plan) string {
	b, _ := json.MarshalIndent(p, "", "  ")
	return string(b)
}

func TestTwoRemoteSubscriptionsWithOneTargetURLAreNeverChosenBetweenByID(t *testing.T) {
	desired := []config.Subscription{entry("a", urlA, "message.received"), entry("b", urlB, "message.read")}
	for _, policy := range []config.Policy{config.PolicySync, config.PolicyUpsertOnly} {
		for _, remote := range [][]linq.Subscription{
			{remoteSub("2", urlA, "message.sent"), remoteSub("1", urlA, "message.received"), remoteSub("9", urlB, "message.read")},
			{remoteSub("9", urlB, "message.read"), remoteSub("1", urlA, "message.received"), remoteSub("2", urlA, "message.sent")},
		} {
			t.Run(string(policy)+"/"+remote[0].ID, func(t *testing.T) {
				p := ApplyPolicy(Compute(desired, remote, Options{}), policy)
				if len(p.Errors) != 1 || p.Errors[0].Name != "a" {
					t.Fatalf("errors = %+v; want one entry error for %q", p.Errors, "a")
				}
				msg := p.Errors[0].Message
				if !strings.Contains(msg, `"1" and "2"`) || !strings.Contains(msg, "pin") {
					t.Errorf("error %q does not name both ids and the way out", msg)
				}
				for _, c := range p.Changes {
					if c.TargetURL == urlA && (c.Action == ActionUpdate || c.Action == ActionDelete) {
						t.Errorf("plan changes a subscription of the shared URL: %+v", c)
					}
				}
				if p.InSync != 1 {
					t.Errorf("in sync = %d, want 1 (entry b plans as usual)", p.InSync)
				}
			})
		}
	}
	// Pinning one by id is the user's choice: the other is then not the
	// entry's and follows the policy.
	pinnedDesired := []config.Subscription{pinned(entry("a", urlA, "message.received"), "1")}
	p := ApplyPolicy(Compute(pinnedDesired, []linq.Subscription{remoteSub("1", urlA, "message.received"), remoteSub("2", urlA, "message.sent")}, Options{}), config.PolicySync)
	if len(p.Errors) != 0 || len(p.Changes) != 1 || p.Changes[0].Action != ActionDelete || p.Changes[0].ID != "2" {
		t.Errorf("pinned: errors %+v, changes %+v; want subscription 2 deleted", p.Errors, p.Changes)
	}
}

func TestSameSetIgnoresOrderAndDuplicatesAtEverySize(t *testing.T) {
	many := func(n, skip int) []string { // s00 to s(n-1), backwards, without s(skip)
		var out []string
		for i := n - 1; i >= 0; i-- {
			if i != skip {
				out = append(out, fmt.Sprintf("s%02d", i))
			}
		}
		return out
	}
	tests := []struct {
		a, b []string
		want bool
	}{
		{nil, nil, true},
		{nil, []string{}, true},
		{[]string{"a"}, nil, false},
		{[]string{"b", "a"}, []string{"a", "b"}, true},
		{[]string{"a", "a", "b"}, []string{"b", "a"}, true},
		{[]string{"a", "b"}, []string{"a", "c"}, false},
		{[]string{"a", "b"}, []string{"a", "b", "c"}, false},
		{[]string{"a", "a"}, []string{"a", "b"}, false},
		{many(smallSet, -1), many(smallSet+1, smallSet), true},
		{many(smallSet, -1), slices.Concat(many(smallSet, -1), many(3, -1)), true},
		{many(smallSet+4, -1), slices.Concat(many(smallSet+4, -1), many(3, -1)), true},
		{many(smallSet+4, -1), many(smallSet+4, 2), false},
		{many(smallSet+4, 3), many(smallSet+4, 2), false},
	}
	for i, tt := range tests {
		for _, swap := range []bool{false, true} {
			a, b := tt.a, tt.b
			if swap {
				a, b = b, a
			}
			if got := sameSet(a, b); got != tt.want {
				t.Errorf("case %d: sameSet(%q, %q) = %v, want %v", i, a, b, got, tt.want)
			}
			if ref := slices.Equal(sortedSet(a), sortedSet(b)); ref != tt.want {
				t.Errorf("case %d: the table is wrong: sorted copies equal = %v", i, ref)
			}
		}
	}
}
