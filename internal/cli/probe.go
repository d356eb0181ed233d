package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
)

var probeFormats = []string{"text", "json"}

// ProbeOptions are the flags and arguments of probe.
type ProbeOptions struct {
	Env         Env
	File        FileFlags
	API         APIFlags
	Log         LogFlags
	Secrets     SecretFlags
	Output      string
	Concurrency int
	// Names are the entries to probe; empty means every managed one.
	Names []string
	// defaultFile is set when File is the built-in default.
	defaultFile bool
}

// NewCmdProbe returns the probe command; runF, when not nil, replaces
// probeRun.
func NewCmdProbe(env Env, runF func(context.Context, *ProbeOptions) int) *cobra.Command {
	opts := &ProbeOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "probe [flags] [NAME...]",
		GroupID: "api",
		Short:   "Prove each receiver gets and verifies its webhooks, with signed probes",
		Long: `Probe lists the account once to find the managed subscriptions and, for each
whose signing secret the store holds (all, or those named), sends its
target_url two POSTs signed as Linq signs deliveries (Standard Webhooks): one
with the right signature, one forged. A receiver that accepts the first and
refuses the second is verified. Results: verified, not-verifying,
rejects-valid, rejects-probe, redirects, inconclusive, unreachable,
not-https, skipped; each but verified has a hint.

HTTPS only, certificates checked as Go checks them (SSL_CERT_FILE), no
redirect followed, 10 s per request, at most 64 KiB of an answer read. A
probe never carries the API token.`,
		Example: `  linq-sync probe --secrets-dir ./secrets
  linq-sync probe -f subscriptions.yaml --secrets dir:/var/lib/linq-sync/secrets -o json crm-messages`,
		Annotations:       map[string]string{annExitCodes: "0 every probed endpoint is verified (skipped ones do not count), 1 otherwise"},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.defaultFile = opts.File.isDefault(cmd)
			opts.Names = args
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(probeRun(cmd.Context(), opts))
		},
	}
	opts.File.register(cmd, env)
	opts.API.register(cmd, env)
	opts.Log.register(cmd)
	opts.Secrets.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "text", "output `format`: text or json")
	fl.IntVar(&opts.Concurrency, "concurrency", probe.DefaultConcurrency, "endpoints probed at once")
	completeFixed(cmd, "output", probeFormats...)
	return cmd
}

// probeRun probes the managed endpoints and prints the results: exit 0
// when every probed one is verified, 1 otherwise.
func probeRun(ctx context.Context, o *ProbeOptions) int {
	env := o.Env
	if err := oneOf(o.Output, probeFormats...); err != nil {
		return errorf(env, fmt.Errorf("-o: %w", err), "")
	}
	if o.Concurrency < 1 || o.Concurrency > 64 {
		return errorf(env, fmt.Errorf("--concurrency: %d is not between 1 and 64", o.Concurrency), "")
	}
	log, err := o.Log.logger(env.Stderr, new(slog.LevelVar))
	if err != nil {
		return errorf(env, err, "")
	}
	cfg, ok := loadConfig(env, o.File.File, o.defaultFile)
	if !ok {
		return ExitError
	}
	store, err := openSecrets(ctx, &o.Secrets, log, true)
	if err != nil {
		return errorf(env, err, "")
	}
	if store == nil {
		return errorf(env, errors.New("probe needs the secret store: the probes are signed with the secrets it holds"), "pass --secrets-dir DIR or --secrets URI")
	}
	client, err := o.API.client(log)
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	ro := reconcile.Options{AllEnvironments: o.API.AllEnvironments, Logger: log}
	ro.Apply.Secrets = store
	rs, err := reconcile.New(client, ro).Probe(ctx, cfg, newProber(o.Concurrency), o.Names)
	if err != nil {
		return errorf(env, err, hintFor(err))
	}
	if err := probe.Write(env.Stdout, o.Output, rs); err != nil {
		return errorf(env, err, "")
	}
	if !probe.AllVerified(rs) {
		return ExitError
	}
	return ExitOK
}
