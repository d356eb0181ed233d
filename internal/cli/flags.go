package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/spf13/cobra"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/oneshot"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
	"github.com/linq-sync/linq-sync/internal/secrets/kubestore"
	"github.com/linq-sync/linq-sync/internal/version"
)

// defaultFile is the config file read when neither -f nor LINQ_SYNC_FILE
// names one.
const defaultFile = "subscriptions.yaml"

// FileFlags are the flags of every command that reads the config file.
type FileFlags struct {
	File string
	// fromDefault is set when File is the built-in default, for the hint
	// on a missing file.
	fromDefault bool
}

func (f *FileFlags) register(cmd *cobra.Command, env Env) {
	def := env.Getenv("LINQ_SYNC_FILE")
	if def == "" {
		def = defaultFile
	}
	cmd.Flags().StringVarP(&f.File, "file", "f", def, "subscriptions `file` (env LINQ_SYNC_FILE)")
	_ = cmd.MarkFlagFilename("file", "yaml", "yml")
	f.fromDefault = env.Getenv("LINQ_SYNC_FILE") == ""
}

// isDefault reports whether the file is the built-in default one.
func (f *FileFlags) isDefault(cmd *cobra.Command) bool {
	return f.fromDefault && !cmd.Flags().Changed("file")
}

// LogFlags set up the logger.
type LogFlags struct {
	Level  string
	Format string
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"auto", "text", "json"}
)

func (f *LogFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Level, "log-level", "info", "log `level`: debug, info, warn, error")
	cmd.Flags().StringVar(&f.Format, "log-format", "auto", "log `format`: auto (coloured on a terminal, JSON otherwise), text, json")
	completeFixed(cmd, "log-level", logLevels...)
	completeFixed(cmd, "log-format", logFormats...)
}

// logger builds the logger, its level living in lv so that it can change
// at run time.
func (f *LogFlags) logger(w io.Writer, lv *slog.LevelVar) (*slog.Logger, error) {
	if err := lv.UnmarshalText([]byte(f.Level)); err != nil || oneOf(f.Level, logLevels...) != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", f.Level)
	}
	format := f.Format
	tty := isTerminal(w)
	switch format {
	case "auto":
		if tty {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format: %w", oneOf(f.Format, logFormats...))
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: durationsAsText})), nil
	}
	return slog.New(tint.NewHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !tty, ReplaceAttr: durationsAsText})), nil
}

// durationsAsText logs a duration as people write it ("5m0s"), not as a
// number of nanoseconds.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// completeFixed completes flag with a fixed set of values.
func completeFixed(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// APIFlags are the flags of every command that talks to the API.
type APIFlags struct {
	BaseURL         string
	TokenFile       string
	AllEnvironments bool
	env             Env
}

func (f *APIFlags) register(cmd *cobra.Command, env Env) {
	f.env = env
	def := env.Getenv("LINQ_API_V3_BASE_URL")
	if def == "" {
		def = linq.DefaultBaseURL
	}
	fl := cmd.Flags()
	fl.StringVar(&f.BaseURL, "base-url", def, "API base `URL` (env LINQ_API_V3_BASE_URL)")
	tokDef := ""
	if dir := env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		tokDef = filepath.Join(dir, "linq-token")
	}
	fl.StringVar(&f.TokenFile, "token-file", tokDef, "read the API token from `file` (default $CREDENTIALS_DIRECTORY/linq-token when set; else env LINQ_API_V3_API_KEY)")
	fl.BoolVar(&f.AllEnvironments, "all-environments", false, "also manage subscriptions of non-production environments")
}

// token finds the API token: an explicit --token-file, then
// LINQ_API_V3_API_KEY, then the systemd credential
// $CREDENTIALS_DIRECTORY/linq-token. A trailing newline is trimmed.
func (f *APIFlags) token() (string, error) {
	explicit := f.TokenFile != "" && f.TokenFile != f.credentialPath()
	if !explicit {
		if tok := strings.TrimSpace(f.env.Getenv("LINQ_API_V3_API_KEY")); tok != "" {
			return tok, nil
		}
	}
	if f.TokenFile == "" {
		return "", errors.New("no API token: set LINQ_API_V3_API_KEY or pass --token-file")
	}
	b, err := readTokenFile(f.TokenFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(tok) == "" {
		return "", fmt.Errorf("token file %q is empty", f.TokenFile)
	}
	return tok, nil
}

// maxTokenFile is the largest token file read. A token is a few hundred
// bytes; the bound keeps a wrong path (a log, a device) from filling memory.
const maxTokenFile = 64 << 10

// readTokenFile reads at most maxTokenFile bytes of path and refuses a
// longer file.
func readTokenFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("token file %q is larger than 64 KiB; is it the right file?", path)
	}
	return b, nil
}

