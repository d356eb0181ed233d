package crashtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/proctest"
)

// failsafeSubs is the size of the file the failing-safely cases apply.
const failsafeSubs = 20

// storeFailure is what an apply against a failing store must show: it
// failed; with --concurrency 1 at most one create was made whose secret
// was not stored (the one in flight when the store failed; with the
// probe, usually none), so no create started after the failure; and the
// next plan reports every subscription created without its secret lost.
type storeFailure struct {
	out proctest.Outcome
	acc account
}

func (h *harness) assertFailedSafely(t *testing.T, f storeFailure) {
	t.Helper()
	if f.out.Code != 1 {
		t.Errorf("apply exited %d with a failing store, want 1; stderr:\n%s", f.out.Code, proctest.Tail(f.out.Stderr))
	}
	unstored := h.creates() - len(f.acc.held)
	if unstored > 1 {
		t.Errorf("%d creates for %d secrets stored: creates went on after the store failed", h.creates(), len(f.acc.held))
	}
	if f.acc.subs != len(f.acc.held)+len(f.acc.lost) {
		t.Errorf("%d subscriptions, %d held, %d reported lost: some are neither", f.acc.subs, len(f.acc.held), len(f.acc.lost))
	}
	if f.acc.subs != h.creates() {
		t.Errorf("%d subscriptions from %d creates", f.acc.subs, h.creates())
	}
	if f.acc.subs == failsafeSubs {
		t.Errorf("every create was made: the apply did not stop at the store's failure")
	}
	t.Logf("creates attempted %d (%d whose secret was not stored), held %d, reported lost %d", h.creates(), unstored, len(f.acc.held), len(f.acc.lost))
}

// whenCreated starts apply with the answers of creates held back, runs
// breakStore once n creates have committed, and returns what happened.
func (h *harness) whenCreated(t *testing.T, n int, breakStore func()) storeFailure {
	t.Helper()
	h.slowCreates(100 * time.Millisecond)
	p := h.start("apply", "--concurrency", "1")
	if !h.waitFor("creates to commit", func() bool { return h.fake.Len() >= n || p.Exited() }) || p.Exited() {
		t.Fatalf("apply ended before %d creates: %v\n%s", n, p.Err(), proctest.Tail(p.Stderr.String()))
	}
	breakStore()
	var f storeFailure
	h.waitFor("apply to end", p.Exited)
	f.out = proctest.Outcome{Code: p.Cmd.ProcessState.ExitCode(), Stderr: p.Stderr.String()}
	h.noSecretIn(f.out.Stderr)
	h.quiesce()
	f.acc = h.check("after the store failed")
	return f
}

// fill writes to dir until its filesystem is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

func TestFullFilesystemBeforeApplyMakesNoCreate(t *testing.T) {
	h := newHarness(t, failsafeSubs, 3)
	dir := mountTmpfs(t, "size=64k,mode=0700")
	fill(t, dir)
	h.useDir(dir)
	out := h.run("apply", "--concurrency", "1")
	if out.Code != 1 || !strings.Contains(out.Stderr, "cannot take a secret") {
		t.Errorf("apply exited %d, want 1 with the probe's failure; stderr:\n%s", out.Code, proctest.Tail(out.Stderr))
	}
	if n := h.creates(); n != 0 {
		t.Errorf("%d creates with a full store, want 0", n)
	}
	if acc := h.check("after a full store"); acc.subs != 0 || len(acc.lost) != 0 {
		t.Errorf("%d subscriptions, %d lost; want none", acc.subs, len(acc.lost))
	}
}

func TestFilesystemFillingDuringApplyStopsCreates(t *testing.T) {
	h := newHarness(t, failsafeSubs, 4)
	dir := mountTmpfs(t, "size=256k,mode=0700")
	h.useDir(dir)
	h.assertFailedSafely(t, h.whenCreated(t, 3, func() { fill(t, dir) }))
}

func TestReadOnlyFilesystemDuringApplyStopsCreates(t *testing.T) {
	h := newHarness(t, failsafeSubs, 5)
	dir := mountTmpfs(t, "size=1m,mode=0700")
	h.useDir(dir)
	f := h.whenCreated(t, 3, func() { remountReadOnly(t, dir) })
	h.assertFailedSafely(t, f)
	if !strings.Contains(f.out.Stderr, "read-only file system") {
		t.Errorf("apply did not name the read-only store; stderr:\n%s", proctest.Tail(f.out.Stderr))
	}
}

func TestInodeQuotaStopsCreates(t *testing.T) {
	h := newHarness(t, failsafeSubs, 6)
	// The root takes one inode; each secret held takes two (record and
	// secret) and each write one more while it is in flight.
	dir := mountTmpfs(t, "size=1m,nr_inodes=8,mode=0700")
	h.useDir(dir)
	out := h.run("apply", "--concurrency", "1")
	h.quiesce()
	h.assertFailedSafely(t, storeFailure{out: out, acc: h.check("after the inodes ran out")})
	if !strings.Contains(out.Stderr, "no space left on device") {
		t.Errorf("apply did not name the full store; stderr:\n%s", proctest.Tail(out.Stderr))
	}
}

