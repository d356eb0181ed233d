package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/daemon"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/metrics"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/sdnotify"
	"github.com/linq-sync/linq-sync/internal/version"
)

// RunOptions are the flags of run.
type RunOptions struct {
	Env             Env
	File            FileFlags
	API             APIFlags
	Log             LogFlags
	Apply           ApplyFlags
	Interval        time.Duration
	Listen          string
	DryRun          bool
	ShutdownTimeout time.Duration
	Settle          time.Duration
	ProbeInterval   time.Duration
	Leader          LeaderFlags
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

// NewCmdRun returns the run command; runF, when not nil, replaces
// runRun.
func NewCmdRun(env Env, runF func(context.Context, *RunOptions) int) *cobra.Command {
	opts := &RunOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "run [flags]",
		GroupID: "api",
		Short:   "Keep the account matching the file (daemon)",
		Long: `Run is the daemon: it reconciles at start, on every change to the file (watched
through its directory, and on SIGHUP) and every --interval, and serves
/metrics, /healthz and /readyz on --listen. A file that does not validate at
start is fatal; on reload it is logged and the last good file stays in force.
It takes every flag apply takes.`,
		Example: `  linq-sync run --secrets-dir /var/lib/linq-sync/secrets
  linq-sync run --dry-run --interval 1m --listen 0.0.0.0:9464`,
		Annotations: map[string]string{annExitCodes: "0 after SIGTERM or SIGINT, 1 if the file is invalid at start or the daemon cannot start"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(runRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	opts.Apply.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&opts.Interval, "interval", daemon.DefaultInterval, "reconcile at least this often, to correct drift made outside the file")
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:9464", "`address` of /metrics, /healthz and /readyz (empty: none)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "never write: only measure and report drift")
	fl.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", daemon.DefaultShutdownTimeout, "on SIGTERM, how long an in-flight reconcile may take to finish")
	fl.DurationVar(&opts.Settle, "settle", daemon.DefaultSettle, "apply deletes only once the file's content has been unchanged this long (creates and updates are not delayed)")
	opts.Leader.register(cmd)
	fl.DurationVar(&opts.ProbeInterval, "probe-interval", 0, "send signed probes to every managed endpoint this often (0: the file's probe_interval, off when unset); new endpoints are probed after each create")
	return cmd
}

// runRun keeps the account equal to the file until ctx ends (SIGTERM or
// SIGINT).
func runRun(ctx context.Context, o *RunOptions) int {
	env := o.Env
	if err := o.Apply.validate(); err != nil {
		return errorf(env, err, "")
	}
	if o.Interval < time.Second {
		return errorf(env, errors.New("--interval must be at least 1s"), "")
	}
	if o.ProbeInterval != 0 && o.ProbeInterval < config.MinProbeInterval {
		return errorf(env, fmt.Errorf("--probe-interval must be at least %s (or 0)", config.MinProbeInterval), "")
	}
	lv := new(slog.LevelVar)
	log, err := o.Log.logger(env.Stderr, lv)
	if err != nil {
		return errorf(env, err, "")
	}
	ropts, err := o.Apply.reconcileOptions(ctx, &o.API, log)
	if err != nil {
		return errorf(env, err, "")
	}
	// The event-type list is refreshed hourly in a long-running process.
	ropts.EventTypesTTL = time.Hour

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, version.String())
	client, err := o.API.client(log, linq.WithObserver(m))
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	// The daemon's loop sends the watchdog pings itself, so that a stuck
	// loop stops them.
	notifier := sdnotify.New()

	// Endpoint probes ride on the reconciles: they learn the managed
	// endpoints and held secrets from each plan and make no API call.
	probes := daemon.NewProbes(reconcile.New(client, ropts), ropts.Apply.Secrets,
		probe.NewMonitor(newProber(o.Apply.Concurrency), probe.NewMetrics(reg), log), o.ProbeInterval)
	pctx, stopProbes := context.WithCancel(ctx)
	probesDone := make(chan struct{})
	go func() { defer close(probesDone); probes.Run(pctx) }()
	defer func() { stopProbes(); <-probesDone }()

	el, err := o.Leader.startElection(ctx, o.Apply.Secrets.Kubeconfig, m, log)
	if err != nil {
		return errorf(env, err, "")
	}
	// Runs after daemon.Run returned: the last reconcile is over, so the
	// lease is released only once nothing more will be written.
	defer el.stop()

	err = daemon.Run(ctx, daemon.Options{
		Path:            o.File.File,
		Reconciler:      el.wrap(probes.Reconciler(pctx)),
		Wake:            el.wake,
		DryRun:          o.DryRun,
		Settle:          o.Settle,
		Interval:        o.Interval,
		ShutdownTimeout: o.ShutdownTimeout,
		Listen:          o.Listen,
		Metrics:         m,
		Gatherer:        reg,
		Logger:          log,
		LevelVar:        lv,
		Notifier:        notifier,
	})
	var cerr *daemon.ConfigError
	if errors.As(err, &cerr) && cerr.Err != nil {
		hint := ""
		if o.defaultFile && isNotExist(cerr.Err) {
			hint = missingFileHint
		}
		return errorf(env, cerr.Err, hint)
	}
	if errors.As(err, &cerr) {
		for _, d := range cerr.Diagnostics {
			env.Stderr.Write([]byte(d.String() + "\n"))
		}
		return errorf(env, errors.New(o.File.File+" is invalid; not starting"), "fix the file and start again; a daemon never starts without a good config")
	}
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	return ExitOK
}
