package k8se2e

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/kubetest"
	"github.com/linq-sync/linq-sync/internal/leader"
	"github.com/linq-sync/linq-sync/internal/proctest"
	"github.com/linq-sync/linq-sync/internal/secrets/kubestore"
)

// bin is the linq-sync binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	if *flagDefaultTimings {
		leaseDuration, renewDeadline, retryPeriod = leader.DefaultLeaseDuration, leader.DefaultRenewDeadline, leader.DefaultRetryPeriod
	}
	os.Exit(proctest.Main(&bin, func() int { return kubetest.Main(m) }))
}

var flagDefaultTimings = flag.Bool("k8se2e.default-timings", false, "elect with the default lease timings (15s/10s/2s) instead of the short test ones (3s/2s/500ms)")

// The lease timings the replicas get: short, so that a takeover takes
// seconds, unless -k8se2e.default-timings.
var (
	leaseDuration = 3 * time.Second
	renewDeadline = 2 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

const interval = time.Second

// cluster is one namespace of the shared apiserver with the shipped RBAC
// applied, a kubeconfig for its ServiceAccount, and one fake Linq account
// with a file of n subscriptions.
type cluster struct {
	t     *testing.T
	srv   *kubetest.Server
	ns    string
	kcfg  string // the ServiceAccount's kubeconfig: the Role and nothing else
	fake  *fakeapi.Server
	cfg   string
	names []string
	file  proctest.File
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	srv := kubetest.Shared(t)
	c := &cluster{t: t, srv: srv, ns: srv.Namespace(t), fake: fakeapi.New(fakeapi.Options{Seed: 1})}
	srv.ApplyFile(t, c.ns, "../../deploy/kubernetes/rbac.yaml")
	c.kcfg = kubetest.WriteKubeconfig(t, srv.ServiceAccountConfig(t, c.ns, "linq-sync"))
	c.file = proctest.WriteFile(t, n, "https://hooks.example.com/k8s")
	c.cfg, c.names = c.file.Path, c.file.Names
	return c
}

// front is a loopback listener of its own in front of the shared fake,
// one per process, so that the calls of each process are counted apart.
type front struct {
	srv   *httptest.Server
	calls atomic.Int64
	conns atomic.Int64
}

func (c *cluster) newFront() *front {
	f := &front{}
	f.srv = proctest.Serve(c.t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		c.fake.ServeHTTP(w, r)
	}), &f.conns)
	return f
}

// command returns the binary run with sub, the file, the store and the
// kubeconfig kcfg, talking to the API at base.
func (c *cluster) command(ctx context.Context, kcfg, base, sub string, args ...string) *exec.Cmd {
	full := []string{sub, "-f", c.cfg, "--base-url", base, "--secrets", "kubernetes:" + c.ns, "--kubeconfig", kcfg, "--log-format", "json"}
	cmd := exec.CommandContext(ctx, bin, append(full, args...)...)
	cmd.Env = proctest.Env(fakeapi.DefaultToken)
	return cmd
}

// run runs the binary to its end.
func (c *cluster) run(kcfg, base, sub string, args ...string) proctest.Outcome {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return proctest.Run(c.t, c.command(ctx, kcfg, base, sub, args...))
}

// replica is one `run --leader-elect` process and its own front.
type replica struct {
	*proctest.Proc
	name  string
	front *front
	addr  string // of /metrics
}

// startReplica starts run --leader-elect with the short timings.
func (c *cluster) startReplica(name string, args ...string) *replica {
	c.t.Helper()
	r := &replica{name: name, front: c.newFront()}
	full := append([]string{
		"--leader-elect", "--leader-elect-namespace", c.ns,
		"--leader-elect-lease-duration", leaseDuration.String(),
		"--leader-elect-renew-deadline", renewDeadline.String(),
		"--leader-elect-retry-period", retryPeriod.String(),
		"--interval", interval.String(), "--listen", "127.0.0.1:0",
	}, args...)
	r.Proc = proctest.Start(c.t, c.command(context.Background(), c.kcfg, r.front.srv.URL, "run", full...))
	c.t.Cleanup(func() {
		r.Kill()
		proctest.NoSecretIn(c.t, r.Stderr.String())
		if c.t.Failed() || os.Getenv("K8SE2E_LOGS") != "" {
			c.t.Logf("%s stderr:\n%s", r.name, proctest.Tail(r.Stderr.String()))
		}
	})
	waitFor(c.t, r.name+" to serve its metrics", func() bool {
		r.addr = proctest.ListenAddr(r.Stderr.String())
		return r.addr != "" || r.Exited()
	})
	if r.addr == "" {
		c.t.Fatalf("%s did not serve metrics (%v); stderr:\n%s", r.name, r.Err(), proctest.Tail(r.Stderr.String()))
	}
	return r
}

