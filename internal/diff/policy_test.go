package diff

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

func TestApplyPolicy(t *testing.T) {
	desired := []config.Subscription{entry("a", urlA, "message.read"), entry("b", urlB, "message.read")}
	remote := []linq.Subscription{
		remoteSub("3", "https://z.example.com/3", "chat.created"),
		remoteSub("1", urlA, "message.sent"),
		remoteSub("2", "https://y.example.com/2", "chat.created"),
	}
	base := Compute(desired, remote, Options{})
	before := deepCopyPlan(base)

	tests := []struct {
		name        string
		policy      config.Policy
		wantActions []Action
		wantIDs     []string
	}{
		{
			name:        "upsert-only leaves unmanaged alone",
			policy:      config.PolicyUpsertOnly,
			wantActions: []Action{ActionCreate, ActionUpdate, ActionUnmanaged, ActionUnmanaged},
			wantIDs:     []string{"", "1", "2", "3"},
		},
		{
			name:        "empty policy is upsert-only",
			policy:      "",
			wantActions: []Action{ActionCreate, ActionUpdate, ActionUnmanaged, ActionUnmanaged},
			wantIDs:     []string{"", "1", "2", "3"},
		},
		{
			name:        "sync deletes unmanaged, ordered by url",
			policy:      config.PolicySync,
			wantActions: []Action{ActionCreate, ActionUpdate, ActionDelete, ActionDelete},
			wantIDs:     []string{"", "1", "2", "3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ApplyPolicy(base, tt.policy)
			var actions []Action
			var ids []string
			for _, c := range got.Changes {
				actions = append(actions, c.Action)
				ids = append(ids, c.ID)
			}
			if !reflect.DeepEqual(actions, tt.wantActions) || !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ApplyPolicy() actions %v ids %v, want %v %v", actions, ids, tt.wantActions, tt.wantIDs)
			}
			if got.InSync != base.InSync || got.OutOfScope != base.OutOfScope {
				t.Errorf("ApplyPolicy() lost the counts: %+v", got.Summary())
			}
			if !reflect.DeepEqual(base, before) {
				t.Error("ApplyPolicy modified its input plan")
			}
		})
	}
}

func TestApplyPolicyIsIdempotent(t *testing.T) {
	p := Compute(nil, []linq.Subscription{remoteSub("1", urlA, "message.read")}, Options{})
	once := ApplyPolicy(p, config.PolicySync)
	if twice := ApplyPolicy(once, config.PolicySync); !reflect.DeepEqual(once, twice) {
		t.Errorf("ApplyPolicy(sync) twice = %s, want %s", dump(twice), dump(once))
	}
}

func deepCopyPlan(p Plan) Plan {
	out := p
	out.Changes = append([]Change(nil), p.Changes...)
	out.Errors = append([]EntryError(nil), p.Errors...)
	return out
}

func deletes(n int) Plan {
	var p Plan
	for range n {
		p.Changes = append(p.Changes, Change{Action: ActionDelete})
	}
	p.Changes = append(p.Changes, Change{Action: ActionUnmanaged}, Change{Action: ActionCreate})
	return p
}

func TestCheckSafety(t *testing.T) {
	tests := []struct {
		name        string
		plan        Plan
		desired     int
		rails       Rails
		wantRefused bool
		wantEmpty   bool
	}{
		{name: "deletes at the limit are allowed", plan: deletes(5), desired: 10, rails: DefaultRails()},
		{name: "deletes over the limit are refused", plan: deletes(6), desired: 10, rails: DefaultRails(), wantRefused: true},
		{name: "a raised limit allows more", plan: deletes(6), desired: 10, rails: Rails{MaxDeletes: 6}},
		{name: "allow mass delete lifts the limit", plan: deletes(60), desired: 10, rails: Rails{MaxDeletes: 5, AllowMassDelete: true}},
		{name: "zero rails allow no delete", plan: deletes(1), desired: 10, rails: Rails{}, wantRefused: true},
		{name: "zero rails allow creates", plan: deletes(0), desired: 10, rails: Rails{}},
		{name: "empty config refuses even one delete", plan: deletes(1), desired: 0, rails: DefaultRails(), wantRefused: true, wantEmpty: true},
		{name: "empty config with nothing to delete is allowed", plan: Plan{Changes: []Change{{Action: ActionUnmanaged}}}, desired: 0, rails: DefaultRails()},
		{name: "empty config with allow mass delete deletes everything", plan: deletes(40), desired: 0, rails: Rails{AllowMassDelete: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSafety(tt.plan, tt.desired, tt.rails)
			if !tt.wantRefused {
				if err != nil {
					t.Fatalf("CheckSafety() = %v, want nil", err)
				}
				return
			}
			var se *SafetyError
			if !errors.As(err, &se) {
				t.Fatalf("CheckSafety() = %v, want a *SafetyError", err)
			}
			if se.EmptyConfig != tt.wantEmpty {
				t.Errorf("EmptyConfig = %v, want %v", se.EmptyConfig, tt.wantEmpty)
			}
			if !strings.Contains(se.Hint, "--allow-mass-delete") {
				t.Errorf("Hint %q does not name --allow-mass-delete", se.Hint)
			}
			if !tt.wantEmpty && !strings.Contains(se.Hint, "--max-deletes") {
				t.Errorf("Hint %q does not name --max-deletes", se.Hint)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "refusing to delete") {
				t.Errorf("Error() = %q, want it to start with %q", msg, "refusing to delete")
			}
		})
	}
}
