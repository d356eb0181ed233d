package cli

import (
	"context"
	"flag"
	"log/slog"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// runExport prints the account's subscriptions as a config file with ids
// pinned, so that existing state can be adopted.
func runExport(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var (
		af apiFlags
		lf logFlags
	)
	af.register(fs, env)
	lf.register(fs)
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	log, err := lf.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return errorf(env, err, "")
	}
	client, err := af.client(log)
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	subs, err := client.List(ctx)
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	if !af.allEnvironments {
		kept := subs[:0:0]
		for _, s := range subs {
			if s.EnvironmentID == nil {
				kept = append(kept, s)
			}
		}
		if n := len(subs) - len(kept); n > 0 {
			log.Warn("left out subscriptions of other environments", "count", n, "hint", "--all-environments includes them")
		}
		subs = kept
	}
	out, err := config.Export(exportEntries(subs))
	if err != nil {
		return errorf(env, err, "")
	}
	if _, err := env.Stdout.Write(out); err != nil {
		return errorf(env, err, "")
	}
	return ExitOK
}

// exportEntries converts listed subscriptions to what config.Export reads.
func exportEntries(subs []linq.Subscription) []config.Subscription {
	out := make([]config.Subscription, len(subs))
	for i, s := range subs {
		out[i] = config.Subscription{
			ID:               s.ID,
			TargetURL:        s.TargetURL,
			SubscribedEvents: s.SubscribedEvents,
			PhoneNumbers:     s.PhoneNumbers,
			IsActive:         s.IsActive,
		}
	}
	return out
}
