package secrets

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "store.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExecHandsTheSecretOnStdinAndJournalsTheRecord(t *testing.T) {
	out := filepath.Join(t.TempDir(), "got.json")
	prog := script(t, "cat > \"$1\"\n")
	state := t.TempDir()
	e, err := OpenExec(prog+" "+out, state, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rec("crm", "sub-2")
	r.PreviousSubscriptionID = "sub-1"
	if err := e.Intend(ctx, Intent{Name: "crm", TargetURL: r.TargetURL}); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(ctx, r, "whsec_x", KeepPrevious); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("program got %q: %v", b, err)
	}
	for k, want := range map[string]string{
		"name": "crm", "subscription_id": "sub-2", "target_url": "https://example.com/crm",
		"signing_secret": "whsec_x", "created_at": "2023-11-14T22:13:20Z", "previous_subscription_id": "sub-1",
	} {
		if got[k] != want {
			t.Errorf("stdin %s = %v, want %q", k, got[k], want)
		}
	}
	es, err := e.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if en := es["crm"]; en.Held == nil || en.Pending != nil || en.Held.SubscriptionID != "sub-2" {
		t.Errorf("journal = %+v, want held with nothing pending", en)
	}
	j, _ := os.ReadFile(filepath.Join(state, "crm.json"))
	if strings.Contains(string(j), "whsec_x") {
		t.Error("the journal holds the secret")
	}
}

func TestExecFailureKeepsTheIntentAndNeverLogsTheSecret(t *testing.T) {
	prog := script(t, "echo 'vault sealed' >&2\ncat >&2\nexit 3\n")
	var logged strings.Builder
	e, err := OpenExec(prog, t.TempDir(), OpenOptions{Logger: testLogger(&logged)})
	if err != nil {
		t.Fatal(err)
	}
	e.Intend(ctx, Intent{Name: "crm"})
	err = e.Put(ctx, rec("crm", "sub-1"), "whsec_topsecret", KeepNone)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Put = %v, want the exit status", err)
	}
	if strings.Contains(err.Error()+logged.String(), "whsec_topsecret") {
		t.Error("the secret appears in an error or the log")
	}
	if !strings.Contains(logged.String(), "vault sealed") {
		t.Errorf("log = %q, want the program's stderr", logged.String())
	}
	es, _ := e.Load(ctx)
	if en := es["crm"]; en.Pending == nil || en.Held != nil {
		t.Errorf("journal = %+v, want the intent still open", en)
	}
}

func TestExecProbeIsADryRunAndATimeoutIsAFailure(t *testing.T) {
	seen := filepath.Join(t.TempDir(), "seen")
	ok := script(t, "cat > "+seen+"\n")
	e, err := OpenExec(ok, t.TempDir(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(seen)
	if !strings.Contains(string(b), `"dry_run":true`) {
		t.Errorf("probe input = %s, want dry_run", b)
	}
	slow, err := OpenExec(script(t, "exec sleep 30\n"), t.TempDir(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slow.timeout = 50 * time.Millisecond
	if err := slow.Probe(ctx); err == nil || !strings.Contains(err.Error(), "did not exit within") {
		t.Errorf("Probe of a hung program = %v, want a timeout", err)
	}
}

func testLogger(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// TestExecRecipeToFilesStoresAndRotates runs the README's tested recipe,
// examples/secret-programs/to-files.sh, through the exec store.
func TestExecRecipeToFilesStoresAndRotates(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("jq is missing; .ci/run installs it")
		}
		t.Skip("jq is not installed")
	}
	prog, err := filepath.Abs("../../examples/secret-programs/to-files.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	e, err := OpenExec(prog+" "+out, t.TempDir(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := e.Put(ctx, rec("crm", "sub-1"), "whsec_one", KeepNone); err != nil {
		t.Fatal(err)
	}
	r := rec("crm", "sub-2")
	r.PreviousSubscriptionID = "sub-1"
	if err := e.Put(ctx, r, "whsec_two", KeepPrevious); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"crm": "whsec_two", "crm.previous": "whsec_one"} {
		b, err := os.ReadFile(filepath.Join(out, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	if got := files(t, out); len(got) != 2 {
		t.Errorf("files = %v, want crm and crm.previous only", got)
	}
	if err := e.Put(ctx, rec("../evil", "x"), "whsec_x", KeepNone); err == nil {
		t.Error("a path name was accepted")
	}
}