func (f *APIFlags) credentialPath() string {
	if dir := f.env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		return filepath.Join(dir, "linq-token")
	}
	return ""
}

func (f *APIFlags) client(log *slog.Logger, opts ...linq.Option) (*linq.Client, error) {
	tok, err := f.token()
	if err != nil {
		return nil, err
	}
	opts = append([]linq.Option{linq.WithLogger(log), linq.WithUserAgent("linq-sync/" + version.String())}, opts...)
	return linq.NewClient(f.BaseURL, tok, opts...)
}

// SecretFlags choose the secret store: --secrets URI, or --secrets-dir
// PATH as the short form of --secrets dir:PATH.
type SecretFlags struct {
	URI      string
	Dir      string
	StateDir string
	// Kubeconfig and Prefix configure the kubernetes: store.
	Kubeconfig string
	Prefix     string
}

// The kubernetes: store is known to help and completion from the start;
// openSecrets registers it again with the flags' values.
func init() { kubestore.Register(kubestore.Options{}) }

func (f *SecretFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.URI, "secrets", "", "secret store `URI` for the signing secrets of new subscriptions: "+schemeForms()+" (required when creating)")
	fl.StringVar(&f.Dir, "secrets-dir", "", "short for --secrets dir:`PATH`")
	fl.StringVar(&f.StateDir, "state-dir", "", "`directory` for the journal of stores that keep no files of their own (exec)")
	fl.StringVar(&f.Kubeconfig, "kubeconfig", "", "kubeconfig `file` for --secrets kubernetes: and --leader-elect (default: the pod's service account, else KUBECONFIG, else ~/.kube/config)")
	fl.StringVar(&f.Prefix, "secrets-prefix", kubestore.DefaultPrefix, "with --secrets kubernetes:, the `prefix` of each Secret's name (PREFIX + entry name)")
	_ = cmd.MarkFlagFilename("kubeconfig")
	_ = cmd.MarkFlagDirname("secrets-dir")
	_ = cmd.MarkFlagDirname("state-dir")
	_ = cmd.RegisterFlagCompletionFunc("secrets", completeSecrets)
}

// schemeForms lists the --secrets forms of the registered schemes.
func schemeForms() string {
	var forms []string
	for _, s := range secrets.Schemes() {
		switch s {
		case "dir":
			forms = append(forms, "dir:PATH")
		case "exec":
			forms = append(forms, "exec:PROGRAM ARGS")
		case "kubernetes":
			forms = append(forms, "kubernetes:NAMESPACE")
		default:
			forms = append(forms, s+":...")
		}
	}
	return strings.Join(forms, ", ")
}

