package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmittmann/tint"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/oneshot"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/version"
)

// fileFlags are the flags of every command that reads the config file.
type fileFlags struct {
	file string
}

func (f *fileFlags) register(fs *flag.FlagSet, env Env) {
	def := env.Getenv("LINQ_SYNC_FILE")
	if def == "" {
		def = "subscriptions.yaml"
	}
	fs.StringVar(&f.file, "f", def, "subscriptions `file` (env LINQ_SYNC_FILE)")
	fs.StringVar(&f.file, "file", def, "subscriptions `file` (env LINQ_SYNC_FILE)")
}

// logFlags set up the logger.
type logFlags struct {
	level  string
	format string
}

func (f *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.level, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&f.format, "log-format", "auto", "log `format`: auto (coloured on a terminal, JSON otherwise), text, json")
}

// logger builds the logger, its level living in lv so that it can change
// at run time.
func (f *logFlags) logger(w io.Writer, lv *slog.LevelVar) (*slog.Logger, error) {
	if err := lv.UnmarshalText([]byte(f.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", f.level)
	}
	format := f.format
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
		return nil, fmt.Errorf("--log-format: %w", oneOf(f.format, "auto", "text", "json"))
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	}
	return slog.New(tint.NewHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !tty})), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// apiFlags are the flags of every command that talks to the API.
type apiFlags struct {
	baseURL         string
	tokenFile       string
	allEnvironments bool
	env             Env
}

func (f *apiFlags) register(fs *flag.FlagSet, env Env) {
	f.env = env
	def := env.Getenv("LINQ_API_V3_BASE_URL")
	if def == "" {
		def = linq.DefaultBaseURL
	}
	fs.StringVar(&f.baseURL, "base-url", def, "API base `URL` (env LINQ_API_V3_BASE_URL)")
	tokDef := ""
	if dir := env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		tokDef = filepath.Join(dir, "linq-token")
	}
	fs.StringVar(&f.tokenFile, "token-file", tokDef, "read the API token from `file` (default $CREDENTIALS_DIRECTORY/linq-token when set; else env LINQ_API_V3_API_KEY)")
	fs.BoolVar(&f.allEnvironments, "all-environments", false, "also manage subscriptions of non-production environments")
}

// token finds the API token: an explicit --token-file, then
// LINQ_API_V3_API_KEY, then the systemd credential
// $CREDENTIALS_DIRECTORY/linq-token. A trailing newline is trimmed.
func (f *apiFlags) token() (string, error) {
	explicit := f.tokenFile != "" && f.tokenFile != f.credentialPath()
	if !explicit {
		if tok := strings.TrimSpace(f.env.Getenv("LINQ_API_V3_API_KEY")); tok != "" {
			return tok, nil
		}
	}
	if f.tokenFile == "" {
		return "", errors.New("no API token: set LINQ_API_V3_API_KEY or pass --token-file")
	}
	b, err := readTokenFile(f.tokenFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(tok) == "" {
		return "", fmt.Errorf("token file %q is empty", f.tokenFile)
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

func (f *apiFlags) credentialPath() string {
	if dir := f.env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		return filepath.Join(dir, "linq-token")
	}
	return ""
}

func (f *apiFlags) client(log *slog.Logger, opts ...linq.Option) (*linq.Client, error) {
	tok, err := f.token()
	if err != nil {
		return nil, err
	}
	opts = append([]linq.Option{linq.WithLogger(log), linq.WithUserAgent("linq-sync/" + version.String())}, opts...)
	return linq.NewClient(f.baseURL, tok, opts...)
}

// applyFlags are the flags of apply and run.
type applyFlags struct {
	sf              secretFlags
	rotateLost      bool
	concurrency     int
	maxDeletes      int
	allowMassDelete bool
}

func (f *applyFlags) register(fs *flag.FlagSet) {
	f.sf.register(fs)
	fs.BoolVar(&f.rotateLost, "rotate-lost-secrets", false, "rotate every subscription whose signing secret is lost (delete, create, store the new secret)")
	fs.IntVar(&f.concurrency, "concurrency", 4, "writes in flight at once")
	fs.IntVar(&f.maxDeletes, "max-deletes", diff.DefaultMaxDeletes, "refuse to delete more than `n` subscriptions in one apply")
	fs.BoolVar(&f.allowMassDelete, "allow-mass-delete", false, "lift --max-deletes and the refusal to act on a config with no subscriptions")
}

func (f *applyFlags) validate() error {
	if f.concurrency < 1 || f.concurrency > 64 {
		return fmt.Errorf("--concurrency: %d is not between 1 and 64", f.concurrency)
	}
	if f.maxDeletes < 0 {
		return fmt.Errorf("--max-deletes: %d is negative", f.maxDeletes)
	}
	return nil
}

// writeFlags are all the flags of the commands that write: apply and run.
type writeFlags struct {
	ff fileFlags
	af apiFlags
	lf logFlags
	pf applyFlags
}

func (f *writeFlags) register(fs *flag.FlagSet, env Env) {
	f.ff.register(fs, env)
	f.af.register(fs, env)
	f.lf.register(fs)
	f.pf.register(fs)
}

// reconcileOptions opens the secret store (apply probes it before the
// first create) and assembles the reconcile options.
func (f *applyFlags) reconcileOptions(api *apiFlags, log *slog.Logger) (reconcile.Options, error) {
	opts := reconcile.Options{
		AllEnvironments:   api.allEnvironments,
		Rails:             diff.Rails{MaxDeletes: f.maxDeletes, AllowMassDelete: f.allowMassDelete},
		Apply:             apply.Options{Concurrency: f.concurrency, Logger: log},
		RotateLostSecrets: f.rotateLost,
		Logger:            log,
	}
	store, err := f.sf.open(context.Background(), log, false)
	if err != nil {
		return opts, err
	}
	opts.Apply.Secrets = store
	return opts, nil
}

// loadConfig loads and validates the file, printing its diagnostics to
// stderr.
func loadConfig(env Env, path string) (*config.Config, bool) {
	cfg, diags, err := config.Load(path)
	oneshot.Collect() // the file's YAML tree is garbage now
	if err != nil {
		errorf(env, err, "")
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
