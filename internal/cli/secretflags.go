package cli

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"

	"github.com/linq-sync/linq-sync/internal/secrets"
)

// secretFlags choose the secret store: --secrets URI, or its short form
// --secrets-dir PATH for dir:PATH, and the state directory of stores that
// keep no files of their own.
type secretFlags struct {
	uri      string
	dir      string
	stateDir string
}

func (f *secretFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.uri, "secrets", "", "secret store `URI`: dir:PATH, exec:PROGRAM [ARGS], or "+strings.Join(secrets.Schemes(), ", ")+" (required when creating)")
	fs.StringVar(&f.dir, "secrets-dir", "", "short for --secrets dir:`PATH`")
	fs.StringVar(&f.stateDir, "state-dir", "", "`directory` for the journal of stores that keep no files (exec)")
}

// given reports whether a store was chosen.
func (f *secretFlags) given() bool { return f.uri != "" || f.dir != "" }

// open opens the chosen store, or returns nil when none was given. A
// read-only open (for plan) creates, tightens and repairs nothing.
func (f *secretFlags) open(ctx context.Context, log *slog.Logger, readOnly bool) (secrets.Store, error) {
	uri := f.uri
	switch {
	case f.uri != "" && f.dir != "":
		return nil, errors.New("--secrets and --secrets-dir both given; --secrets-dir PATH is short for --secrets dir:PATH")
	case f.dir != "":
		uri = "dir:" + f.dir
	case uri == "":
		return nil, nil
	}
	return secrets.Open(ctx, uri, secrets.OpenOptions{StateDir: f.stateDir, Warn: log.Warn, Logger: log, ReadOnly: readOnly})
}
