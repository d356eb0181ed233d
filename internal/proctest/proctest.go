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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
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
