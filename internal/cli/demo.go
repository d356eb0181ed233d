package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/examples"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

const demoToken = "demo-token"

// DemoOptions are the flags of demo.
type DemoOptions struct {
	Env  Env
	Keep bool
}

// NewCmdDemo returns the demo command; runF, when not nil, replaces
// demoRun.
func NewCmdDemo(env Env, runF func(context.Context, *DemoOptions) int) *cobra.Command {
	opts := &DemoOptions{Env: env}
	cmd := &cobra.Command{
		Use:     "demo [flags]",
		GroupID: "try",
		Short:   "Plan and apply the example file against an embedded fake API",
		Long: `Demo needs no token and no network: it starts the fake API in-process with
subscriptions that drift from examples/subscriptions.yaml, shows the plan
(exit 2), applies it (exit 0), and shows that a second plan is clean, with
the API calls each step made.`,
		Example:     "  linq-sync demo\n  linq-sync demo --keep   # keep the file and the secrets to look at",
		Annotations: map[string]string{annExitCodes: "0 the demo converged, 1 it did not"},
		Args:        noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runE(runF(cmd.Context(), opts))
			}
			return runE(demoRun(cmd.Context(), opts))
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the temporary directory (config and secrets) for inspection")
	return cmd
}

// demoRun starts the fake API with subscriptions that drift from the
// example file, then plans, applies and plans again through the real
// commands.
func demoRun(ctx context.Context, o *DemoOptions) int {
	env, keep := o.Env, &o.Keep
	dir, err := os.MkdirTemp("", "linq-sync-demo-")
	if err != nil {
		return errorf(env, err, "")
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	file := filepath.Join(dir, "subscriptions.yaml")
	if err := os.WriteFile(file, examples.Subscriptions, 0o644); err != nil {
		return errorf(env, err, "")
	}
	cfg, diags := config.Parse(file, examples.Subscriptions)
	if diags.HasErrors() {
		return errorf(env, fmt.Errorf("embedded example is invalid: %v", diags), "")
	}

	fake := fakeapi.New(fakeapi.Options{Token: demoToken, Seed: 1})
	fake.Seed(demoDrift(cfg)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return errorf(env, err, "")
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go serve(sctx, ln, fake)

	base := "http://" + ln.Addr().String()
	sub := env
	sub.Getenv = func(k string) string {
		switch k {
		case "LINQ_API_V3_BASE_URL":
			return base
		case "LINQ_API_V3_API_KEY":
			return demoToken
		case "LINQ_SYNC_FILE":
			return file
		}
		return ""
	}
	out := env.Stdout
	fmt.Fprintf(out, "linq-sync demo: a fake Linq API at %s holds %d subscriptions that drift from examples/subscriptions.yaml.\n", base, fake.Len())
	fmt.Fprintf(out, "The file was copied to %s.\n", file)

	step := func(title string, args ...string) int {
		fmt.Fprintf(out, "\n$ linq-sync %s\n", title)
		fake.ResetCalls()
		code := Main(ctx, sub, append(args, "--log-level", "warn"))
		fmt.Fprintf(out, "[exit %d; API calls: %s]\n", code, callSummary(fake.Calls()))
		return code
	}
	secretsDir := filepath.Join(dir, "secrets")
	if code := step("plan", "plan"); code != ExitPending {
		return errorf(env, fmt.Errorf("first plan exited %d, want %d (changes pending)", code, ExitPending), "")
	}
	if code := step("apply --secrets-dir "+secretsDir, "apply", "--secrets-dir", secretsDir); code != ExitOK {
		return errorf(env, fmt.Errorf("apply exited %d", code), "")
	}
	// The second plan reads the store too: a secret lost on the way would
	// be drift (exit 2).
	if code := step("plan --secrets-dir "+secretsDir, "plan", "--secrets-dir", secretsDir); code != ExitOK {
		return errorf(env, fmt.Errorf("second plan exited %d, want 0 (in sync)", code), "")
	}
	held, _ := filepath.Glob(filepath.Join(secretsDir, "*.secret"))
	fmt.Fprintf(out, "\nThe account now matches the file. %d signing secret(s) were written to %s (NAME.secret, with its record in NAME.json; mode 0600).\n", len(held), secretsDir)
	if !*keep {
		fmt.Fprintln(out, "(Temporary files removed; pass --keep to inspect them.)")
	}
	return ExitOK
}

// demoDrift makes a remote state that differs from cfg in every way a
// plan can show: the first entry's events and phone filter drifted, the
// second is missing, an inactive entry is active, and one subscription is
// not in the file.
func demoDrift(cfg *config.Config) []fakeapi.Subscription {
	at := time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)
	var subs []fakeapi.Subscription
	for i, e := range cfg.Subscriptions {
		if i == 1 {
			continue // will be created
		}
		s := fakeapi.Subscription{
			TargetURL:        e.TargetURL,
			SubscribedEvents: slices.Clone(e.SubscribedEvents),
			PhoneNumbers:     slices.Clone(e.PhoneNumbers),
			IsActive:         true,
			CreatedAt:        at,
			UpdatedAt:        at,
		}
		if i == 0 {
			// One declared event is missing, one extra is subscribed.
			s.SubscribedEvents = append(s.SubscribedEvents[1:len(s.SubscribedEvents):len(s.SubscribedEvents)], "message.edited")
			s.PhoneNumbers = []string{"+15550000000"}
		}
		subs = append(subs, s)
	}
	subs = append(subs, fakeapi.Subscription{
		TargetURL:        "https://legacy.example.com/linq-hook",
		SubscribedEvents: []string{"message.received"},
		IsActive:         true,
		CreatedAt:        at,
		UpdatedAt:        at,
	})
	return subs
}

func callSummary(calls map[string]int) string {
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		if calls[k] == 0 {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d× %s", calls[k], k)
	}
	if s == "" {
		return "none"
	}
	return s
}
