package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ExecTimeout bounds one run of an exec store's program.
const ExecTimeout = 30 * time.Second

// Exec hands each secret to a program, which puts it where the user keeps
// secrets (Vault, a cloud secret manager, systemd-creds). The program gets
// one JSON object on standard input and no shell; exit status 0 means
// stored. Its standard error is logged, its input never is. The journal
// of records and intents lives in a state directory, since the program
// cannot be asked what it holds.
type Exec struct {
	argv    []string
	journal journal
	log     *slog.Logger
	timeout time.Duration
	mu      sync.Mutex
}

// execInput is what the program reads on standard input.
type execInput struct {
	DryRun                 bool   `json:"dry_run,omitempty"`
	Name                   string `json:"name"`
	SubscriptionID         string `json:"subscription_id,omitempty"`
	TargetURL              string `json:"target_url,omitempty"`
	SigningSecret          string `json:"signing_secret"`
	CreatedAt              string `json:"created_at,omitempty"`
	PreviousSubscriptionID string `json:"previous_subscription_id,omitempty"`
}

// OpenExec returns the exec store that runs command (split on spaces)
// with its journal in stateDir.
func OpenExec(command, stateDir string, opts OpenOptions) (*Exec, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil, errors.New("--secrets exec: no program given")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("--secrets exec: %w", err)
	}
	if stateDir == "" {
		return nil, errors.New("--secrets exec: needs --state-dir, where linq-sync journals the creates whose secrets it hands to the program")
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	j := journal{path: stateDir}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Exec{argv: argv, journal: j, log: log, timeout: ExecTimeout}, nil
}

func openExecURI(_ context.Context, arg string, opts OpenOptions) (Store, error) {
	return OpenExec(arg, opts.StateDir, opts)
}

// String names the store.
func (e *Exec) String() string { return "exec:" + e.argv[0] }

// Probe runs the program with dry_run set and a secret-sized value, and
// checks that the journal directory takes a record of real size.
func (e *Exec) Probe(ctx context.Context) error {
	probe := strings.Repeat("x", ProbeSize)
	if err := writeFile(e.journal.path, ".probe.json", []byte(probe)); err != nil {
		return fmt.Errorf("state directory %q cannot take a record: %w", e.journal.path, err)
	}
	if err := e.journal.remove(e.journal.metaPath(".probe")); err != nil {
		return fmt.Errorf("state directory %q: %w", e.journal.path, err)
	}
	if err := e.run(ctx, execInput{DryRun: true, Name: "linq-sync-probe", SigningSecret: probe[:64]}); err != nil {
		return fmt.Errorf("secret program refused a dry run: %w", err)
	}
	return nil
}

// Intend journals the intent in the state directory.
func (e *Exec) Intend(_ context.Context, in Intent) error {
	if err := CheckName(in.Name); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, _, err := e.journal.readMeta(in.Name)
	if err != nil {
		return err
	}
	m.Pending = &in
	if err := e.journal.writeMeta(in.Name, m); err != nil {
		return fmt.Errorf("record the create of %q before making it: %w", in.Name, err)
	}
	return nil
}

// Abandon clears the name's intent.
func (e *Exec) Abandon(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok, err := e.journal.readMeta(name)
	if err != nil || !ok || m.Pending == nil {
		return err
	}
	m.Pending = nil
	if m.SubscriptionID == "" {
		return e.journal.remove(e.journal.metaPath(name))
	}
	return e.journal.writeMeta(name, m)
}

// Put hands the secret to the program and, once it exits 0, journals the
// record. The program runs first: a crash between the two leaves the
// intent open, which the next plan reports as lost, never the reverse.
func (e *Exec) Put(ctx context.Context, rec Record, secret string, _ Keep) error {
	if err := CheckName(rec.Name); err != nil {
		return err
	}
	rec.Fingerprint = Fingerprint(secret)
	in := execInput{
		Name: rec.Name, SubscriptionID: rec.SubscriptionID, TargetURL: rec.TargetURL,
		SigningSecret: secret, PreviousSubscriptionID: rec.PreviousSubscriptionID,
	}
	if !rec.CreatedAt.IsZero() {
		in.CreatedAt = rec.CreatedAt.UTC().Format(time.RFC3339)
	}
	if err := e.run(ctx, in); err != nil {
		return fmt.Errorf("store the secret of %q: %w", rec.Name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.journal.writeMeta(rec.Name, meta{Record: rec}); err != nil {
		return fmt.Errorf("the program stored the secret of %q, but its record could not be written: %w", rec.Name, err)
	}
	return nil
}

// Load reads the journal. The program's copies cannot be checked, so a
// recorded secret counts as verified.
func (e *Exec) Load(context.Context) (map[string]Entry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	des, err := os.ReadDir(e.journal.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	out := map[string]Entry{}
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || strings.Contains(name, ".") || CheckName(name) != nil {
			continue
		}
		m, _, err := e.journal.readMeta(name)
		if err != nil {
			return nil, err
		}
		en := Entry{Name: name, Pending: m.Pending}
		if m.SubscriptionID != "" {
			rec := m.Record
			en.Held, en.Verified = &rec, true
		}
		out[name] = en
	}
	return out, nil
}

// Secret is not available: the program keeps the secrets.
func (e *Exec) Secret(context.Context, string) (string, error) { return "", ErrNotReadable }

// run runs the program once with in on standard input.
func (e *Exec) run(ctx context.Context, in execInput) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 16 << 10}
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	// A program that echoes its input (a debugging `cat >&2`) must not put
	// the secret into the log: its stderr is logged with the secret cut out.
	out := stderr.String()
	if in.SigningSecret != "" {
		out = strings.ReplaceAll(out, in.SigningSecret, "[redacted]")
	}
	if s := strings.TrimSpace(out); s != "" {
		e.log.Warn("secret program wrote to stderr", "program", e.argv[0], "name", in.Name, "stderr", s)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("program %s did not exit within %s", e.argv[0], e.timeout)
	case err != nil:
		return fmt.Errorf("program %s: %w", e.argv[0], err)
	}
	return nil
}

// limitedWriter keeps at most n bytes, so a chatty program cannot fill
// memory or the log.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
