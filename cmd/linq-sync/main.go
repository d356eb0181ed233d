// Command linq-sync keeps a Linq account's webhook subscriptions equal to
// a YAML file. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/linq-sync/linq-sync/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}
