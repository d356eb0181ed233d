// Command harness is the measuring half of bench/run.sh. It runs the real
// linq-sync binary against the fake API (served in this process, so that
// it can count calls, add latency and see the moment a write arrives) and
// prints one JSON record per measurement; `harness report` turns the records
// into the Markdown table of the README's "Performance" section.
//
// It is a benchmark driver, not a test: it asserts only what it must to
// know that a figure means what it says (the apply succeeded, the account
// converged), and never judges a time.
//
// Usage:
//
//	harness gen -kind drift|sync|creates|small -n N [-variant V] -o FILE
//	harness gobench < go-test-output
//	harness timev -n N TIME-V-REPORT...
//	harness calls -bin BIN
//	harness concurrency -bin BIN [-n 1000] [-latency 20ms] [-levels 1,4,8,16]
//	harness rename -bin BIN [-count 20] [-mode rename|in-place] [-latency D]
//	harness latency -bin BIN [-runs 5] [-latency 100ms]
//	harness yaml -f FILE
//	harness idle -bin BIN [-seconds 60]
//	harness report -in RECORDS [-machine TEXT]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type command func(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error

var commands = map[string]command{
	"gen":         runGen,
	"gobench":     runGoBench,
	"timev":       runTimeV,
	"calls":       runCalls,
	"concurrency": runConcurrency,
	"rename":      runRename,
	"latency":     runLatency,
	"yaml":        runYAML,
	"idle":        runIdle,
	"report":      runReport,
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: harness gen|gobench|timev|calls|concurrency|rename|latency|yaml|idle|report [flags]")
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "harness: error: unknown command %q\n", args[0])
		return 2
	}
	if err := cmd(ctx, args[1:], stdin, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "harness: error: %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// Record is one measurement. Kind names the row group of the table, Case
// the row, and Values hold the figures (named in each producer).
type Record struct {
	Kind   string             `json:"kind"`
	Case   string             `json:"case"`
	N      int                `json:"n,omitempty"`
	Values map[string]float64 `json:"values"`
	Note   string             `json:"note,omitempty"`
}

func emit(w io.Writer, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parse parses args with a new flag set named name whose flags def adds.
func parse(name string, args []string, def func(fs *flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	def(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
