// Package cli implements the linq-sync command line: one file per
// subcommand, each writing only to the writers it is given so that its
// output can be tested. It holds no business logic of its own beyond
// wiring flags to the config, plan, apply and daemon packages.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

func commands() []command {
	return []command{
		{"validate", "check a subscriptions file offline", runValidate},
		{"plan", "show what apply would change (exit 2 when changes are pending)", runPlan},
		{"apply", "make the account match the file", runApply},
		{"rotate", "replace the named subscriptions so that a fresh signing secret is held", runRotate},
		{"run", "keep the account matching the file (daemon)", runDaemon},
		{"export", "print the account's subscriptions as a config file", runExport},
		{"schema", "print the JSON Schema of the config file", runSchema},
		{"mock-api", "serve the in-memory fake Linq API", runMockAPI},
		{"demo", "plan and apply the example file against an embedded fake API", runDemo},
		{"version", "print the version", runVersion},
	}
}

// Main runs the command line args (without the program name) and returns
// the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return ExitError
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(env.Stdout)
		return ExitOK
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "linq-sync: error: unknown command %q\n", name)
	usage(env.Stderr)
	return ExitError
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: linq-sync <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'linq-sync <command> -h' for a command's flags.")
}

// errorf prints a CLI error with an optional hint line and returns ExitError.
func errorf(env Env, err error, hint string) int {
	fmt.Fprintf(env.Stderr, "linq-sync: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", hint)
	}
	return ExitError
}

// parseFlags parses args with fs, printing usage errors the house way.
// It returns false with the exit code to use when the command must stop.
func parseFlags(env Env, fs *flag.FlagSet, args []string) (bool, int) {
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, ExitOK
		}
		return false, ExitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "linq-sync: error: unexpected argument %q\n", fs.Arg(0))
		return false, ExitError
	}
	return true, 0
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}
