package synth_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/linq-sync/linq-sync/internal/cli"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/synth"
)

func parse(t testing.TB, name string, data []byte) *config.Config {
	t.Helper()
	cfg, diags := config.Parse(name, data)
	if diags.HasErrors() || cfg == nil {
		t.Fatalf("%s does not load: %v", name, diags.Error())
	}
	return cfg
}

func TestConfigYAMLPlansToTheExpectedDrift(t *testing.T) {
	for _, n := range []int{1, 30, 100, 1000, config.MaxSubscriptions} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cfg := parse(t, "drift.yaml", synth.ConfigYAML(n, true))
			if got := len(cfg.Subscriptions); got != n {
				t.Fatalf("entries = %d, want %d", got, n)
			}
			p := diff.ApplyPolicy(diff.Compute(cfg.Subscriptions, synth.Remote(n), diff.Options{}), cfg.Policy)
			if len(p.Errors) > 0 {
				t.Fatalf("plan errors: %+v", p.Errors)
			}
			s := p.Summary()
			want := synth.ExpectedDrift(n)
			got := synth.Drift{Create: s.Create, Update: s.Update, InSync: s.InSync, Unmanaged: s.Unmanaged}
			if got != want || s.Delete != 0 {
				t.Errorf("plan = %+v (deletes %d), want %+v", got, s.Delete, want)
			}
		})
	}
}

func TestDriftIsAboutTenPercent(t *testing.T) {
	for _, n := range []int{100, 1000, 10000} {
		d := synth.ExpectedDrift(n)
		got := float64(d.Changes()) / float64(n)
		if got < 0.09 || got > 0.11 {
			t.Errorf("ExpectedDrift(%d) changes %d of %d (%.3f), want about 10 %%", n, d.Changes(), n, got)
		}
	}
}

func TestConfigYAMLWithoutDriftIsInSync(t *testing.T) {
	cfg := parse(t, "sync.yaml", synth.ConfigYAML(300, false))
	p := diff.Compute(cfg.Subscriptions, synth.Remote(300), diff.Options{})
	if p.HasChanges() || p.Summary().InSync != 300 {
		t.Errorf("plan = %+v, want 300 in sync and no changes", p.Summary())
	}
}

func TestSmallYAMLVariantsDifferInOneSubscription(t *testing.T) {
	remote := synth.Remote(10)
	tests := []struct {
		variant     int
		wantUpdates int
	}{
		{0, 0}, {1, 1}, {2, 0}, {3, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.variant), func(t *testing.T) {
			cfg := parse(t, "small.yaml", synth.SmallYAML(10, tt.variant))
			s := diff.Compute(cfg.Subscriptions, remote, diff.Options{}).Summary()
			if s.Update != tt.wantUpdates || s.Create+s.Delete != 0 {
				t.Errorf("plan = %+v, want %d update(s) and nothing else", s, tt.wantUpdates)
			}
		})
	}
}

func TestCreatesYAMLCreatesEveryEntryInAnEmptyAccount(t *testing.T) {
	cfg := parse(t, "creates.yaml", synth.CreatesYAML(1000))
	s := diff.Compute(cfg.Subscriptions, nil, diff.Options{}).Summary()
	if s.Create != 1000 || s.Update+s.Delete+s.InSync != 0 {
		t.Errorf("plan = %+v, want 1000 creates", s)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	if !bytes.Equal(synth.ConfigYAML(500, true), synth.ConfigYAML(500, true)) {
		t.Error("ConfigYAML differs between calls")
	}
	a, b := synth.Remote(50), synth.Remote(50)
	for i := range a {
		if a[i].ID != b[i].ID || a[i].TargetURL != b[i].TargetURL {
			t.Fatalf("Remote differs at %d", i)
		}
	}
	if synth.ID(1) == synth.ID(1<<16+1) {
		t.Error("ids collide")
	}
}

// syncBuffer is a goroutine-safe buffer for a command's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestMockAPISeedCountServesTheBenchmarkAccount(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: getenv(nil)}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, env, []string{"mock-api", "--listen", "127.0.0.1:0", "--seed-count", "90"})
	}()

	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if time.Now().After(deadline) {
			t.Fatalf("mock-api did not report its address; stderr: %s", stderr.String())
		}
		if _, after, ok := strings.Cut(stderr.String(), "listening on "); ok {
			base = strings.TrimSpace(after)
			break
		}
		select {
		case code := <-done:
			t.Fatalf("mock-api exited %d; stderr: %s", code, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}

	file := filepath.Join(t.TempDir(), "subs.yaml")
	if err := os.WriteFile(file, synth.ConfigYAML(90, true), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	vars := map[string]string{"LINQ_API_V3_API_KEY": fakeapi.DefaultToken, "LINQ_API_V3_BASE_URL": base}
	penv := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: getenv(vars)}
	if code := cli.Main(ctx, penv, []string{"plan", "-f", file, "-o", "json"}); code != cli.ExitPending {
		t.Fatalf("plan exit = %d, want %d; output: %s", code, cli.ExitPending, out.String())
	}
	d := synth.ExpectedDrift(90)
	for _, want := range []string{
		fmt.Sprintf(`"create": %d`, d.Create),
		fmt.Sprintf(`"update": %d`, d.Update),
		fmt.Sprintf(`"in_sync": %d`, d.InSync),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan JSON lacks %s:\n%s", want, out.String())
		}
	}
	cancel()
	if code := <-done; code != cli.ExitOK {
		t.Errorf("mock-api exit = %d after cancel, want 0", code)
	}
}