// execStore writes a secret program that stores secrets as files in out
// (OUT/N/in.json) until it holds limit of them, then fails. With limit 0
// it refuses even the dry run.
func execStore(t *testing.T, h *harness, limit int) (out string) {
	t.Helper()
	out, state := t.TempDir(), t.TempDir()
	script := filepath.Join(t.TempDir(), "store")
	// Each secret claims a slot with mkdir, which is atomic, so that
	// concurrent runs never store more than limit.
	body := `#!/bin/sh
in=$(cat)
case "$in" in *'"dry_run":true'*) [ "$2" -gt 0 ] && exit 0; echo "store sealed" >&2; exit 1;; esac
i=0
while [ "$i" -lt "$2" ]; do
  if mkdir "$1/$i" 2>/dev/null; then printf '%s' "$in" > "$1/$i/in.json"; exit 0; fi
  i=$((i+1))
done
echo "store sealed" >&2
exit 1
`
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	h.store = "exec:" + script + " " + out + " " + itoa(limit)
	h.extra = []string{"--state-dir", state}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestExecProgramThatFailsStopsCreates(t *testing.T) {
	t.Run("refusing the dry run, nothing is created", func(t *testing.T) {
		h := newHarness(t, failsafeSubs, 7)
		execStore(t, h, 0)
		out := h.run("apply", "--concurrency", "1")
		if out.Code != 1 || !strings.Contains(out.Stderr, "refused a dry run") {
			t.Errorf("apply exited %d, want 1 with the probe's failure; stderr:\n%s", out.Code, proctest.Tail(out.Stderr))
		}
		if n := h.creates(); n != 0 {
			t.Errorf("%d creates, want 0", n)
		}
	})
	t.Run("failing after three secrets, one create follows and is reported lost", func(t *testing.T) {
		h := newHarness(t, failsafeSubs, 8)
		stored := execStore(t, h, 3)
		out := h.run("apply", "--concurrency", "1")
		h.quiesce()
		f := storeFailure{out: out, acc: h.check("after the program failed")}
		h.assertFailedSafely(t, f)
		if h.creates() != 4 || len(f.acc.held) != 3 || len(f.acc.lost) != 1 {
			t.Errorf("%d creates, %d held, %d lost; want 4, 3, 1", h.creates(), len(f.acc.held), len(f.acc.lost))
		}
		if !strings.Contains(out.Stderr, "store sealed") {
			t.Errorf("the program's stderr was not logged:\n%s", proctest.Tail(out.Stderr))
		}
		// What the program holds is exactly what the fake handed out.
		des, _ := os.ReadDir(stored)
		for _, de := range des {
			b, err := os.ReadFile(filepath.Join(stored, de.Name(), "in.json"))
			var in struct{ Name, SubscriptionID, SigningSecret string }
			if err == nil {
				err = json.Unmarshal(b, &struct {
					Name           *string `json:"name"`
					SubscriptionID *string `json:"subscription_id"`
					SigningSecret  *string `json:"signing_secret"`
				}{&in.Name, &in.SubscriptionID, &in.SigningSecret})
			}
			want, ok := h.fake.Secret(in.SubscriptionID)
			if err != nil || !ok || in.SigningSecret != want || f.acc.held[in.Name] != in.SubscriptionID {
				t.Errorf("%s: the program got %s for %s, not the fake's secret of a held subscription (%v)", de.Name(), in.Name, in.SubscriptionID, err)
			}
		}
	})
	t.Run("with four creates in flight, none starts after the failure", func(t *testing.T) {
		h := newHarness(t, failsafeSubs, 9)
		execStore(t, h, 3)
		h.slowCreates(5 * time.Millisecond)
		out := h.run("apply", "--concurrency", "4")
		h.quiesce()
		acc := h.check("after the program failed")
		if out.Code != 1 || acc.subs != h.creates() || acc.subs != len(acc.held)+len(acc.lost) {
			t.Errorf("exit %d, %d creates, %d subscriptions, %d held, %d lost", out.Code, h.creates(), acc.subs, len(acc.held), len(acc.lost))
		}
		// Those in flight when the store failed may finish; no other starts.
		if unstored := h.creates() - len(acc.held); unstored > 4 || len(acc.held) != 3 {
			t.Errorf("%d creates for %d secrets stored, want 3 stored and at most 4 more (those in flight)", h.creates(), len(acc.held))
		}
		t.Logf("creates attempted %d, held %d, reported lost %d", h.creates(), len(acc.held), len(acc.lost))
	})
}
