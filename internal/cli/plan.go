package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/planfmt"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

var planFormats = []string{"text", "json", "markdown", "github"}

// runPlan shows what apply would change: exit 0 in sync, 2 changes
// pending, 1 error.
func runPlan(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	var (
		ff fileFlags
		af apiFlags
		lf logFlags
		sf secretFlags
	)
	ff.register(fs, env)
	af.register(fs, env)
	lf.register(fs)
	sf.register(fs)
	output := fs.String("o", "text", "output `format`: text, json, markdown or github")
	offline := fs.Bool("offline", false, "no API: diff the file against --against (needs no token)")
	against := fs.String("against", "", "with --offline, the previous version of the `file` to diff against")
	maxDeletes := fs.Int("max-deletes", diff.DefaultMaxDeletes, "warn when the plan deletes more than `n` (apply would refuse)")
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	if err := oneOf(*output, planFormats...); err != nil {
		return errorf(env, fmt.Errorf("-o: %w", err), "")
	}
	if *offline != (*against != "") {
		return errorf(env, errors.New("--offline and --against go together"), "linq-sync plan --offline --against OLD_FILE -f NEW_FILE")
	}
	log, err := lf.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return errorf(env, err, "")
	}
	cfg, ok := loadConfig(env, ff.file)
	if !ok {
		return ExitError
	}
	var p diff.Plan
	if *offline {
		old, ok := loadConfig(env, *against)
		if !ok {
			return ExitError
		}
		p = diff.ApplyPolicy(diff.CompareConfigs(old.Subscriptions, cfg.Subscriptions), cfg.Policy)
	} else {
		client, err := af.client(log)
		if err != nil {
			return errorf(env, err, hintFor(err))
		}
		// The store is read, never written, to show each entry's custody.
		store, err := sf.open(ctx, log, true)
		if err != nil {
			return errorf(env, err, "")
		}
		ro := reconcile.Options{AllEnvironments: af.allEnvironments, Logger: log}
		ro.Apply.Secrets = store
		r := reconcile.New(client, ro)
		pr, err := r.Plan(ctx, cfg)
		var verr *reconcile.ValidationError
		if errors.As(err, &verr) {
			for _, d := range verr.Diagnostics {
				fmt.Fprintln(env.Stderr, d.String())
			}
			return errorf(env, fmt.Errorf("%s uses event types the API does not know", ff.file), "")
		}
		if err != nil {
			return errorf(env, err, hintFor(err))
		}
		for _, d := range pr.Warnings {
			fmt.Fprintln(env.Stderr, d.String())
		}
		p = pr.Plan
	}
	if err := renderPlan(env.Stdout, *output, p, planfmt.Options{File: ff.file, Policy: cfg.Policy}); err != nil {
		return errorf(env, err, "")
	}
	if err := diff.CheckSafety(p, len(cfg.Subscriptions), diff.Rails{MaxDeletes: *maxDeletes}); err != nil && *output == "text" {
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
