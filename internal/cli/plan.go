package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/planfmt"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

var planFormats = []string{"text", "json", "markdown", "github"}

// PlanOptions are the flags of plan.
type PlanOptions struct {
	Env  Env
	File FileFlags
	API  APIFlags
	Log  LogFlags
	// Secrets is read, never written, to show each entry's custody.
	Secrets    SecretFlags
	Output     string
	Offline    bool
	Against    string
	MaxDeletes int
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

// NewCmdPlan returns the plan command; runF, when not nil, replaces
// planRun (tests check flag parsing through it).
func NewCmdPlan(env Env, runF func(context.Context, *PlanOptions) int) *cobra.Command {
	opts := &PlanOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "plan [flags]",
		GroupID: "api",
		Short:   "Show what apply would change (exit 2 when changes are pending)",
		Long: `Plan lists the account once (plus one call for the event types), compares it
with the file and prints what apply would change. It writes nothing.

With --secrets (or --secrets-dir) the store is read, never written, and the
plan shows whose signing secret is held, lost or unknown; a lost one is
pending too (exit 2) until rotated.

With --offline --against OLD_FILE it needs no API and no token: it compares
the file with a previous version of it, as a pull request from a fork must.
An offline plan cannot know the account's current state: what was changed
outside the file, and the state of subscriptions the file newly adopts by id.`,
		Example: `  linq-sync plan
  linq-sync plan -f subscriptions.yaml -o json
  git show origin/main:subscriptions.yaml > /tmp/base.yaml
  linq-sync plan --offline --against /tmp/base.yaml -o markdown`,
		Annotations: map[string]string{annExitCodes: "0 in sync, 2 changes pending (or a signing secret lost, or a verified move held back), 1 error (including entries that cannot be planned)"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(planRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	opts.Secrets.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "text", "output `format`: text, json, markdown or github")
	fl.BoolVar(&opts.Offline, "offline", false, "no API: diff the file against --against (needs no token)")
	fl.StringVar(&opts.Against, "against", "", "with --offline, the previous version of the `file` to diff against")
	fl.IntVar(&opts.MaxDeletes, "max-deletes", diff.DefaultMaxDeletes, "warn when the plan deletes more than `n` (apply would refuse)")
	completeFixed(cmd, "output", planFormats...)
	_ = cmd.MarkFlagFilename("against", "yaml", "yml")
	return cmd
}

// planRun shows what apply would change: exit 0 in sync, 2 changes
// pending, 1 error.
func planRun(ctx context.Context, o *PlanOptions) int {
	env := o.Env
	if err := oneOf(o.Output, planFormats...); err != nil {
		return errorf(env, fmt.Errorf("-o: %w", err), "")
	}
	if o.Offline != (o.Against != "") {
		return errorf(env, errors.New("--offline and --against go together"), "linq-sync plan --offline --against OLD_FILE -f NEW_FILE")
	}
	log, err := o.Log.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return errorf(env, err, "")
	}
	cfg, ok := loadConfig(env, o.File.File, o.defaultFile)
	if !ok {
		return ExitError
	}
	var p diff.Plan
	if o.Offline {
		old, ok := loadConfig(env, o.Against, false)
		if !ok {
			return ExitError
		}
		p = diff.ApplyPolicy(diff.CompareConfigs(old.Subscriptions, cfg.Subscriptions), cfg.Policy)
	} else {
		client, err := o.API.client(log)
		if err != nil {
			return errorf(env, err, hintFor(err))
		}
		// The store is read, never written, to show each entry's custody.
		store, err := openSecrets(ctx, &o.Secrets, log, true)
		if err != nil {
			return errorf(env, err, "")
		}
		ro := reconcile.Options{AllEnvironments: o.API.AllEnvironments, Logger: log, Verifier: newProber(0)}
		ro.Apply.Secrets = store
		r := reconcile.New(client, ro)
		pr, err := r.Plan(ctx, cfg)
		var verr *reconcile.ValidationError
		if errors.As(err, &verr) {
			for _, d := range verr.Diagnostics {
				fmt.Fprintln(env.Stderr, d.String())
			}
			return errorf(env, fmt.Errorf("%s uses event types the API does not know", o.File.File), "")
		}
		if err != nil {
			return errorf(env, err, hintFor(err))
		}
		for _, d := range pr.Warnings {
			fmt.Fprintln(env.Stderr, d.String())
		}
		p = pr.Plan
	}
	popts := planfmt.Options{File: o.File.File, Policy: cfg.Policy, Offline: o.Offline}
	if err := renderPlan(env.Stdout, o.Output, p, popts); err != nil {
		return errorf(env, err, "")
	}
	if err := diff.CheckSafety(p, len(cfg.Subscriptions), diff.Rails{MaxDeletes: o.MaxDeletes}); err != nil && o.Output == "text" {
		fmt.Fprintf(env.Stderr, "warning: apply would refuse this plan: %v\n", err)
	}
	switch {
	case len(p.Errors) > 0:
		return ExitError
	case p.HasChanges(), len(diff.Lost(p.Custody)) > 0, len(p.Deferred) > 0:
		// A lost secret is drift too: only a rotation cures it.
		return ExitPending
	}
	return ExitOK
}

func renderPlan(w io.Writer, format string, p diff.Plan, opts planfmt.Options) error {
	switch format {
	case "json":
		return planfmt.JSON(w, p, opts)
	case "markdown":
		return planfmt.Markdown(w, p, opts)
	case "github":
		return planfmt.GitHub(w, p, opts)
	}
	return planfmt.Text(w, p, opts)
}
