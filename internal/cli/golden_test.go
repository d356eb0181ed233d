package cli

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./internal/cli -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// helpCommands are every command whose --help is kept.
var helpCommands = [][]string{
	{}, {"validate"}, {"schema"}, {"plan"}, {"apply"}, {"rotate"}, {"run"}, {"export"},
	{"probe"}, {"demo"}, {"mock-api"}, {"version"}, {"completion"}, {"completion", "bash"},
}

func TestHelpOfEveryCommandIsStable(t *testing.T) {
	for _, c := range helpCommands {
		name := strings.Join(append([]string{"linq-sync"}, c...), " ")
		t.Run(name, func(t *testing.T) {
			r := run(t, nil, append(c, "--help")...)
			if r.code != ExitOK || r.stderr != "" {
				t.Fatalf("code %d, stderr %q", r.code, r.stderr)
			}
			golden(t, filepath.Join("help", strings.ReplaceAll(name, " ", "_")+".golden"), r.stdout)
		})
	}
}

func TestEveryCommandDocumentsItself(t *testing.T) {
	root := NewCmdRoot(Env{Getenv: func(string) string { return "" }})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "__complete" || c.Name() == "__completeNoDesc" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			if c.Short == "" || c.Long == "" {
				t.Errorf("summary %q, description %q: both are needed", c.Short, c.Long)
			}
			if c.Example == "" && c.Name() != "completion" {
				t.Error("no examples")
			}
			if c.Annotations[annExitCodes] == "" {
				t.Error("no exit codes")
			}
		})
	}
}

func TestFileFlagIsShownOnceGNUStyle(t *testing.T) {
	r := run(t, nil, "plan", "--help")
	if n := strings.Count(r.stdout, "--file"); n != 1 {
		t.Errorf("--file appears %d times in plan --help", n)
	}
	if !strings.Contains(r.stdout, "  -f, --file file ") {
		t.Errorf("plan --help does not show -f, --file together:\n%s", r.stdout)
	}
}

func TestMistypesGetSuggestions(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"command", []string{"plna"}},
		{"command prefix", []string{"val"}},
		{"far command", []string{"frobnicate"}},
		{"flag", []string{"plan", "--fil", "x.yaml"}},
		{"flag swap", []string{"apply", "--fiel", "x.yaml"}},
		{"flag prefix", []string{"apply", "--secrets-d", "x"}},
		{"far flag", []string{"plan", "--zzzzzz"}},
		{"argument", []string{"plan", "extra"}},
	}
	var all strings.Builder
	for _, c := range cases {
		r := run(t, nil, c.args...)
		if r.code != ExitError || r.stdout != "" {
			t.Errorf("%s: code %d, stdout %q", c.name, r.code, r.stdout)
		}
		all.WriteString("$ linq-sync " + strings.Join(c.args, " ") + "\n" + r.stderr)
	}
	golden(t, "suggestions.golden", all.String())
}

func TestCompletionCompletesFixedValues(t *testing.T) {
	cases := [][]string{
		{"plan", "-o", ""},
		{"validate", "--output", ""},
		{"apply", "--log-level", ""},
		{"run", "--log-format", ""},
		{"apply", "--secrets", ""},
		{"run", "--secrets", "e"},
		{"mock-api", "--fault", ""},
		{"p"},
	}
	var all strings.Builder
	for _, c := range cases {
		r := run(t, nil, append([]string{"__complete"}, c...)...)
		if r.code != ExitOK {
			t.Errorf("%v: code %d, stderr %q", c, r.code, r.stderr)
		}
		all.WriteString("$ linq-sync __complete " + strings.Join(c, " ") + "\n" + r.stdout)
	}
	golden(t, "completions.golden", all.String())
}

