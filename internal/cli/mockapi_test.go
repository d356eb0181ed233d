package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// syncBuf is a strings.Builder safe for a command running in a goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMockAPI runs `linq-sync mock-api` in process and returns the
// variables its export lines set.
func startMockAPI(t *testing.T, args ...string) (vars map[string]string, stderr *syncBuf) {
	t.Helper()
	var out, errb syncBuf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	go func() { done <- Main(ctx, env, append([]string{"mock-api", "--listen", "127.0.0.1:0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != ExitOK {
				t.Errorf("mock-api exited %d: %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("mock-api did not stop")
		}
	})
	waitFor(t, 10*time.Second, "the export lines", func() bool {
		select {
		case code := <-done:
			t.Fatalf("mock-api exited %d: %s", code, errb.String())
		default:
		}
		return strings.Count(out.String(), "\n") >= 2
	})
	vars = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(line, "export ") {
			t.Fatalf("stdout line %q is not an export line", line)
		}
		vars[k] = v
	}
	if vars["LINQ_API_V3_BASE_URL"] == "" || vars["LINQ_API_V3_API_KEY"] != fakeapi.DefaultToken {
		t.Fatalf("export lines: %q", out.String())
	}
	return vars, &errb
}

func mockCalls(t *testing.T, base string) map[string]int {
	t.Helper()
	resp, err := http.Get(base + "/_mock/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Calls map[string]int `json:"calls"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return doc.Calls
}

func TestMockAPICallCountsCanBeCheckedFromOutside(t *testing.T) {
	seed := writeFile(t, twoSubs)
	logFile := filepath.Join(t.TempDir(), "requests.jsonl")
	vars, stderr := startMockAPI(t, "--seed-file", seed, "--requests-log", logFile)
	if !strings.Contains(stderr.String(), "request log: "+logFile) || !strings.Contains(stderr.String(), "/_mock/requests") {
		t.Errorf("mock-api does not say where the request log is:\n%s", stderr)
	}
	base := vars["LINQ_API_V3_BASE_URL"]

	// The README's promise: a plan is one list call plus one event-types call.
	if r := run(t, vars, "plan", "-f", seed); r.code != ExitOK {
		t.Fatalf("plan of the seed file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	calls := mockCalls(t, base)
	if calls["GET /v3/webhook-subscriptions"] != 1 || calls["GET /v3/webhook-events"] != 1 || len(calls) != 2 {
		t.Errorf("plan made %v", calls)
	}
	// And an apply is one write per change.
	http.DefaultClient.Do(mustRequest(t, "DELETE", base+"/_mock/requests"))
	next := writeFile(t, strings.Replace(twoSubs, "message.sent]", "message.sent, message.failed]", 1)+
		"  - name: added\n    target_url: https://hooks.example.com/added\n    subscribed_events: [message.read]\n")
	if r := run(t, vars, "apply", "-f", next, "--secrets-dir", t.TempDir()); r.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	calls = mockCalls(t, base)
	if calls["POST /v3/webhook-subscriptions"] != 1 || calls["PUT /v3/webhook-subscriptions/{id}"] != 1 {
		t.Errorf("apply made %v", calls)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 6 || strings.Contains(string(b), "whsec_") {
		t.Errorf("request log has %d lines (want 2 + 4) or a secret:\n%s", n, b)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestMockAPIFaultFlagArmsAFault(t *testing.T) {
	vars, _ := startMockAPI(t, "--fault", "error_before,method=GET,route=/v3/webhook-subscriptions,times=1,status=503")
	file := writeFile(t, twoSubs)
	// The client retries the 503 once, so the plan still succeeds.
	if r := run(t, vars, "plan", "-f", file); r.code != ExitPending {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	if got := mockCalls(t, vars["LINQ_API_V3_BASE_URL"])["GET /v3/webhook-subscriptions"]; got != 2 {
		t.Errorf("list calls = %d, want 2 (the faulted one and its retry)", got)
	}
}

func TestMockAPIRefusesBadStartFlags(t *testing.T) {
	bad := writeFile(t, "version: 1\nsubscriptions:\n  - name: x\n    target_url: http://insecure\n")
	for _, args := range [][]string{
		{"--fault", "nope"},
		{"--fault", "html,times=x"},
		{"--seed-file", bad},
		{"--seed-file", filepath.Join(t.TempDir(), "missing.yaml")},
		{"--requests-log", filepath.Join(t.TempDir(), "no", "such", "dir.jsonl")},
	} {
		r := run(t, nil, append([]string{"mock-api", "--listen", "127.0.0.1:0"}, args...)...)
		if r.code != ExitError || !strings.Contains(r.stderr, "linq-sync: error:") || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}
