package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linq-sync/linq-sync/internal/daemon"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/metrics"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/sdnotify"
	"github.com/linq-sync/linq-sync/internal/version"
)

// runDaemon keeps the account equal to the file until SIGTERM or SIGINT.
func runDaemon(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c writeFlags
	c.register(fs, env)
	ff, af, lf, pf := &c.ff, &c.af, &c.lf, &c.pf
	interval := fs.Duration("interval", daemon.DefaultInterval, "reconcile at least this often, to correct drift made outside the file")
	listen := fs.String("listen", "127.0.0.1:9464", "`address` of /metrics, /healthz and /readyz (empty: none)")
	dryRun := fs.Bool("dry-run", false, "never write: only measure and report drift")
	shutdownTimeout := fs.Duration("shutdown-timeout", daemon.DefaultShutdownTimeout, "on SIGTERM, how long an in-flight reconcile may take to finish")
	settle := fs.Duration("settle", daemon.DefaultSettle, "apply deletes only once the file's content has been unchanged this long (creates and updates are not delayed)")
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	if err := pf.validate(); err != nil {
		return errorf(env, err, "")
	}
	if *interval < time.Second {
		return errorf(env, errors.New("--interval must be at least 1s"), "")
	}
	lv := new(slog.LevelVar)
	log, err := lf.logger(env.Stderr, lv)
	if err != nil {
		return errorf(env, err, "")
	}
	opts, err := pf.reconcileOptions(af, log)
	if err != nil {
		return errorf(env, err, "")
	}
	// The event-type list is refreshed hourly in a long-running process.
	opts.EventTypesTTL = time.Hour

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version.String())
	client, err := af.client(log, linq.WithObserver(m))
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	// The daemon's loop sends the watchdog pings itself, so that a stuck
	// loop stops them.
	notifier := sdnotify.New()

	err = daemon.Run(ctx, daemon.Options{
		Path:            ff.file,
		Reconciler:      daemon.FromReconciler(reconcile.New(client, opts)),
		DryRun:          *dryRun,
		Settle:          *settle,
		Interval:        *interval,
		ShutdownTimeout: *shutdownTimeout,
		Listen:          *listen,
		Metrics:         m,
		Gatherer:        reg,
		Logger:          log,
		LevelVar:        lv,
		Notifier:        notifier,
	})
	var cerr *daemon.ConfigError
	if errors.As(err, &cerr) && cerr.Err != nil {
		return errorf(env, cerr.Err, "")
	}
	if errors.As(err, &cerr) {
		for _, d := range cerr.Diagnostics {
			env.Stderr.Write([]byte(d.String() + "\n"))
		}
		return errorf(env, errors.New(ff.file+" is invalid; not starting"), "fix the file and start again; a daemon never starts without a good config")
	}
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	return ExitOK
}