func TestMockAPIRefusesNegativeSeedCount(t *testing.T) {
	var stderr bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Getenv: getenv(nil)}
	code := cli.Main(context.Background(), env, []string{"mock-api", "--listen", "127.0.0.1:0", "--seed-count", "-1"})
	if code != cli.ExitError || !strings.Contains(stderr.String(), "--seed-count") {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming --seed-count", code, stderr.String())
	}
}

// account starts the fake API over loopback HTTP with remote seeded, and
// returns it with the environment a command needs to reach it.
func account(t testing.TB, remote []fakeapi.Subscription) (*fakeapi.Server, map[string]string) {
	t.Helper()
	fake := fakeapi.New(fakeapi.Options{Seed: 1})
	fake.Seed(remote...)
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	return fake, map[string]string{"LINQ_API_V3_API_KEY": fakeapi.DefaultToken, "LINQ_API_V3_BASE_URL": ts.URL}
}

// TestApplyMakesTheMinimumNumberOfCalls checks the call budget of one
// apply without faults: one event-type list, one subscription list and one
// write per change, nothing more.
func TestApplyMakesTheMinimumNumberOfCalls(t *testing.T) {
	tests := []struct {
		name   string
		remote []fakeapi.Subscription
		file   []byte
		writes int
	}{
		{"in sync", synth.Account(100), synth.ConfigYAML(100, false), 0},
		{"10 % drift of 1000", synth.Account(1000), synth.ConfigYAML(1000, true), synth.ExpectedDrift(1000).Changes()},
		{"200 creates", nil, synth.CreatesYAML(200), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, vars := account(t, tt.remote)
			dir := t.TempDir()
			file := filepath.Join(dir, "subs.yaml")
			if err := os.WriteFile(file, tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			env := cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: getenv(vars)}
			args := []string{"apply", "-f", file, "--secrets-dir", filepath.Join(dir, "secrets"), "--log-level", "error"}
			if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
				t.Fatal(err)
			}
			if code := cli.Main(context.Background(), env, args); code != cli.ExitOK {
				t.Fatalf("apply exit %d; stderr: %s", code, errb.String())
			}
			calls := fake.Calls()
			total := 0
			for _, n := range calls {
				total += n
			}
			want := map[string]int{
				"GET " + fakeapi.RouteEvents:        1,
				"GET " + fakeapi.RouteSubscriptions: 1,
			}
			if got := fake.Writes(); got != tt.writes {
				t.Errorf("writes = %d, want %d", got, tt.writes)
			}
			for k, n := range want {
				if calls[k] != n {
					t.Errorf("%s called %d times, want %d", k, calls[k], n)
				}
			}
			if min := 2 + tt.writes; total != min {
				t.Errorf("calls = %d, want the minimum %d (%v)", total, min, calls)
			}
		})
	}
}

// BenchmarkParseConfig measures loading a file of n entries.
func BenchmarkParseConfig(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		data := synth.ConfigYAML(n, true)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				parse(b, "bench.yaml", data)
			}
		})
	}
}

// BenchmarkYAMLDecode measures yaml.v3 alone decoding a file of n entries
// into nodes, the floor under BenchmarkParseConfig.
func BenchmarkYAMLDecode(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		data := synth.ConfigYAML(n, true)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var doc yaml.Node
				if err := yaml.Unmarshal(data, &doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkList measures the client listing and decoding n subscriptions
// from the fake API over loopback HTTP.
func BenchmarkList(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, vars := account(b, synth.Account(n))
			c, err := linq.NewClient(vars["LINQ_API_V3_BASE_URL"], fakeapi.DefaultToken)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				subs, err := c.List(context.Background())
				if err != nil || len(subs) != n {
					b.Fatalf("list: %d subscriptions, %v", len(subs), err)
				}
			}
		})
	}
}

// BenchmarkPlan measures `linq-sync plan -o json` in process against the
// fake API over loopback HTTP: load, event types, list, diff and render.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, vars := account(b, synth.Account(n))
			file := filepath.Join(b.TempDir(), "subs.yaml")
			if err := os.WriteFile(file, synth.ConfigYAML(n, true), 0o600); err != nil {
				b.Fatal(err)
			}
			env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: getenv(vars)}
			args := []string{"plan", "-f", file, "-o", "json", "--log-level", "error"}
			b.ReportAllocs()
			for b.Loop() {
				if code := cli.Main(context.Background(), env, args); code != cli.ExitPending {
					b.Fatalf("plan exit %d", code)
				}
			}
		})
	}
}
