package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

// RotateOptions are the flags and arguments of rotate.
type RotateOptions struct {
	Env   Env
	File  FileFlags
	API   APIFlags
	Log   LogFlags
	Apply ApplyFlags
	// Names are the entries to rotate.
	Names []string
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

// NewCmdRotate returns the rotate command; runF, when not nil, replaces
// rotateRun.
func NewCmdRotate(env Env, runF func(context.Context, *RotateOptions) int) *cobra.Command {
	opts := &RotateOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "rotate [flags] NAME...",
		GroupID: "api",
		Short:   "Replace the named subscriptions so that a fresh signing secret is held",
		Long: `Rotate replaces each named entry's subscription (delete, create, store the new
signing secret), so that a secret that was lost, or may have leaked, is
replaced by one the store holds. It takes apply's flags; the store is
required.`,
		Example: `  linq-sync rotate --secrets-dir ./secrets crm-messages
  linq-sync rotate -f subscriptions.yaml --secrets dir:/var/lib/linq-sync/secrets crm-messages billing`,
		Annotations: map[string]string{annExitCodes: "0 every one was rotated and its secret stored, 1 otherwise"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{err: errors.New("rotate: name the entries to rotate"), help: "linq-sync rotate --help"}
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			opts.Names = args
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(rotateRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	opts.Apply.register(cmd)
	return cmd
}

// rotateRun replaces the named subscriptions so that a fresh signing
// secret is held for each: delete, create, store. Exit 0 when every one
// was rotated and its secret stored, 1 otherwise.
func rotateRun(ctx context.Context, o *RotateOptions) int {
	w, code := prepareWrite(ctx, o.Env, &o.File, o.defaultFile, &o.API, &o.Log, &o.Apply)
	if w == nil {
		return code
	}
	rep, err := w.r.Rotate(ctx, w.cfg, o.Names)
	return reportApply(o.Env, o.File.File, rep, err)
}
