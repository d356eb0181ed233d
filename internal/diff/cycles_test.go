package diff

import (
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

const (
	u1 = "https://hooks.example.com/1"
	u2 = "https://hooks.example.com/2"
	u3 = "https://hooks.example.com/3"
	u4 = "https://hooks.example.com/4"
)

func TestComputeRefusesURLSwapsButNotChains(t *testing.T) {
	tests := []struct {
		name        string
		desired     []config.Subscription
		remote      []linq.Subscription
		wantErrors  []string // entry names with an error
		wantUpdates int
	}{
		{
			name:       "two entries swap URLs",
			desired:    []config.Subscription{pinned(entry("a", u2, "message.sent"), "id-a"), pinned(entry("b", u1, "message.sent"), "id-b")},
			remote:     []linq.Subscription{remoteSub("id-a", u1, "message.sent"), remoteSub("id-b", u2, "message.sent")},
			wantErrors: []string{"a", "b"},
		},
		{
			name: "three entries rotate URLs; a fourth change is unaffected",
			desired: []config.Subscription{
				pinned(entry("a", u2, "message.sent"), "id-a"), pinned(entry("b", u3, "message.sent"), "id-b"),
				pinned(entry("c", u1, "message.sent"), "id-c"), pinned(entry("d", u4, "message.read"), "id-d"),
			},
			remote: []linq.Subscription{
				remoteSub("id-a", u1, "message.sent"), remoteSub("id-b", u2, "message.sent"),
				remoteSub("id-c", u3, "message.sent"), remoteSub("id-d", u4, "message.sent"),
			},
			wantErrors:  []string{"a", "b", "c"},
			wantUpdates: 1,
		},
		{
			name: "a chain of moves is not a cycle",
			desired: []config.Subscription{
				pinned(entry("a", u2, "message.sent"), "id-a"), pinned(entry("b", u3, "message.sent"), "id-b"),
			},
			remote:      []linq.Subscription{remoteSub("id-a", u1, "message.sent"), remoteSub("id-b", u2, "message.sent")},
			wantUpdates: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(tt.desired, tt.remote, Options{})
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Name)
				if !strings.Contains(e.Message, "temporary URL") {
					t.Errorf("error %q gives no way out", e.Message)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantErrors, ",") {
				t.Errorf("entry errors for %v, want %v", got, tt.wantErrors)
			}
			if n := p.Summary().Update; n != tt.wantUpdates {
				t.Errorf("updates = %d, want %d", n, tt.wantUpdates)
			}
		})
	}
}

func TestApplyPolicyRefusesMovingOntoAnUnmanagedURLUnderUpsertOnly(t *testing.T) {
	desired := []config.Subscription{pinned(entry("a", u2, "message.sent"), "id-a")}
	remote := []linq.Subscription{remoteSub("id-a", u1, "message.sent"), remoteSub("id-x", u2, "message.sent")}
	p := Compute(desired, remote, Options{})

	up := ApplyPolicy(p, config.PolicyUpsertOnly)
	if len(up.Errors) != 1 || up.Errors[0].Name != "a" || !strings.Contains(up.Errors[0].Message, "id-x") {
		t.Fatalf("upsert-only errors = %+v, want one for entry a naming id-x", up.Errors)
	}
	if s := up.Summary(); s.Update != 0 || s.Unmanaged != 1 {
		t.Errorf("upsert-only summary = %+v, want the update refused and id-x unmanaged", s)
	}
	if len(p.Errors) != 0 {
		t.Errorf("ApplyPolicy modified its input: %+v", p.Errors)
	}

	sync := ApplyPolicy(p, config.PolicySync)
	if s := sync.Summary(); len(sync.Errors) != 0 || s.Update != 1 || s.Delete != 1 {
		t.Errorf("sync: errors %+v, summary %+v; want the delete and the update", sync.Errors, s)
	}
}
