package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/version"
)

// runSchema prints the JSON Schema of the config file.
func runSchema(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("schema", flag.ContinueOnError)
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	if _, err := env.Stdout.Write(config.Schema()); err != nil {
		return errorf(env, err, "")
	}
	return ExitOK
}

// runVersion prints the version and the Go toolchain.
func runVersion(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	fmt.Fprintf(env.Stdout, "linq-sync %s (%s)\n", version.String(), version.GoVersion())
	return ExitOK
}
