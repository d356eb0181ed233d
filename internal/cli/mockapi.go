package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/synth"
)

// MockAPIOptions are the flags of mock-api.
type MockAPIOptions struct {
	Env       Env
	Listen    string
	Token     string
	Latency   time.Duration
	DupStatus int
	SeedCount int
}

// NewCmdMockAPI returns the mock-api command; runF, when not nil, replaces
// mockAPIRun.
func NewCmdMockAPI(env Env, runF func(context.Context, *MockAPIOptions) int) *cobra.Command {
	opts := &MockAPIOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "mock-api [flags]",
		GroupID: "try",
		Short:   "Serve the in-memory fake Linq API",
		Long: `Mock-api serves the in-memory fake of the Linq API v3 webhook endpoints until
interrupted, enforcing every published rule.`,
		Example:     "  linq-sync mock-api --listen 127.0.0.1:4010",
		Annotations: map[string]string{annExitCodes: "0 after SIGINT or SIGTERM, 1 it could not start"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(mockAPIRun(cmd.Context(), opts))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:4010", "`address` to listen on")
	fl.StringVar(&opts.Token, "token", "test-token", "bearer `token` the fake accepts")
	fl.DurationVar(&opts.Latency, "latency", 0, "added to every call")
	fl.IntVar(&opts.DupStatus, "duplicate-status", 409, "HTTP `status` of the duplicate target_url refusal (unpublished: 409, 400 or 422)")
	fl.IntVar(&opts.SeedCount, "seed-count", 0, "start with `n` synthetic subscriptions (the benchmark account: see internal/synth)")
	return cmd
}

// mockAPIRun serves the in-memory fake API until interrupted.
func mockAPIRun(ctx context.Context, o *MockAPIOptions) int {
	env := o.Env
	if o.SeedCount < 0 {
		return errorf(env, fmt.Errorf("--seed-count: %d is negative", o.SeedCount), "")
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return errorf(env, err, "")
	}
	fake := fakeapi.New(fakeapi.Options{Token: o.Token, Latency: o.Latency, DuplicateURLStatus: o.DupStatus})
	if o.SeedCount > 0 {
		fake.Seed(synth.Account(o.SeedCount)...)
	}
	fmt.Fprintf(env.Stderr, "mock-api listening on http://%s\n", ln.Addr())
	if err := serve(ctx, ln, fake); err != nil {
		return errorf(env, err, "")
	}
	return ExitOK
}

// serve runs h on ln until ctx ends, then shuts down within 5 s.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
