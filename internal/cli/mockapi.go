package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/synth"
)

// MockAPIOptions are the flags of mock-api.
type MockAPIOptions struct {
	Env         Env
	Listen      string
	Token       string
	Latency     time.Duration
	DupStatus   int
	SeedCount   int
	SeedFile    string
	RequestsLog string
	Faults      []string
}

// NewCmdMockAPI returns the mock-api command; runF, when not nil, replaces
// mockAPIRun.
func NewCmdMockAPI(env Env, runF func(context.Context, *MockAPIOptions) int) *cobra.Command {
	opts := &MockAPIOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "mock-api [flags]",
		GroupID: "try",
		Short:   "Serve the in-memory fake Linq API",
		Long: `Mock-api serves the fake of the Linq API v3 webhook endpoints until interrupted,
enforcing every published rule, so that linq-sync and your own setup can be
tried without an account. On start it prints the two export lines that point
linq-sync at it, and where its request log is.

Every API call is logged (time, method, path, status, and the request body
with secrets redacted): as JSON lines to --requests-log FILE, and at
GET /_mock/requests with the call counts per route. DELETE /_mock/requests
empties the log. POST /_mock/faults arms a fault such as
{"kind":"error_before","method":"POST","times":1} (GET lists them, DELETE
disarms them); --fault arms one at start.

Fault kinds: ` + strings.Join(fakeapi.FaultKindNames(), ", ") + `.
Fault keys: method, route, id, times, probability, status, code, message,
delay, retry_after, retry_after_http_date, retry_after_ms.`,
		Example: `  linq-sync mock-api
  linq-sync mock-api --seed-file subscriptions.yaml --requests-log /tmp/requests.jsonl
  linq-sync mock-api --fault error_after,method=POST,times=1 --fault rate_limit,probability=0.2
  curl -s http://127.0.0.1:4010/_mock/requests | jq .calls`,
		Annotations: map[string]string{annExitCodes: "0 after SIGINT or SIGTERM, 1 it could not start (a bad flag, seed file or address)"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(mockAPIRun(cmd.Context(), opts))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:4010", "`address` to listen on (port 0: any free port)")
	fl.StringVar(&opts.Token, "token", fakeapi.DefaultToken, "bearer `token` the fake accepts")
	fl.DurationVar(&opts.Latency, "latency", 0, "added to every call")
	fl.IntVar(&opts.DupStatus, "duplicate-status", 409, "HTTP `status` of the duplicate target_url refusal (unpublished: 409, 400 or 422)")
	fl.IntVar(&opts.SeedCount, "seed-count", 0, "start with `n` synthetic subscriptions (the benchmark account: see internal/synth)")
	fl.StringVar(&opts.SeedFile, "seed-file", "", "start with the subscriptions of a config `file` or an export (pinned ids are kept)")
	fl.StringVar(&opts.RequestsLog, "requests-log", "", "append every API call to `file` as a JSON line (time, method, path, status, body with secrets redacted)")
	fl.StringArrayVar(&opts.Faults, "fault", nil, "arm the fault `SPEC` at start, written KIND[,key=value...] (repeatable; kinds and keys above)")
	_ = cmd.MarkFlagFilename("seed-file", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("fault", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if strings.Contains(toComplete, ",") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return fakeapi.FaultKindNames(), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	return cmd
}

// mockAPIRun serves the in-memory fake API until interrupted.
func mockAPIRun(ctx context.Context, o *MockAPIOptions) int {
	env := o.Env
	if o.SeedCount < 0 {
		return errorf(env, fmt.Errorf("--seed-count: %d is negative", o.SeedCount), "")
	}
	faults := make([]fakeapi.Fault, 0, len(o.Faults))
	for _, spec := range o.Faults {
		f, err := fakeapi.ParseFaultSpec(spec)
		if err != nil {
			return errorf(env, fmt.Errorf("--fault: %w", err), "")
		}
		faults = append(faults, f)
	}
	var seed []fakeapi.Subscription
	if o.SeedFile != "" {
		cfg, ok := loadConfig(env, o.SeedFile, false)
		if !ok {
			return ExitError
		}
		seed = seedFromConfig(cfg)
	}
	var logOut io.Writer
	if o.RequestsLog != "" {
		f, err := os.OpenFile(o.RequestsLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return errorf(env, fmt.Errorf("--requests-log: %w", err), "")
		}
		defer f.Close()
		logOut = f
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return errorf(env, err, "")
	}
	fake := fakeapi.New(fakeapi.Options{Token: o.Token, Latency: o.Latency, DuplicateURLStatus: o.DupStatus})
	if o.SeedCount > 0 {
		fake.Seed(synth.Account(o.SeedCount)...)
	}
	fake.Seed(seed...)
	for _, f := range faults {
		fake.AddFault(f)
	}
	mock := fakeapi.NewMock(fake, logOut)

	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.Stdout, "export LINQ_API_V3_BASE_URL=%s\nexport LINQ_API_V3_API_KEY=%s\n", base, o.Token)
	where := base + "/_mock/requests"
	if o.RequestsLog != "" {
		where = o.RequestsLog + " (JSON lines) and " + where
	}
	fmt.Fprintf(env.Stderr, "mock-api: %d subscription(s), %d fault(s) armed; request log: %s\n", fake.Len(), len(faults), where)
	// Last, on a line of its own: scripts wait for it and read the address.
	fmt.Fprintf(env.Stderr, "mock-api listening on %s\n", base)
	if err := serve(ctx, ln, mock); err != nil {
		return errorf(env, err, "")
	}
	if err := mock.LogErr(); err != nil {
		return errorf(env, fmt.Errorf("--requests-log: %w", err), "")
	}
	return ExitOK
}

// seedFromConfig turns a config's entries (an export's included) into the
// fake's subscriptions, keeping pinned ids.
func seedFromConfig(cfg *config.Config) []fakeapi.Subscription {
	out := make([]fakeapi.Subscription, 0, len(cfg.Subscriptions))
	for _, e := range cfg.Subscriptions {
		out = append(out, fakeapi.Subscription{
			ID:               e.ID,
			TargetURL:        e.TargetURL,
			SubscribedEvents: slices.Clone(e.SubscribedEvents),
			PhoneNumbers:     slices.Clone(e.PhoneNumbers),
			IsActive:         e.IsActive,
		})
	}
	return out
}

// serve runs h on ln until ctx ends, then shuts down within 5 s.
// Connections that never sent a request are closed at once: a client's
// transport may dial one it ends up not using, and http.Server.Shutdown
// would wait 5 s for it, as if a call were in flight.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	var (
		mu    sync.Mutex
		fresh = map[net.Conn]bool{}
	)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateNew {
			fresh[c] = true
		} else {
			delete(fresh, c)
		}
	}}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mu.Lock()
	for c := range fresh {
		c.Close()
	}
	mu.Unlock()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
