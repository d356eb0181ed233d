package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/sdnotify/sdnotifytest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemonRun is an in-process `linq-sync run`.
type daemonRun struct {
	addr   string
	cancel context.CancelFunc
	done   chan int
	mu     sync.Mutex
	stderr strings.Builder
}

func (d *daemonRun) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.Write(p)
}

func (d *daemonRun) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func startRun(t *testing.T, vars map[string]string, args ...string) *daemonRun {
	t.Helper()
	d := &daemonRun{addr: freeAddr(t), done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	env := Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: d, Getenv: func(k string) string { return vars[k] }}
	args = append([]string{"run", "--listen", d.addr, "--log-format", "json", "--log-level", "debug"}, args...)
	go func() { d.done <- Main(ctx, env, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Errorf("run did not stop within 15s of cancellation")
		}
	})
	waitFor(t, 10*time.Second, "/readyz to answer 200", func() bool {
		select {
		case code := <-d.done:
			t.Fatalf("run exited %d early:\n%s", code, d.log())
		default:
		}
		resp, err := http.Get("http://" + d.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return d
}

func (d *daemonRun) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code // for the cleanup
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
		return -1
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric returns the value of the series named exactly (with labels).
func metric(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// replaceFile writes content to a temporary file and renames it over path,
// as editors and config management do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func subsWithURL(fake *fakeapi.Server, url string) []fakeapi.Subscription {
	var out []fakeapi.Subscription
	for _, s := range fake.Snapshot() {
		if s.TargetURL == url {
			out = append(out, s)
		}
	}
	return out
}

const oneSub = `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received]
`

func TestRunAppliesAnEditByRename(t *testing.T) {
	fake, vars := account(t, fakeapi.Options{})
	file := writeFile(t, oneSub)
	d := startRun(t, vars, "-f", file, "--secrets-dir", t.TempDir(), "--interval", "1h")
	if n := len(subsWithURL(fake, "https://hooks.example.com/crm")); n != 1 {
		t.Fatalf("first reconcile: %d subscriptions with the URL, want 1", n)
	}
	replaceFile(t, file, strings.Replace(oneSub, "[message.received]", "[message.received, message.read]", 1))
	waitFor(t, 10*time.Second, "the edit to be applied", func() bool {
		s := subsWithURL(fake, "https://hooks.example.com/crm")
		return len(s) == 1 && len(s[0].SubscribedEvents) == 2
	})
	if code := d.stop(t); code != ExitOK {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestRunAppliesAConfigMapSymlinkSwap(t *testing.T) {
	fake, vars := account(t, fakeapi.Options{})
	dir := t.TempDir()
	// The layout kubelet makes: a timestamped directory, ..data pointing
	// at it, and the file a symlink through ..data.
	writeVersion := func(name, content string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "subscriptions.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeVersion("..2026_11_29_10_00_00.000000001", oneSub)
	if err := os.Symlink("..2026_11_29_10_00_00.000000001", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "subscriptions.yaml")
	if err := os.Symlink("..data/subscriptions.yaml", file); err != nil {
		t.Fatal(err)
	}
	startRun(t, vars, "-f", file, "--secrets-dir", t.TempDir(), "--interval", "1h")

	writeVersion("..2026_11_29_10_05_00.000000002", strings.Replace(oneSub, "crm", "crm-v2", -1))
	if err := os.Symlink("..2026_11_29_10_05_00.000000002", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "..2026_11_29_10_00_00.000000001"))
	waitFor(t, 10*time.Second, "the swapped config to be applied", func() bool {
		return len(subsWithURL(fake, "https://hooks.example.com/crm-v2")) == 1
	})
}

func TestRunRevertsAHandMadeChangeWithinOneInterval(t *testing.T) {
	fake, vars := account(t, fakeapi.Options{})
	file := writeFile(t, oneSub)
	startRun(t, vars, "-f", file, "--secrets-dir", t.TempDir(), "--interval", "1s")
	s := subsWithURL(fake, "https://hooks.example.com/crm")[0]
	client, err := linq.NewClient(vars["LINQ_API_V3_BASE_URL"], vars["LINQ_API_V3_API_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := client.Update(context.Background(), s.ID, linq.UpdateParams{IsActive: &off, SubscribedEvents: []string{"call.ended"}}); err != nil {
		t.Fatal(err)
	}
	// One interval (1s) plus a reconcile; the deadline is generous for a loaded machine.
	waitFor(t, 10*time.Second, "the hand-made change to be reverted", func() bool {
		got := subsWithURL(fake, "https://hooks.example.com/crm")
		return len(got) == 1 && got[0].IsActive && len(got[0].SubscribedEvents) == 1 && got[0].SubscribedEvents[0] == "message.received"
	})
}

func TestRunKeepsTheLastGoodConfigWhenTheFileBreaks(t *testing.T) {
	fake, vars := account(t, fakeapi.Options{})
	file := writeFile(t, oneSub)
	d := startRun(t, vars, "-f", file, "--secrets-dir", t.TempDir(), "--interval", "1h")
	writes := fake.Writes()
	before := fake.Snapshot()

	replaceFile(t, file, "version: 1\npolicy: sync\nsubscriptions:\n  - name: crm\n    target_url: http://broken\n")
	waitFor(t, 10*time.Second, "the failed reload to show in metrics", func() bool {
		v, ok := metric(scrape(t, d.addr), "linq_sync_config_last_reload_successful")
		return ok && v == 0
	})
	body := scrape(t, d.addr)
	if v, _ := metric(body, `linq_sync_config_reloads_total{result="failure"}`); v < 1 {
		t.Errorf("config_reloads_total{failure} = %v, want >= 1", v)
	}
	if fake.Writes() != writes {
		t.Errorf("writes went from %d to %d after a broken file", writes, fake.Writes())
	}
	if got := fake.Snapshot(); len(got) != len(before) {
		t.Errorf("account changed after a broken file: %d -> %d subscriptions", len(before), len(got))
	}
	if !strings.Contains(d.log(), "target_url") {
		t.Errorf("the reload error does not name the field:\n%s", d.log())
	}
	// Readiness stays: the last good config is still in force.
	resp, err := http.Get("http://" + d.addr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("readyz after a bad reload: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

func TestRunDryRunWritesNothingButReportsDrift(t *testing.T) {
	fake, vars := account(t, fakeapi.Options{},
		fakeapi.Subscription{TargetURL: "https://hooks.example.com/crm", SubscribedEvents: []string{"message.sent"}, IsActive: true},
		fakeapi.Subscription{TargetURL: "https://legacy.example.com/x", SubscribedEvents: []string{"message.sent"}, IsActive: true},
	)
	file := writeFile(t, twoSubs)
	d := startRun(t, vars, "-f", file, "--dry-run", "--secrets-dir", t.TempDir(), "--interval", "1h")
	body := scrape(t, d.addr)
	for series, want := range map[string]float64{
		`linq_sync_drift_subscriptions{kind="create"}`:    1,
		`linq_sync_drift_subscriptions{kind="update"}`:    1,
		`linq_sync_drift_subscriptions{kind="delete"}`:    0,
		`linq_sync_drift_subscriptions{kind="unmanaged"}`: 1,
	} {
		if got, ok := metric(body, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if fake.Writes() != 0 {
		t.Errorf("dry run made %d writes", fake.Writes())
	}
	// The log names what drifts and writes its durations as text.
	for _, want := range []string{`"pending":["create billing","update crm"]`, `"interval":"1h0m0s"`} {
		if !strings.Contains(d.log(), want) {
			t.Errorf("log lacks %s:\n%s", want, d.log())
		}
	}
}

func TestRunExportsEveryMetric(t *testing.T) {
	_, vars := account(t, fakeapi.Options{})
	d := startRun(t, vars, "-f", writeFile(t, oneSub), "--secrets-dir", t.TempDir(), "--interval", "1h")
	body := scrape(t, d.addr)
	for _, name := range []string{
		"linq_sync_drift_subscriptions", "linq_sync_reconcile_total", "linq_sync_reconcile_duration_seconds_bucket",
		"linq_sync_last_reconcile_success_timestamp_seconds", "linq_sync_last_reconcile_timestamp_seconds",
		"linq_sync_consecutive_failures", "linq_sync_changes_applied_total", "linq_sync_change_failures_total",
		"linq_sync_api_requests_total", "linq_sync_api_request_duration_seconds_bucket", "linq_sync_api_retries_total",
		"linq_sync_config_reloads_total", "linq_sync_config_last_reload_successful",
		"linq_sync_config_last_reload_success_timestamp_seconds", "linq_sync_managed_subscriptions", "linq_sync_build_info",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v, _ := metric(body, `linq_sync_changes_applied_total{action="create"}`); v != 1 {
		t.Errorf("changes_applied_total{create} = %v, want 1", v)
	}
	if v, _ := metric(body, "linq_sync_managed_subscriptions"); v != 1 {
		t.Errorf("managed_subscriptions = %v, want 1", v)
	}
	if strings.Contains(body, "hooks.example.com") || strings.Contains(body, "s3cret-token") {
		t.Errorf("/metrics carries a URL or the token")
	}
}

func TestRunRefusesToStartOnAnInvalidFile(t *testing.T) {
	_, vars := account(t, fakeapi.Options{})
	r := run(t, vars, "run", "-f", writeFile(t, "version: 2\n"), "--listen", "")
	if r.code != ExitError || !strings.Contains(r.stderr, "version") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, vars, "run", "-f", filepath.Join(t.TempDir(), "missing.yaml"), "--listen", "")
	if r.code != ExitError || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing file: code %d, stderr %q", r.code, r.stderr)
	}
}

// TestRunProcessNotifiesSystemdAndExitsZeroOnSIGTERMDuringASlowCall runs
// the real binary, as systemd would.
func TestRunProcessNotifiesSystemdAndExitsZeroOnSIGTERMDuringASlowCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "linq-sync")
	build := exec.Command("go", "build", "-o", bin, "github.com/linq-sync/linq-sync/cmd/linq-sync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	fake, vars := account(t, fakeapi.Options{})
	sock := sdnotifytest.Listen(t)
	file := writeFile(t, oneSub)
	addr := freeAddr(t)
	cmd := exec.Command(bin, "run", "-f", file, "--secrets-dir", t.TempDir(), "--interval", "1h",
		"--listen", addr, "--shutdown-timeout", "1s", "--log-format", "json")
	cmd.Env = append(os.Environ(), "LINQ_API_V3_BASE_URL="+vars["LINQ_API_V3_BASE_URL"], "LINQ_API_V3_API_KEY="+vars["LINQ_API_V3_API_KEY"])
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	if m := sock.Next(t, 20*time.Second); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1\n%s", m, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if m := sock.Next(t, 10*time.Second); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("after SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", m)
	}
	if m := sock.Next(t, 10*time.Second); m != "READY=1" {
		t.Errorf("after reload %q, want READY=1", m)
	}

	// Make the next list hang, trigger a reconcile, and stop mid-call.
	lists := fake.Count("GET " + fakeapi.RouteSubscriptions)
	fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatency, Method: "GET", Route: fakeapi.RouteSubscriptions, Delay: time.Minute})
	replaceFile(t, file, strings.Replace(oneSub, "crm", "crm2", -1))
	waitFor(t, 10*time.Second, "the slow list call to start", func() bool {
		return fake.Count("GET "+fakeapi.RouteSubscriptions) > lists
	})
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit: %v, want 0\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM\n%s", stderr.String())
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	msgs := sock.Pending()
	if !strings.Contains(strings.Join(msgs, "|"), "STOPPING=1") {
		t.Errorf("no STOPPING=1 after SIGTERM; got %q", msgs)
	}
	if strings.Contains(stderr.String(), "s3cret-token") {
		t.Errorf("log carries the token")
	}
}
