package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// Verifier proves that an endpoint holds and checks its signing secret;
// *probe.Prober satisfies it. Verify returns an error saying why unless
// the endpoint answered as verified.
type Verifier interface {
	Verify(ctx context.Context, t probe.Target) (probe.Result, error)
}

// verifyMoves holds back every verify_before_move entry's change of
// target_url until its new URL answers a signed probe, made with the
// secret the store holds, as verified.
func (r *Reconciler) verifyMoves(ctx context.Context, p diff.Plan) diff.Plan {
	store := r.opts.Apply.Secrets
	for _, c := range diff.Moves(p) {
		reason := ""
		secret, err := heldSecret(ctx, store, p.Custody, c.Name)
		switch {
		case err != nil:
			reason = "the new URL cannot be probed: " + err.Error()
		case r.opts.Verifier == nil:
			reason = "no prober is configured"
		default:
			t := probe.Target{Name: c.Name, SubscriptionID: c.ID, TargetURL: *c.Update.TargetURL, Secret: probe.Secret(secret)}
			if _, err := r.opts.Verifier.Verify(ctx, t); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			r.log.Warn("move held back until the new URL verifies", "name", c.Name, "id", c.ID, "to", *c.Update.TargetURL, "reason", reason)
			p = diff.DeferMove(p, c.Name, reason)
		}
	}
	return p
}

// heldSecret returns the secret the store holds for name, when the plan's
// custody says it is held.
func heldSecret(ctx context.Context, store secrets.Store, custody []diff.Custody, name string) (string, error) {
	if store == nil {
		return "", errors.New("no secret store is configured")
	}
	for _, c := range custody {
		if c.Name != name {
			continue
		}
		switch c.State {
		case diff.SecretLost:
			return "", fmt.Errorf("its signing secret is lost (%s); rotate it: linq-sync rotate %s", c.Detail, name)
		case diff.SecretUnknown:
			return "", errors.New("its signing secret is unknown here (adopted, never created by linq-sync); rotate it to have one held: linq-sync rotate " + name)
		}
		return store.Secret(ctx, name)
	}
	return "", errors.New("its signing secret is unknown here")
}

// ProbeTargets returns the endpoints to probe after rep: every matched
// entry, and every subscription the apply created, each with the secret
// the store holds, or with the reason none can be sent.
func ProbeTargets(ctx context.Context, rep Report, store secrets.Store) []probe.Target {
	created := map[string]apply.Created{}
	for _, c := range rep.Result.Created {
		created[c.Name] = c
	}
	var out []probe.Target
	for _, m := range rep.Plan.Matched {
		if _, ok := created[m.Name]; ok {
			continue // rotated: the new subscription follows
		}
		t := probe.Target{Name: m.Name, SubscriptionID: m.ID, TargetURL: m.Current.TargetURL}
		if s, err := heldSecret(ctx, store, rep.Plan.Custody, m.Name); err != nil {
			t.SkipReason = skipReason(err)
		} else {
			t.Secret = probe.Secret(s)
		}
		out = append(out, t)
	}
	for _, c := range rep.Result.Created {
		out = append(out, CreatedTarget(ctx, c, store))
	}
	return out
}

// CreatedTarget is the probe target of a subscription an apply created.
func CreatedTarget(ctx context.Context, c apply.Created, store secrets.Store) probe.Target {
	t := probe.Target{Name: c.Name, SubscriptionID: c.ID, TargetURL: c.TargetURL}
	if store == nil {
		t.SkipReason = "no secret store is configured"
		return t
	}
	if s, err := store.Secret(ctx, c.Name); err != nil {
		t.SkipReason = skipReason(err)
	} else {
		t.Secret = probe.Secret(s)
	}
	return t
}

func skipReason(err error) string {
	if errors.Is(err, secrets.ErrNotReadable) {
		return "the secret store hands secrets on and cannot read them back, so linq-sync cannot probe"
	}
	return err.Error()
}

// Probe lists the account once, finds the managed subscriptions of cfg
// and probes each (or those named) with the secret the store holds.
// Unknown names are refused before any probe is sent.
func (r *Reconciler) Probe(ctx context.Context, cfg *config.Config, p *probe.Prober, names []string) ([]probe.Result, error) {
	pr, err := r.Plan(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ts, err := probe.Select(ProbeTargets(ctx, Report{PlanResult: pr}, r.opts.Apply.Secrets), names)
	if err != nil {
		return nil, err
	}
	return p.ProbeAll(ctx, ts), nil
}
