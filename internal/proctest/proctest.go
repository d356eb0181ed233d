// Package proctest holds what the suites that drive the real linq-sync
// binary as a separate process share: building it once, an output buffer
// read while the process writes, reading its /metrics and its logs, and
// checking that no signing secret appears in what it prints. It is
// imported only by tests.
package proctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// Build builds ./cmd/linq-sync, found from the module root above the
// working directory, into out.
func Build(out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/linq-sync/linq-sync/cmd/linq-sync")
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// Env returns the test's environment without anything that would steer
// the binary (LINQ_*, KUBECONFIG, CREDENTIALS_DIRECTORY), plus token as
// the API token.
func Env(token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LINQ_") && !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			env = append(env, kv)
		}
	}
	return append(env, "LINQ_API_V3_API_KEY="+token)
}

// SyncBuffer is a buffer a process writes while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ListenAddr returns the address a daemon logging JSON said it serves
// /metrics on, or "" while it has not said so.
func ListenAddr(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving metrics and health checks" {
			return l.Addr
		}
	}
	return ""
}

// Scrape reads the /metrics page at addr, summing each metric over its
// labels; it returns nil while the page cannot be reached.
func Scrape(addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "{")
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] += v
		}
	}
	return out
}

var anySecretRE = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{8,}`)

// NoSecretIn fails tb when anything shaped like a signing secret appears
// in s, without quoting it.
func NoSecretIn(tb testing.TB, s string) {
	tb.Helper()
	if anySecretRE.MatchString(s) {
		tb.Errorf("a signing secret appears in the output")
	}
}

// Tail returns the last 4000 bytes of s, for quoting a process's output.
func Tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// Outcome is how a run of the binary to its end went.
type Outcome struct {
	Code           int
	Stdout, Stderr string
}

// Run runs cmd to its end (its context bounds it) and checks that its
// output holds no signing secret. A failure to run it, other than a
// non-zero exit, is fatal to tb.
func Run(tb testing.TB, cmd *exec.Cmd) Outcome {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := Outcome{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		out.Code = ee.ExitCode()
	case err != nil:
		tb.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	NoSecretIn(tb, out.Stdout+out.Stderr)
	return out
}

// Proc is a started process the test will kill or stop. Its stderr is
// collected in Stderr.
type Proc struct {
	Cmd    *exec.Cmd
	Stderr SyncBuffer
	done   chan struct{}
	err    error
}

// Start starts cmd, and kills it at tb's cleanup if it is still running.
func Start(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &p.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.Kill)
	return p
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned, once it has exited.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGINT and waits for a clean exit (a test error otherwise);
// a process still running at the deadline is killed.
func (p *Proc) Stop(tb testing.TB, what string) {
	tb.Helper()
	_ = p.Cmd.Process.Signal(os.Interrupt)
	if !WaitFor(tb, what+" to stop", time.Millisecond, p.Exited) {
		p.Kill()
	}
	if err := p.Err(); err != nil {
		tb.Errorf("%s stopped with %v; stderr:\n%s", what, err, Tail(p.Stderr.String()))
	}
}

// WaitDeadline bounds every WaitFor.
const WaitDeadline = 60 * time.Second

// WaitFor polls cond every poll until it holds or WaitDeadline passes; it
// reports whether cond held (a test error otherwise).
func WaitFor(tb testing.TB, what string, poll time.Duration, cond func() bool) bool {
	tb.Helper()
	deadline := time.Now().Add(WaitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Errorf("timed out waiting for %s", what)
			return false
		}
		time.Sleep(poll)
	}
	return true
}

// File is a subscriptions file of generated entries.
type File struct {
	Path  string
	Names []string
	// ByURL maps each entry's target_url to its name.
	ByURL map[string]string
}

// WriteFile writes, in tb.TempDir(), an upsert-only file of n entries
// named sub-000, sub-001, ... with target URLs urlBase/000, urlBase/001, ...
func WriteFile(tb testing.TB, n int, urlBase string) File {
	tb.Helper()
	f := File{Path: filepath.Join(tb.TempDir(), "subscriptions.yaml"), ByURL: map[string]string{}}
	var b strings.Builder
	b.WriteString("version: 1\npolicy: upsert-only\nsubscriptions:\n")
	for i := range n {
		name := fmt.Sprintf("sub-%03d", i)
		url := fmt.Sprintf("%s/%03d", urlBase, i)
		f.Names = append(f.Names, name)
		f.ByURL[url] = name
		fmt.Fprintf(&b, "  - name: %s\n    target_url: %s\n    subscribed_events: [message.sent]\n", name, url)
	}
	if err := os.WriteFile(f.Path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return f
}

// Main builds the binary into a temporary directory, sets *bin to its
// path, calls run (m.Run, or a wrapper of it) and removes the directory:
//
//	func TestMain(m *testing.M) { flag.Parse(); os.Exit(proctest.Main(&bin, m.Run)) }
func Main(bin *string, run func() int) int {
	dir, err := os.MkdirTemp("", "linq-sync-proctest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "linq-sync")
	if err := Build(*bin); err != nil {
		fmt.Fprintln(os.Stderr, "build linq-sync:", err)
		return 1
	}
	return run()
}

// Serve serves h on loopback until tb's cleanup, keeping in conns the
// number of connections open: once a killed process's connections are all
// closed, the server has handled everything it sent.
func Serve(tb testing.TB, h http.Handler, conns *atomic.Int64) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

// Matched is a subscription of the account and the entry of the file it is for.
type Matched struct {
	Name string
	Sub  fakeapi.Subscription
}

// Match pairs each of subs with the entry whose target_url it has, in the
// order of subs. It reports on tb, prefixed by stage, a subscription whose
// URL is not in the file (left out) and an entry with two subscriptions.
func (f File) Match(tb testing.TB, stage string, subs []fakeapi.Subscription) []Matched {
	tb.Helper()
	var out []Matched
	seen := map[string]string{}
	for _, s := range subs {
		name, ok := f.ByURL[s.TargetURL]
		if !ok {
			tb.Errorf("%s: subscription %s has a URL not in the file", stage, s.ID)
			continue
		}
		if other, dup := seen[name]; dup {
			tb.Errorf("%s: duplicate subscriptions %s and %s for %s", stage, other, s.ID, name)
		}
		seen[name] = s.ID
		out = append(out, Matched{Name: name, Sub: s})
	}
	return out
}
