// Package cli implements the linq-sync command line on cobra: one file per
// subcommand, each an Options struct filled by its flags, a NewCmdX
// constructor and an xRun function doing the work, writing only to the
// writers it is given so that its output can be tested. It holds no
// business logic of its own beyond wiring flags to the config, plan, apply
// and daemon packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/version"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitPending = 2 // plan: changes pending
)

// Env is the process environment a command sees: streams and variables.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up an environment variable.
	Getenv func(string) string
}

// exitCode is the error a command returns to end with a given exit code
// once it has printed what it had to say.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// runE adapts an xRun result to cobra: a non-zero code becomes an
// exitCode error.
func runE(code int) error {
	if code == ExitOK {
		return nil
	}
	return exitCode(code)
}

// Main runs the command line args (without the program name) and returns
// the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	root := NewCmdRoot(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var code exitCode
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	}
	// A usage error found by cobra or pflag before any command ran.
	fmt.Fprintf(env.Stderr, "linq-sync: error: %v\n", err)
	if hint := usageHint(root, args, err); hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	return ExitError
}

// NewCmdRoot returns the linq-sync command with every subcommand.
func NewCmdRoot(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "linq-sync",
		Short: "Keep a Linq account's webhook subscriptions equal to a YAML file",
		Long: `linq-sync keeps a Linq account's webhook subscriptions (Linq messaging API v3)
exactly as a YAML file declares them: plan shows the difference, apply fixes it
with one API write per changed subscription, run keeps it fixed as a daemon.`,
		Example: `  linq-sync demo                          # try it against an embedded fake API
  linq-sync export > subscriptions.yaml   # adopt what the account has
  linq-sync plan -f subscriptions.yaml    # what would change (exit 2 if anything)
  linq-sync apply --secrets dir:./secrets`,
		Version:       version.String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a subcommand: the usage, and exit 1.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(env.Stderr)
			_ = cmd.Usage()
			return exitCode(ExitError)
		},
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate(fmt.Sprintf("linq-sync %s (%s)\n", version.String(), version.GoVersion()))
	root.SetFlagErrorFunc(flagError)
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(helpTemplate)
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddGroup(
		&cobra.Group{ID: "file", Title: "Working with the file:"},
		&cobra.Group{ID: "api", Title: "Working with the account:"},
		&cobra.Group{ID: "try", Title: "Trying it out:"},
	)
	for _, c := range []*cobra.Command{
		NewCmdValidate(env, nil), NewCmdSchema(env, nil),
		NewCmdPlan(env, nil), NewCmdApply(env, nil), NewCmdRotate(env, nil), NewCmdProbe(env, nil), NewCmdRun(env, nil), NewCmdExport(env, nil),
		NewCmdDemo(env, nil), NewCmdMockAPI(env, nil),
	} {
		root.AddCommand(c)
	}
	root.AddCommand(NewCmdVersion(env, nil))
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Annotations = map[string]string{annExitCodes: "0 the script was written, 1 unknown shell"}
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return &usageError{err: fmt.Errorf("unknown shell %q: want bash, zsh, fish or powershell", args[0]), help: "linq-sync completion --help"}
				}
				return nil
			}
			c.RunE = func(cmd *cobra.Command, _ []string) error {
				return &usageError{err: errors.New("name the shell: bash, zsh, fish or powershell"), help: "linq-sync completion --help"}
			}
		}
	}
	root.InitDefaultHelpCmd()
	return root
}

// annExitCodes is the annotation holding a command's exit codes, shown in
// its help.
const annExitCodes = "exit-codes"

// helpTemplate is cobra's, with the exit codes after the usage.
const helpTemplate = `{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}

{{end}}{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}`

// usageTemplate is cobra's default, plus an "Exit codes" section.
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Available Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if not .AllChildCommandsHaveGroup}}

Other Commands:{{range $cmds}}{{if (and (eq .GroupID "") (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{with index .Annotations "exit-codes"}}

Exit codes:
  {{.}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// unknownCommand is the error for a mistyped subcommand, with cobra's
// suggestions.
func unknownCommand(root *cobra.Command, name string) error {
	root.SuggestionsMinimumDistance = 2
	var sugg []string
	for _, s := range root.SuggestionsFor(name) {
		sugg = append(sugg, fmt.Sprintf("%q", s))
	}
	return &usageError{
		err:         fmt.Errorf("unknown command %q", name),
		suggestions: sugg,
		help:        "linq-sync --help",
	}
}

// usageError is a usage mistake with what the user may have meant.
type usageError struct {
	err         error
	suggestions []string
	help        string // the command to run for help
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// flagError turns pflag's parse errors into usage errors, suggesting the
// flags of cmd nearest to an unknown one.
func flagError(cmd *cobra.Command, err error) error {
	ue := &usageError{err: err, help: cmd.CommandPath() + " --help"}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		ue.suggestions = suggestFlags(cmd, name, false)
	} else if name, ok := strings.CutPrefix(msg, "unknown shorthand flag: "); ok {
		// "unknown shorthand flag: 'x' in -xyz"
		if len(name) >= 3 && name[0] == '\'' {
			ue.suggestions = suggestFlags(cmd, name[1:2], true)
		}
	}
	return ue
}

// usageHint is the hint line printed under a usage error.
func usageHint(root *cobra.Command, args []string, err error) string {
	var ue *usageError
	if !errors.As(err, &ue) {
		// cobra's own errors (a missing argument): point at the help.
		if c, _, ferr := root.Find(args); ferr == nil && c != nil {
			return fmt.Sprintf("run '%s --help' for usage", c.CommandPath())
		}
		return "run 'linq-sync --help' for usage"
	}
	switch len(ue.suggestions) {
	case 0:
		return fmt.Sprintf("run '%s' for usage", ue.help)
	case 1:
		return fmt.Sprintf("did you mean %s?", ue.suggestions[0])
	}
	return fmt.Sprintf("did you mean one of %s?", strings.Join(ue.suggestions, ", "))
}

// suggestFlags returns the flags of cmd that name is probably a typo of,
// written as they are typed ("--file"): the flags it is a prefix of, or
// else those within a small edit distance.
func suggestFlags(cmd *cobra.Command, name string, short bool) []string {
	if short {
		return nil // one letter: nothing useful to suggest
	}
	name = strings.ToLower(name)
	limit := 1
	if len(name) >= 5 {
		limit = 2
	}
	var prefixed, near []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		switch {
		case len(name) >= 2 && strings.HasPrefix(f.Name, name):
			prefixed = append(prefixed, "--"+f.Name)
		case config.EditDistance(name, f.Name) <= limit:
			near = append(near, "--"+f.Name)
		}
	})
	if len(prefixed) > 0 {
		return prefixed
	}
	return near
}

// errorf prints a CLI error with an optional hint line and returns ExitError.
func errorf(env Env, err error, hint string) int {
	fmt.Fprintf(env.Stderr, "linq-sync: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	return ExitError
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}
