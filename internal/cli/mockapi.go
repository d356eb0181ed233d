package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/synth"
)

// runMockAPI serves the in-memory fake API until interrupted.
func runMockAPI(ctx context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("mock-api", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:4010", "`address` to listen on")
	token := fs.String("token", "test-token", "bearer `token` the fake accepts")
	latency := fs.Duration("latency", 0, "added to every call")
	dupStatus := fs.Int("duplicate-status", 409, "HTTP `status` of the duplicate target_url refusal (unpublished: 409, 400 or 422)")
	seedCount := fs.Int("seed-count", 0, "start with `n` synthetic subscriptions (the benchmark account: see internal/synth)")
	if ok, code := parseFlags(env, fs, args); !ok {
		return code
	}
	if *seedCount < 0 {
		return errorf(env, fmt.Errorf("--seed-count: %d is negative", *seedCount), "")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return errorf(env, err, "")
	}
	fake := fakeapi.New(fakeapi.Options{Token: *token, Latency: *latency, DuplicateURLStatus: *dupStatus})
	if *seedCount > 0 {
		fake.Seed(synth.Account(*seedCount)...)
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
