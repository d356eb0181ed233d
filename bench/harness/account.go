package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/synth"
)

// runGen writes one of the benchmark files.
func runGen(_ context.Context, args []string, _ io.Reader, _ io.Writer) error {
	var (
		kind, out  string
		n, variant int
	)
	err := parse("gen", args, func(fs *flag.FlagSet) {
		fs.StringVar(&kind, "kind", "drift", "drift (10 % drift from the seeded account), sync, creates or small")
		fs.IntVar(&n, "n", 100, "entries")
		fs.IntVar(&variant, "variant", 0, "small: which of the two versions of entry 0")
		fs.StringVar(&out, "o", "", "output file (required)")
	})
	if err != nil {
		return err
	}
	if out == "" {
		return errors.New("-o is required")
	}
	var data []byte
	switch kind {
	case "drift":
		data = synth.ConfigYAML(n, true)
	case "sync":
		data = synth.ConfigYAML(n, false)
	case "creates":
		data = synth.CreatesYAML(n)
	case "small":
		data = synth.SmallYAML(n, variant)
	default:
		return fmt.Errorf("-kind %q is not one of drift, sync, creates, small", kind)
	}
	return os.WriteFile(out, data, 0o644)
}

// account is the fake API served over loopback HTTP in this process, with
// a tap on every request.
type account struct {
	fake *fakeapi.Server
	ts   *httptest.Server
	dir  string

	conns atomic.Int64 // TCP connections opened by clients

	mu      sync.Mutex
	writeCh chan time.Time // receives the arrival time of each write, if set
}

// newAccount starts the fake API seeded with remote, in a fresh temporary
// directory for files and secrets.
func newAccount(remote []fakeapi.Subscription, latency time.Duration) (*account, error) {
	dir, err := os.MkdirTemp("", "linq-sync-bench-")
	if err != nil {
		return nil, err
	}
	a := &account{fake: fakeapi.New(fakeapi.Options{Seed: 1, Latency: latency, MaxRequestLog: 1}), dir: dir}
	a.fake.Seed(remote...)
	a.ts = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.ts.Start()
	return a, nil
}

func (a *account) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		now := time.Now()
		a.mu.Lock()
		ch := a.writeCh
		a.mu.Unlock()
		if ch != nil {
			select {
			case ch <- now:
			default:
			}
		}
	}
	a.fake.ServeHTTP(w, r)
}

// watchWrites makes every write's arrival time available on the returned
// channel (buffered; extra writes are dropped when it is full).
func (a *account) watchWrites() <-chan time.Time {
	ch := make(chan time.Time, 64)
	a.mu.Lock()
	a.writeCh = ch
	a.mu.Unlock()
	return ch
}

func (a *account) close() {
	a.ts.Close()
	_ = os.RemoveAll(a.dir)
}

// totalCalls returns every call the fake has seen since the last reset.
func (a *account) totalCalls() int {
	n := 0
	for _, c := range a.fake.Calls() {
		n += c
	}
	return n
}

// roundTrip is the median time, in milliseconds, of n event-type reads by
// a client that opens a new connection for each (as a process starting
// afresh does): one round trip to the fake, latency included.
func (a *account) roundTrip(ctx context.Context, n int) (float64, error) {
	var ts []float64
	for range n {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.ts.URL+fakeapi.RouteEvents, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+fakeapi.DefaultToken)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", fakeapi.RouteEvents, resp.Status)
		}
		ts = append(ts, float64(took.Microseconds())/1000)
	}
	return median(ts), nil
}

// file writes data as a file in the account's directory and returns its
// path.
func (a *account) file(name string, data []byte) (string, error) {
	p := filepath.Join(a.dir, name)
	return p, os.WriteFile(p, data, 0o644)
}

// secretsDir returns a new, empty secrets directory.
func (a *account) secretsDir() (string, error) {
	return os.MkdirTemp(a.dir, "secrets-")
}

// command returns the binary run with args against the account.
func (a *account) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LINQ_") || strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "LINQ_API_V3_API_KEY="+fakeapi.DefaultToken, "LINQ_API_V3_BASE_URL="+a.ts.URL)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runCommand runs the binary to completion and returns its exit code and
// combined output, failing on anything but wantCodes.
func (a *account) runCommand(ctx context.Context, bin string, wantCodes []int, args ...string) (time.Duration, error) {
	cmd := a.command(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		return took, err
	}
	for _, c := range wantCodes {
		if c == code {
			return took, nil
		}
	}
	return took, fmt.Errorf("%s %s exited %d:\n%s", filepath.Base(bin), strings.Join(args, " "), code, tail(out.String(), 2000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// daemon is a running `linq-sync run`.
type daemon struct {
	cmd     *exec.Cmd
	metrics string // base URL of its HTTP endpoints
	out     *lockedBuffer
	done    chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon starts `linq-sync run -f file` with extra args and waits
// until it has finished its first reconcile (/readyz answers 200).
func (a *account) startDaemon(ctx context.Context, bin, file string, extra ...string) (*daemon, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	secrets, err := a.secretsDir()
	if err != nil {
		return nil, err
	}
	args := append([]string{"run", "-f", file, "--secrets-dir", secrets, "--listen", addr, "--log-format", "json", "--log-level", "warn"}, extra...)
	d := &daemon{cmd: a.command(context.WithoutCancel(ctx), bin, args...), metrics: "http://" + addr, out: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("linq-sync run exited before it was ready (%v):\n%s", err, tail(d.out.String(), 2000))
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("linq-sync run not ready after 30s:\n%s", tail(d.out.String(), 2000))
		}
	}
}

// reconciles reads linq_sync_reconcile_total (all results) from /metrics.
func (d *daemon) reconciles() (int, error) {
	resp, err := http.Get(d.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total := 0.0
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "linq_sync_reconcile_total") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("no linq_sync_reconcile_total in /metrics")
	}
	return int(total), nil
}

// waitReconciles polls /metrics until at least n reconciles have finished.
func (d *daemon) waitReconciles(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := d.reconciles()
		if err == nil && got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d reconciles after %s, want %d (last error %v)", got, timeout, n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() {
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}
