package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/planfmt"
)

// runValidate checks a file offline: exit 0 valid (warnings allowed),
// 1 invalid.
func runValidate(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var ff fileFlags
	ff.register(fs, env)
	output := fs.String("o", "text", "output `format`: text or github (workflow commands)")
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	if err := oneOf(*output, "text", "github"); err != nil {
		return errorf(env, fmt.Errorf("-o: %w", err), "")
	}
	cfg, diags, err := config.Load(ff.file)
	if err != nil {
		if *output == "github" {
			planfmt.GitHubDiagnostics(env.Stdout, config.Diagnostics{{File: ff.file, Message: err.Error()}})
		}
		return errorf(env, err, "")
	}
	if *output == "github" {
		if err := planfmt.GitHubDiagnostics(env.Stdout, diags); err != nil {
			return errorf(env, err, "")
		}
	} else {
		for _, d := range diags {
			fmt.Fprintln(env.Stderr, d.String())
		}
	}
	if diags.HasErrors() || cfg == nil {
		fmt.Fprintf(env.Stderr, "%s: invalid: %d error(s), %d warning(s)\n", ff.file, len(diags.Errors()), len(diags.Warnings()))
		return ExitError
	}
	fmt.Fprintf(env.Stdout, "%s: valid: %d subscription(s), policy %s", ff.file, len(cfg.Subscriptions), cfg.Policy)
	if n := len(diags.Warnings()); n > 0 {
		fmt.Fprintf(env.Stdout, ", %d warning(s)", n)
	}
	fmt.Fprintln(env.Stdout)
	return ExitOK
}
