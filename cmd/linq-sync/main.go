// Command linq-sync keeps a Linq account's webhook subscriptions equal to
// a YAML file. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/linq-sync/linq-sync/internal/cli"
	"github.com/linq-sync/linq-sync/internal/oneshot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stdout, flush := oneshot.Setup(os.Args[1:], os.Stdout, os.Getenv)
	code := cli.Main(ctx, cli.Env{Stdin: os.Stdin, Stdout: stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	if err := flush(); err != nil && code == cli.ExitOK {
		code = cli.ExitError // the output did not all get out
	}
	stop()
	os.Exit(code)
}