// completeSecrets completes the scheme of a --secrets URI.
func completeSecrets(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, ":") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for _, s := range secrets.Schemes() {
		if strings.HasPrefix(s, toComplete) {
			out = append(out, s+":")
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// uri returns the store's URI, "" when none is given.
func (f *SecretFlags) uri() (string, error) {
	if f.URI != "" && f.Dir != "" {
		return "", errors.New("--secrets and --secrets-dir both given; --secrets-dir PATH is short for --secrets dir:PATH")
	}
	if f.Dir != "" {
		return "dir:" + f.Dir, nil
	}
	return f.URI, nil
}

// openSecrets opens the store the flags name, or returns nil when none is
// named; apply probes it before the first create. A read-only open (for
// plan) creates, tightens and repairs nothing. This is the one place
// where flags become a store.
func openSecrets(ctx context.Context, f *SecretFlags, log *slog.Logger, readOnly bool) (secrets.Store, error) {
	uri, err := f.uri()
	if err != nil || uri == "" {
		return nil, err
	}
	kubestore.Register(kubestore.Options{Kubeconfig: f.Kubeconfig, Prefix: f.Prefix})
	return secrets.Open(ctx, uri, secrets.OpenOptions{StateDir: f.StateDir, Warn: log.Warn, Logger: log, ReadOnly: readOnly})
}

// ApplyFlags are the flags of apply and run.
type ApplyFlags struct {
	Secrets         SecretFlags
	Concurrency     int
	MaxDeletes      int
	AllowMassDelete bool
	// RotateLostSecrets rotates every subscription whose signing secret is
	// lost (delete, create, store the new secret).
	RotateLostSecrets bool
}

func (f *ApplyFlags) register(cmd *cobra.Command) {
	f.Secrets.register(cmd)
	fl := cmd.Flags()
	fl.IntVar(&f.Concurrency, "concurrency", 4, "writes in flight at once")
	fl.IntVar(&f.MaxDeletes, "max-deletes", diff.DefaultMaxDeletes, "refuse to delete more than `n` subscriptions in one apply")
	fl.BoolVar(&f.AllowMassDelete, "allow-mass-delete", false, "lift --max-deletes and the refusal to act on a config with no subscriptions")
	fl.BoolVar(&f.RotateLostSecrets, "rotate-lost-secrets", false, "rotate every subscription whose signing secret is lost (delete, create, store the new secret)")
}

func (f *ApplyFlags) validate() error {
	if f.Concurrency < 1 || f.Concurrency > 64 {
		return fmt.Errorf("--concurrency: %d is not between 1 and 64", f.Concurrency)
	}
	if f.MaxDeletes < 0 {
		return fmt.Errorf("--max-deletes: %d is negative", f.MaxDeletes)
	}
	_, err := f.Secrets.uri()
	return err
}

// reconcileOptions opens the secret store (apply probes it before the
// first create) and assembles the reconcile options.
func (f *ApplyFlags) reconcileOptions(ctx context.Context, api *APIFlags, log *slog.Logger) (reconcile.Options, error) {
	opts := reconcile.Options{
		AllEnvironments:   api.AllEnvironments,
		Rails:             diff.Rails{MaxDeletes: f.MaxDeletes, AllowMassDelete: f.AllowMassDelete},
		Apply:             apply.Options{Concurrency: f.Concurrency, Logger: log},
		RotateLostSecrets: f.RotateLostSecrets,
		Logger:            log,
	}
	st, err := openSecrets(ctx, &f.Secrets, log, false)
	if err != nil {
		return opts, err
	}
	opts.Apply.Secrets = st
	opts.Verifier = newProber(f.Concurrency)
	return opts, nil
}

// newProber returns the prober of signed endpoint probes: of the probe
// command, the daemon's probes and verify_before_move.
func newProber(concurrency int) *probe.Prober {
	return probe.New(probe.Options{Concurrency: concurrency, Version: version.String()})
}

// loadConfig loads and validates the file, printing its diagnostics to
// stderr. A missing default file gets a hint on how to name another.
func loadConfig(env Env, path string, isDefault bool) (*config.Config, bool) {
	// The YAML parser's garbage is collected once the tree is built (or,
	// in the streamed load, as it piles up), and what is left of the load
	// once the Config is, its memory kept for the list and the plan.
	cfg, diags, err := config.LoadWith(path, config.LoadOptions{AfterDecode: oneshot.Collect, BetweenGroups: oneshot.CollectIfGrown})
	oneshot.CollectForReuse()
	if err != nil {
		hint := ""
		if isDefault && isNotExist(err) {
			hint = missingFileHint
		}
		errorf(env, err, hint)
		return nil, false
	}
	for _, d := range diags {
		fmt.Fprintln(env.Stderr, d.String())
	}
	if diags.HasErrors() || cfg == nil {
		fmt.Fprintf(env.Stderr, "linq-sync: error: %s is invalid (%d error(s)); nothing was done\n", path, len(diags.Errors()))
		return nil, false
	}
	return cfg, true
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// missingFileHint is shown when the default subscriptions.yaml is absent.
const missingFileHint = "no " + defaultFile + " here: name the file with -f FILE or LINQ_SYNC_FILE=FILE, " +
	"or start one from the account with 'linq-sync export > " + defaultFile + "'"

// hintFor turns well-known errors into a hint line.
func hintFor(err error) string {
	var (
		safety *diff.SafetyError
		lost   *reconcile.LostSecretsError
	)
	switch {
	case linq.IsAuth(err):
		return "check the API token (LINQ_API_V3_API_KEY or --token-file) and its permissions"
	case errors.As(err, &safety):
		return safety.Hint
	case errors.Is(err, apply.ErrNoSecretStore):
		return "pass --secrets-dir DIR (each new subscription's secret is written to DIR/<name>.secret) or --secrets URI"
	case errors.As(err, &lost):
		return lost.Hint()
	}
	return ""
}

// noArgs refuses positional arguments, the house way.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{err: fmt.Errorf("unexpected argument %q", args[0]), help: cmd.CommandPath() + " --help"}
	}
	return nil
}