// metrics scrapes the replica; nil while it cannot be reached.
func (r *replica) metrics() map[string]float64 {
	if r.Exited() {
		return nil
	}
	return proctest.Scrape(r.addr)
}

// leaders returns the live replicas whose linq_sync_leader is 1, and
// whether every live replica answered.
func leaders(rs []*replica) (lead []*replica, all bool) {
	all = true
	for _, r := range rs {
		if r.Exited() {
			continue
		}
		m := r.metrics()
		if m == nil {
			all = false
			continue
		}
		if _, ok := m["linq_sync_leader"]; !ok {
			all = false
		}
		if m["linq_sync_leader"] == 1 {
			lead = append(lead, r)
		}
	}
	return lead, all
}

// creates is the number of create calls the fake received.
func (c *cluster) creates() int { return c.fake.Count("POST " + fakeapi.RouteSubscriptions) }

// secrets returns the managed Secrets by entry name, read as Admin.
func (c *cluster) secrets() map[string]corev1.Secret {
	c.t.Helper()
	list, err := c.srv.Client(c.t, kubetest.Admin).CoreV1().Secrets(c.ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: kubestore.LabelManagedBy + "=" + kubestore.ManagedBy})
	if err != nil {
		c.t.Fatalf("list Secrets: %v", err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Labels[kubestore.LabelName]] = s
	}
	return out
}

// checkConverged checks that the account holds each subscription of the
// file exactly once, and that each one's Secret holds the signing secret
// the fake handed out for it.
func (c *cluster) checkConverged(stage string) {
	c.t.Helper()
	secs := c.secrets()
	matched := c.file.Match(c.t, stage, c.fake.Snapshot())
	for _, m := range matched {
		name, s := m.Name, m.Sub
		want, _ := c.fake.Secret(s.ID)
		sec, ok := secs[name]
		switch {
		case !ok:
			c.t.Errorf("%s: %s (%s) has no Secret %s%s", stage, name, s.ID, kubestore.DefaultPrefix, name)
		case string(sec.Data["subscription_id"]) != s.ID:
			c.t.Errorf("%s: Secret of %s holds subscription_id %q, want %s", stage, name, sec.Data["subscription_id"], s.ID)
		case want == "" || string(sec.Data["signing_secret"]) != want:
			c.t.Errorf("%s: Secret of %s does not hold the signing secret the fake handed out for %s", stage, name, s.ID)
		}
	}
	if len(matched) != len(c.names) {
		c.t.Errorf("%s: %d subscriptions for the file's %d entries", stage, len(matched), len(c.names))
	}
}

// waitFor polls cond until it holds or a deadline passes; it reports
// whether cond held (a test error otherwise).
func waitFor(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	return proctest.WaitFor(t, what, 20*time.Millisecond, cond)
}

// applyYAML applies manifests to the cluster's namespace as Admin.
func (c *cluster) applyYAML(doc string) {
	c.t.Helper()
	p := filepath.Join(c.t.TempDir(), "objects.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.srv.ApplyFile(c.t, c.ns, p)
}

// runUntil runs the binary until its stderr contains want (a test error
// if it exits or a deadline passes first), then kills it.
func (c *cluster) runUntil(kcfg, base, want, sub string, args ...string) {
	c.t.Helper()
	p := proctest.Start(c.t, c.command(context.Background(), kcfg, base, sub, args...))
	defer p.Kill()
	// The logs are JSON: quotes in their values are escaped.
	said := func() bool { return strings.Contains(strings.ReplaceAll(p.Stderr.String(), `\"`, `"`), want) }
	waitFor(c.t, "linq-sync "+sub+" to say "+want, func() bool { return said() || p.Exited() })
	if !said() {
		c.t.Errorf("linq-sync %s did not say %q (exited: %v); stderr:\n%s", sub, want, p.Exited(), proctest.Tail(p.Stderr.String()))
	}
	proctest.NoSecretIn(c.t, p.Stderr.String())
}
