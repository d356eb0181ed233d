package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/oneshot"
	"github.com/linq-sync/linq-sync/internal/planfmt"
)

// ValidateOptions are the flags of validate.
type ValidateOptions struct {
	Env    Env
	File   FileFlags
	Output string
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

var validateFormats = []string{"text", "github"}

// NewCmdValidate returns the validate command; runF, when not nil,
// replaces validateRun.
func NewCmdValidate(env Env, runF func(context.Context, *ValidateOptions) int) *cobra.Command {
	opts := &ValidateOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "validate [flags]",
		GroupID: "file",
		Short:   "Check a subscriptions file offline",
		Long: `Validate checks the file without the API: its syntax, every key and value, and
the event types against the published list (an unknown one is a warning here,
an error for plan). Every problem is reported at once as FILE:LINE:COL: path:
message.`,
		Example: `  linq-sync validate
  linq-sync validate -f subscriptions.yaml -o github   # annotations in a workflow`,
		Annotations: map[string]string{annExitCodes: "0 valid (warnings allowed), 1 invalid"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(validateRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output `format`: text or github (workflow commands)")
	completeFixed(cmd, "output", validateFormats...)
	return cmd
}

// validateRun checks a file offline: exit 0 valid (warnings allowed), 1
// invalid.
func validateRun(_ context.Context, o *ValidateOptions) int {
	env, file := o.Env, o.File.File
	if err := oneOf(o.Output, validateFormats...); err != nil {
		return errorf(env, fmt.Errorf("-o: %w", err), "")
	}
	cfg, diags, err := config.LoadWith(file, config.LoadOptions{AfterDecode: oneshot.Collect, BetweenGroups: oneshot.CollectIfGrown})
	if err != nil {
		if o.Output == "github" {
			planfmt.GitHubDiagnostics(env.Stdout, config.Diagnostics{{File: file, Message: err.Error()}})
		}
		hint := ""
		if o.defaultFile && isNotExist(err) {
			hint = missingFileHint
		}
		return errorf(env, err, hint)
	}
	if o.Output == "github" {
		if err := planfmt.GitHubDiagnostics(env.Stdout, diags); err != nil {
			return errorf(env, err, "")
		}
	} else {
		for _, d := range diags {
			fmt.Fprintln(env.Stderr, d.String())
		}
	}
	if diags.HasErrors() || cfg == nil {
		fmt.Fprintf(env.Stderr, "%s: invalid: %d error(s), %d warning(s)\n", file, len(diags.Errors()), len(diags.Warnings()))
		return ExitError
	}
	fmt.Fprintf(env.Stdout, "%s: valid: %d subscription(s), policy %s", file, len(cfg.Subscriptions), cfg.Policy)
	if n := len(diags.Warnings()); n > 0 {
		fmt.Fprintf(env.Stdout, ", %d warning(s)", n)
	}
	fmt.Fprintln(env.Stdout)
	return ExitOK
}
