package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/config"
)

// SchemaOptions are the flags of schema.
type SchemaOptions struct {
	Env Env
}

// NewCmdSchema returns the schema command; runF, when not nil, replaces
// schemaRun.
func NewCmdSchema(env Env, runF func(context.Context, *SchemaOptions) int) *cobra.Command {
	opts := &SchemaOptions{Env: env}
	return &cobra.Command{
		Use:     "schema",
		GroupID: "file",
		Short:   "Print the JSON Schema of the config file",
		Long: `Schema prints the JSON Schema of the subscriptions file (also at
schema/subscriptions.schema.json), for editors and other checkers. Editors with
the YAML language server use it through a first-line comment:
# yaml-language-server: $schema=PATH`,
		Example:     "  linq-sync schema > subscriptions.schema.json",
		Annotations: map[string]string{annExitCodes: "0 printed, 1 the output could not be written"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(schemaRun(cmd.Context(), opts))
		},
	}
}

// schemaRun prints the JSON Schema of the config file.
func schemaRun(_ context.Context, o *SchemaOptions) int {
	if _, err := o.Env.Stdout.Write(config.Schema()); err != nil {
		return errorf(o.Env, err, "")
	}
	return ExitOK
}