func TestCompletionScriptsForEveryShell(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := run(t, nil, "completion", sh)
		if r.code != ExitOK || !strings.Contains(r.stdout, "linq-sync") || !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: code %d, %d bytes, stderr %q", sh, r.code, len(r.stdout), r.stderr)
		}
	}
	for _, args := range [][]string{{"completion", "tcsh"}, {"completion"}} {
		if r := run(t, nil, args...); r.code != ExitError || !strings.Contains(r.stderr, "bash, zsh, fish or powershell") {
			t.Errorf("%v: code %d, want 1; stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestMissingDefaultFileHints(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, cmd := range []string{"validate", "plan", "apply"} {
		r := run(t, map[string]string{"LINQ_API_V3_API_KEY": "k"}, cmd)
		for _, want := range []string{"-f FILE", "LINQ_SYNC_FILE", "linq-sync export"} {
			if r.code != ExitError || !strings.Contains(r.stderr, want) {
				t.Errorf("%s: code %d, stderr lacks %q:\n%s", cmd, r.code, want, r.stderr)
			}
		}
	}
	// A file named on purpose gets no such hint: the user knows its name.
	if r := run(t, nil, "validate", "-f", "other.yaml"); strings.Contains(r.stderr, "LINQ_SYNC_FILE") {
		t.Errorf("explicit -f got the default-file hint:\n%s", r.stderr)
	}
}

func TestFlagsReachTheOptions(t *testing.T) {
	env := Env{Getenv: func(k string) string { return map[string]string{"LINQ_SYNC_FILE": "env.yaml"}[k] }}
	var got *ApplyOptions
	cmd := NewCmdApply(env, func(_ context.Context, o *ApplyOptions) int { got = o; return ExitOK })
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs([]string{"--secrets", "exec:store --x", "--state-dir", "/st", "--rotate-lost-secrets", "--concurrency", "8"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.File.File != "env.yaml" || got.Apply.Secrets.URI != "exec:store --x" || got.Apply.Secrets.StateDir != "/st" ||
		!got.Apply.RotateLostSecrets || got.Apply.Concurrency != 8 {
		t.Errorf("options = %+v", got)
	}
	var p *PlanOptions
	pc := NewCmdPlan(env, func(_ context.Context, o *PlanOptions) int { p = o; return ExitPending })
	pc.SilenceErrors, pc.SilenceUsage = true, true
	pc.SetArgs([]string{"-f", "x.yaml", "-o", "markdown", "--offline", "--against", "old.yaml"})
	if err := pc.Execute(); err != exitCode(ExitPending) {
		t.Errorf("err = %v, want exit 2", err)
	}
	if p.File.File != "x.yaml" || p.Output != "markdown" || !p.Offline || p.Against != "old.yaml" || p.defaultFile {
		t.Errorf("plan options = %+v", p)
	}
}

func TestSecretsAndSecretsDirTogetherIsAnError(t *testing.T) {
	file := writeFile(t, twoSubs)
	fake, vars := account(t, fakeapi.Options{})
	r := run(t, vars, "apply", "-f", file, "--secrets", "dir:"+t.TempDir(), "--secrets-dir", t.TempDir())
	if r.code != ExitError || !strings.Contains(r.stderr, "--secrets and --secrets-dir") || fake.Writes() != 0 {
		t.Errorf("code %d, writes %d, stderr %q", r.code, fake.Writes(), r.stderr)
	}
	dir := t.TempDir()
	if r := run(t, vars, "apply", "-f", file, "--secrets", "dir:"+dir); r.code != ExitOK {
		t.Fatalf("apply --secrets dir: code %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "crm.secret")); err != nil {
		t.Errorf("no secret in the dir: store: %v", err)
	}
	if r := run(t, vars, "plan", "-f", file, "--secrets", "nope:x"); r.code != ExitError {
		t.Errorf("plan takes no --secrets: code %d", r.code)
	}
}

func TestLogsShowDurationsAsText(t *testing.T) {
	var b strings.Builder
	lf := LogFlags{Level: "info", Format: "json"}
	log, err := lf.logger(&b, new(slog.LevelVar))
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x", "interval", 5*time.Minute)
	if !strings.Contains(b.String(), `"interval":"5m0s"`) {
		t.Errorf("log line %s", b.String())
	}
}
