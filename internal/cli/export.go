package cli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// ExportOptions are the flags of export.
type ExportOptions struct {
	Env Env
	API APIFlags
	Log LogFlags
}

// NewCmdExport returns the export command; runF, when not nil, replaces
// exportRun.
func NewCmdExport(env Env, runF func(context.Context, *ExportOptions) int) *cobra.Command {
	opts := &ExportOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "export [flags]",
		GroupID: "api",
		Short:   "Print the account's subscriptions as a config file",
		Long: `Export prints the account's subscriptions as a config file with every id pinned,
so that existing state can be adopted: validate accepts it unchanged and a
plan of it is clean. Subscriptions of other environments are left out unless
--all-environments is given. Signing secrets are never shown by the API
after creation, so none are exported.`,
		Example: `  linq-sync export > subscriptions.yaml
  linq-sync export --all-environments`,
		Annotations: map[string]string{annExitCodes: "0 printed, 1 error"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(exportRun(cmd.Context(), opts))
		},
	}
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	return cmd
}

// exportRun prints the account's subscriptions as a config file with ids
// pinned, so that existing state can be adopted.
func exportRun(ctx context.Context, o *ExportOptions) int {
	env, af := o.Env, &o.API
	log, err := o.Log.logger(env.Stderr, new(slog.LevelVar))
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
	if !af.AllEnvironments {
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
