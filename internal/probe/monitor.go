package probe

import (
	"context"
	"log/slog"
	"time"
)

// Monitor is the daemon's side of probing: it probes, records the results
// in the metrics and logs them. Check serves the probes after a create or a
// rotation; Run the periodic ones.
type Monitor struct {
	prober  *Prober
	metrics *Metrics
	log     *slog.Logger
}

// NewMonitor returns a Monitor. metrics may be nil (no metrics), log nil
// (no logs).
func NewMonitor(p *Prober, m *Metrics, log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{prober: p, metrics: m, log: log}
}

// Check probes targets, records each result and logs it: verified and
// skipped at debug level, every other result as a warning with its hint.
func (mo *Monitor) Check(ctx context.Context, targets []Target) []Result {
	rs := mo.prober.ProbeAll(ctx, targets)
	if ctx.Err() != nil {
		// Shutting down: results made of cancelled requests say nothing
		// about the endpoints.
		return rs
	}
	mo.metrics.Observe(rs...)
	for _, r := range rs {
		attrs := []any{"name", r.Name, "id", r.SubscriptionID, "target_url", r.TargetURL, "result", string(r.Result)}
		switch r.Result {
		case Verified:
			mo.log.Debug("endpoint probe", attrs...)
		case Skipped:
			mo.log.Debug("endpoint probe", append(attrs, "hint", r.Hint)...)
		default:
			mo.log.Warn("endpoint probe", append(attrs, "hint", r.Hint)...)
		}
	}
	return rs
}

// Run probes on every tick until ctx ends: it asks targets for the
// endpoints to probe (the managed subscriptions, with the secrets held),
// checks them all and drops the metrics of names no longer among them. An
// error from targets is logged and the tick skipped. The caller owns the
// ticker (time.NewTicker(probeInterval).C in the daemon, a channel in tests).
func (mo *Monitor) Run(ctx context.Context, tick <-chan time.Time, targets func(context.Context) ([]Target, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		ts, err := targets(ctx)
		if err != nil {
			if ctx.Err() == nil {
				mo.log.Warn("endpoint probes skipped", "err", err)
			}
			continue
		}
		mo.Check(ctx, ts)
		if ctx.Err() != nil {
			return
		}
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.Name
		}
		mo.metrics.Retain(names...)
	}
}
