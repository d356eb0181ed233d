package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/version"
)

// VersionOptions are the flags of version.
type VersionOptions struct {
	Env Env
}

// NewCmdVersion returns the version command; runF, when not nil, replaces
// versionRun.
func NewCmdVersion(env Env, runF func(context.Context, *VersionOptions) int) *cobra.Command {
	opts := &VersionOptions{Env: env}
	return &cobra.Command{
		Use:         "version",
		Short:       "Print the version",
		Long:        "Version prints linq-sync's version and the Go toolchain that built it.",
		Example:     "  linq-sync version\n  linq-sync --version",
		Annotations: map[string]string{annExitCodes: "0"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(versionRun(cmd.Context(), opts))
		},
	}
}

// versionRun prints the version and the Go toolchain.
func versionRun(_ context.Context, o *VersionOptions) int {
	fmt.Fprintf(o.Env.Stdout, "linq-sync %s (%s)\n", version.String(), version.GoVersion())
	return ExitOK
}
