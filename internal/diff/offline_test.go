package diff

import (
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
)

func TestCompareConfigs(t *testing.T) {
	type row struct {
		action Action
		name   string
		id     string
	}
	tests := []struct {
		name       string
		old, new   []config.Subscription
		wantRows   []row
		wantInSync int
		wantErr    string
	}{
		{
			name:       "identical files are in sync",
			old:        []config.Subscription{entry("a", urlA, "message.read"), pinned(entry("b", urlB, "message.read"), "id-b")},
			new:        []config.Subscription{entry("a", urlA, "message.read"), pinned(entry("b", urlB, "message.read"), "id-b")},
			wantInSync: 2,
		},
		{
			name:     "changed fields of an unpinned entry are an update of its synthetic id",
			old:      []config.Subscription{entry("a", urlA, "message.read")},
			new:      []config.Subscription{inactive(entry("a", urlA, "message.read", "message.sent"))},
			wantRows: []row{{ActionUpdate, "a", "old:a"}},
		},
		{
			name:     "a pinned entry's new url is an update",
			old:      []config.Subscription{pinned(entry("b", urlA, "message.read"), "id-b")},
			new:      []config.Subscription{pinned(entry("b", urlB, "message.read"), "id-b")},
			wantRows: []row{{ActionUpdate, "b", "id-b"}},
		},
		{
			name:     "an unpinned entry's new url is a create, and the old one unmanaged",
			old:      []config.Subscription{entry("a", urlA, "message.read")},
			new:      []config.Subscription{entry("a", urlB, "message.read")},
			wantRows: []row{{ActionCreate, "a", ""}, {ActionUnmanaged, "", "old:a"}},
		},
		{
			name:     "a removed entry is unmanaged, an added one a create",
			old:      []config.Subscription{entry("a", urlA, "message.read")},
			new:      []config.Subscription{entry("c", urlC, "chat.created")},
			wantRows: []row{{ActionCreate, "c", ""}, {ActionUnmanaged, "", "old:a"}},
		},
		{
			name:       "pinning an unpinned entry of the same name is an adoption, not an error",
			old:        []config.Subscription{entry("a", urlA, "message.read")},
			new:        []config.Subscription{pinned(entry("a", urlA, "message.read"), "real-id")},
			wantInSync: 1,
		},
		{
			name:       "an id the old file does not know is an adoption, not an error",
			old:        []config.Subscription{entry("a", urlA, "message.read")},
			new:        []config.Subscription{entry("a", urlA, "message.read"), pinned(entry("z", urlB, "message.read"), "unknown")},
			wantRows:   []row{{ActionAdopt, "z", "unknown"}},
			wantInSync: 1,
		},
		{
			name:     "an exported file new in a pull request adopts every subscription",
			old:      nil,
			new:      []config.Subscription{pinned(entry("a", urlA, "message.read"), "id-a"), pinned(entry("b", urlB, "message.read"), "id-b")},
			wantRows: []row{{ActionAdopt, "a", "id-a"}, {ActionAdopt, "b", "id-b"}},
		},
		{
			name:     "two entries adopting one id: the second is an error",
			old:      nil,
			new:      []config.Subscription{pinned(entry("a", urlA, "message.read"), "id-a"), pinned(entry("b", urlB, "message.read"), "id-a")},
			wantRows: []row{{ActionAdopt, "a", "id-a"}},
			wantErr:  `id "id-a" is also pinned by entry "a"`,
		},
		{
			name:     "duplicate names in the old file still get distinct ids",
			old:      []config.Subscription{entry("a", urlA, "message.read"), entry("a", urlB, "message.read")},
			new:      nil,
			wantRows: []row{{ActionUnmanaged, "", "old:a"}, {ActionUnmanaged, "", "old:a#2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := CompareConfigs(tt.old, tt.new)
			var got []row
			for _, c := range p.Changes {
				got = append(got, row{c.Action, c.Name, c.ID})
			}
			if len(got) != len(tt.wantRows) {
				t.Fatalf("CompareConfigs() changes = %v, want %v", got, tt.wantRows)
			}
			for i := range got {
				if got[i] != tt.wantRows[i] {
					t.Errorf("change %d = %v, want %v", i, got[i], tt.wantRows[i])
				}
			}
			if p.InSync != tt.wantInSync {
				t.Errorf("InSync = %d, want %d", p.InSync, tt.wantInSync)
			}
			switch {
			case tt.wantErr == "" && len(p.Errors) > 0:
				t.Errorf("Errors = %+v, want none", p.Errors)
			case tt.wantErr != "" && (len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, tt.wantErr)):
				t.Errorf("Errors = %+v, want one containing %q", p.Errors, tt.wantErr)
			}
		})
	}
}

func TestCompareConfigsNeverSuggestsPinningAMadeUpID(t *testing.T) {
	old := []config.Subscription{entry("crm", "https://hooks.example.com/crm?version=1", "message.sent")}
	next := []config.Subscription{entry("crm", "https://hooks.example.com/crm?version=2", "message.sent")}
	p := CompareConfigs(old, next)
	notes := 0
	for _, c := range p.Changes {
		for _, n := range c.Notes {
			notes++
			if strings.Contains(n, `"id: `+SyntheticIDPrefix) {
				t.Errorf("note suggests pinning a made-up id: %s", n)
			}
		}
	}
	if notes == 0 {
		t.Fatal("no predecessor note on a URL change")
	}
}
