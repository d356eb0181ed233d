package daemon

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/linq-sync/linq-sync/internal/config"
)

func TestLeaderOnlyFollowersMakeNoCallAndLosingTheLeaseCancelsTheReconcile(t *testing.T) {
	var calls atomic.Int64
	var term context.Context
	var endTerm context.CancelFunc
	leading := false
	lead := func() (context.Context, bool) { return term, leading }
	inner := ReconcilerFunc(func(ctx context.Context, _ *config.Config, _ Mode) (Outcome, error) {
		calls.Add(1)
		endTerm() // the lease is lost mid-reconcile
		<-ctx.Done()
		return Outcome{Planned: true}, context.Cause(ctx)
	})
	r := LeaderOnly(inner, lead, nil)

	term, endTerm = context.WithCancel(context.Background())
	defer endTerm()
	out, err := r.Reconcile(context.Background(), &config.Config{}, Mode{})
	if err != nil || !out.Following || calls.Load() != 0 {
		t.Fatalf("following: out %+v, err %v, calls %d; want following, no call", out, err, calls.Load())
	}
	leading = true
	_, err = r.Reconcile(context.Background(), &config.Config{}, Mode{})
	if calls.Load() != 1 || !errors.Is(err, errLostLease) {
		t.Errorf("leading: calls %d, err %v; want one reconcile cancelled by the lost lease", calls.Load(), err)
	}
	if _, err := r.Reconcile(context.Background(), &config.Config{}, Mode{}); err != nil || calls.Load() != 1 {
		t.Errorf("after the term ended: err %v, calls %d; want no call", err, calls.Load())
	}
}
