package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/planfmt"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

// ApplyOptions are the flags of apply.
type ApplyOptions struct {
	Env   Env
	File  FileFlags
	API   APIFlags
	Log   LogFlags
	Apply ApplyFlags
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

// NewCmdApply returns the apply command; runF, when not nil, replaces
// applyRun.
func NewCmdApply(env Env, runF func(context.Context, *ApplyOptions) int) *cobra.Command {
	opts := &ApplyOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "apply [flags]",
		GroupID: "api",
		Short:   "Make the account match the file",
		Long: `Apply lists the account, plans exactly as plan does, and makes one API write per
changed subscription, sending only the changed fields. A plan with an entry
error, or one the safety rails refuse, is not applied at all.

The API shows a subscription's signing secret once, when it is created, so a
plan with creates needs a secret store (--secrets or --secrets-dir), checked
before any API call.`,
		Example: `  linq-sync apply --secrets-dir ./secrets
  linq-sync apply -f subscriptions.yaml --secrets dir:/var/lib/linq-sync/secrets
  linq-sync apply --secrets 'exec:/usr/local/bin/store-secret --vault' --state-dir /var/lib/linq-sync`,
		Annotations: map[string]string{annExitCodes: "0 the account matches the file (also when nothing was to do), 1 otherwise (also while a signing secret is lost)"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(applyRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	opts.Apply.register(cmd)
	return cmd
}

// applyRun makes the account match the file: exit 0 when it does
// (including nothing to do), 1 otherwise.
func applyRun(ctx context.Context, o *ApplyOptions) int {
	w, code := prepareWrite(ctx, o.Env, &o.File, o.defaultFile, &o.API, &o.Log, &o.Apply)
	if w == nil {
		return code
	}
	rep, err := w.r.Reconcile(ctx, w.cfg, false)
	return reportApply(o.Env, o.File.File, rep, err)
}

// writer is what a command that writes (apply, rotate) works with: the
// file, and a reconciler with its secret store opened.
type writer struct {
	cfg *config.Config
	r   *reconcile.Reconciler
}

// prepareWrite checks the flags, loads the file, opens the store and
// builds the client; on failure it has printed why and returns the exit
// code.
func prepareWrite(ctx context.Context, env Env, file *FileFlags, defaultFile bool, api *APIFlags, lf *LogFlags, af *ApplyFlags) (*writer, int) {
	if err := af.validate(); err != nil {
		return nil, errorf(env, err, "")
	}
	log, err := lf.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return nil, errorf(env, err, "")
	}
	cfg, ok := loadConfig(env, file.File, defaultFile)
	if !ok {
		return nil, ExitError
	}
	ropts, err := af.reconcileOptions(ctx, api, log)
	if err != nil {
		return nil, errorf(env, err, "")
	}
	client, err := api.client(log)
	if err != nil {
		return nil, errorf(env, err, hintFor(err))
	}
	return &writer{cfg: cfg, r: reconcile.New(client, ropts)}, ExitOK
}

// reportApply prints the plan that was applied and the outcome, and
// returns the exit code.
func reportApply(env Env, file string, rep reconcile.Report, err error) int {
	for _, d := range rep.Warnings {
		fmt.Fprintln(env.Stderr, d.String())
	}
	var verr *reconcile.ValidationError
	if errors.As(err, &verr) {
		for _, d := range verr.Diagnostics {
			fmt.Fprintln(env.Stderr, d.String())
		}
		return errorf(env, fmt.Errorf("%s uses event types the API does not know; nothing applied", file), "")
	}
	if rep.Listed {
		planfmt.Text(env.Stdout, rep.Plan, planfmt.Options{File: file})
	}
	var lost *reconcile.LostSecretsError
	if errors.As(err, &lost) {
		writeResult(env.Stdout, rep.Result)
		return errorf(env, err, lost.Hint())
	}
	if err != nil && !errors.Is(err, reconcile.ErrChangesFailed) {
		return errorf(env, err, hintFor(err))
	}
	writeResult(env.Stdout, rep.Result)
	if err != nil {
		fmt.Fprintf(env.Stderr, "linq-sync: error: %v; the rest was applied\n", err)
		for _, f := range rep.Result.Failures {
			fmt.Fprintf(env.Stderr, "  %s %s: %v\n", f.Action, changeLabel(f.Change), f.Err)
		}
		return ExitError
	}
	return ExitOK
}

func changeLabel(c diff.Change) string {
	if c.Name != "" {
		return fmt.Sprintf("%q", c.Name)
	}
	return c.ID
}

func writeResult(w io.Writer, r apply.Result) {
	if r.Applied == nil {
		return
	}
	rotated := ""
	if n := r.Applied[diff.ActionRotate]; n > 0 {
		rotated = fmt.Sprintf(", %d rotated", n)
	}
	fmt.Fprintf(w, "Applied: %d created, %d updated, %d deleted%s, %d failed (%d write calls).\n",
		r.Applied[diff.ActionCreate], r.Applied[diff.ActionUpdate], r.Applied[diff.ActionDelete], rotated, len(r.Failures), r.Writes)
	for _, l := range r.LostSecrets {
		switch l.Reason {
		case apply.ReasonCreatedElsewhere:
			fmt.Fprintf(w, "warning: %q (%s) was created by another writer at the same time; its signing secret is held there, not here.\n", l.Name, l.ID)
		case apply.ReasonOutcomeUnknown:
			fmt.Fprintf(w, "warning: SECRET MAY BE LOST: a create of %q may have been applied, and re-listing to confirm it failed. The journal keeps it: if it was created, the next plan shows its secret lost.\n", l.Name)
		default:
			fmt.Fprintf(w, "warning: SECRET LOST: %q (%s) exists but its signing secret is not held (%s). Rotate it to get a new one: linq-sync rotate %s.\n", l.Name, l.ID, l.Reason.Message(), l.Name)
		}
	}
}
