package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"

	"github.com/linq-sync/linq-sync/internal/reconcile"
)

// runRotate replaces the named subscriptions so that a fresh signing
// secret is held for each: delete, create, store. Exit 0 when every one
// was rotated and its secret stored, 1 otherwise.
func runRotate(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("rotate", flag.ContinueOnError)
	var c writeFlags
	c.register(fs, env)
	ff, af, lf, pf := &c.ff, &c.af, &c.lf, &c.pf
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	names := fs.Args()
	if len(names) == 0 {
		return errorf(env, errors.New("rotate: name the entries to rotate"), "linq-sync rotate -f FILE --secrets-dir DIR NAME...")
	}
	if err := pf.validate(); err != nil {
		return errorf(env, err, "")
	}
	log, err := lf.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return errorf(env, err, "")
	}
	cfg, ok := loadConfig(env, ff.file)
	if !ok {
		return ExitError
	}
	opts, err := pf.reconcileOptions(af, log)
	if err != nil {
		return errorf(env, err, "")
	}
	client, err := af.client(log)
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	rep, err := reconcile.New(client, opts).Rotate(ctx, cfg, names)
	return reportApply(env, ff.file, rep, err)
}
