package daemon

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/probe"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// appReceiver is a receiving app over HTTPS that verifies each delivery
// with the secret linq-sync stored for name, read at each request as an
// app reading NAME.secret would.
type appReceiver struct {
	srv   *httptest.Server
	hits  atomic.Int64
	valid atomic.Int64
}

func newAppReceiver(t *testing.T, store *secrets.Dir, name string) *appReceiver {
	a := &appReceiver{}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		secret, err := store.Secret(r.Context(), name)
		if err != nil {
			http.Error(w, "no secret yet", http.StatusUnauthorized)
			return
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		a.valid.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func TestProbesCheckANewEndpointAtOnceAndThenOnTheInterval(t *testing.T) {
	fake, client, store := newProbeEnv(t)
	app := newAppReceiver(t, store, "crm")
	cfg, diags := config.Parse("s.yaml", []byte("version: 1\nsubscriptions:\n  - name: crm\n    target_url: "+app.srv.URL+"/hook\n    subscribed_events: [message.received]\n"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := reconcile.New(client, reconcile.Options{Rails: diff.DefaultRails(), Apply: apply.Options{Secrets: store}})
	roots := x509.NewCertPool()
	roots.AddCert(app.srv.Certificate())
	reg := prometheus.NewRegistry()
	pm := probe.NewMetrics(reg)
	p := NewProbes(r, store, probe.NewMonitor(probe.New(probe.Options{RootCAs: roots}), pm, nil), 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Probing is off until an interval is set: a create sends no probe.
	off := parseConfig(t, app.srv.URL+"/off")
	if _, err := p.Reconciler(ctx).Reconcile(ctx, off, Mode{}); err != nil {
		t.Fatal(err)
	}
	p.probing.Wait()
	if n := app.hits.Load(); n != 0 {
		t.Fatalf("with probing off, %d probes were sent", n)
	}
	cfg.ProbeInterval = time.Hour // as probe_interval in the file
	cfg.Subscriptions = append(cfg.Subscriptions, off.Subscriptions...)

	rec := p.Reconciler(ctx)
	if _, err := rec.Reconcile(ctx, cfg, Mode{}); err != nil {
		t.Fatal(err)
	}
	// The create is probed at once: one valid probe, one forged.
	waitFor(t, "linq_sync_endpoint_verified{name=crm} = 1", func() bool {
		return gauge(reg, "linq_sync_endpoint_verified", "crm") == 1
	})
	if app.valid.Load() != 1 {
		t.Errorf("valid deliveries = %d, want 1 (the forged probe must be refused)", app.valid.Load())
	}

	// No periodic probes until an interval is set; then they follow it.
	p.flag = 20 * time.Millisecond
	go p.Run(ctx)
	before := app.hits.Load()
	if _, err := rec.Reconcile(ctx, cfg, Mode{}); err != nil { // a reconcile applies the interval
		t.Fatal(err)
	}
	apiBefore := len(fake.Requests())
	waitFor(t, "periodic probes", func() bool { return app.hits.Load() >= before+4 })
	if n := len(fake.Requests()) - apiBefore; n != 0 {
		t.Errorf("the API saw %d calls during the periodic probes: probes must make none", n)
	}
}

// gauge returns the value of the gauge called metric whose name label is
// name, or -1 when there is none.
func gauge(reg *prometheus.Registry, metric, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func TestProbesRecheckANewEndpointThatDidNotVerifyYet(t *testing.T) {
	_, client, store := newProbeEnv(t)
	// The app picks up the new secret only after its first two requests,
	// as an app whose Secret volume has not been updated yet.
	var seen atomic.Int64
	app := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if seen.Add(1) <= 2 {
			http.Error(w, "unknown key", http.StatusUnauthorized)
			return
		}
		secret, _ := store.Secret(r.Context(), "crm")
		wh, _ := standardwebhooks.NewWebhook(secret)
		if wh == nil || wh.Verify(body, r.Header) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(app.Close)
	cfg, _ := config.Parse("s.yaml", []byte("version: 1\nsubscriptions:\n  - name: crm\n    target_url: "+app.URL+"/hook\n    subscribed_events: [message.received]\n"))
	r := reconcile.New(client, reconcile.Options{Rails: diff.DefaultRails(), Apply: apply.Options{Secrets: store}})
	roots := x509.NewCertPool()
	roots.AddCert(app.Certificate())
	reg := prometheus.NewRegistry()
	p := NewProbes(r, store, probe.NewMonitor(probe.New(probe.Options{RootCAs: roots}), probe.NewMetrics(reg), nil), time.Hour)
	var rechecks atomic.Int64
	p.afterNew = func(d time.Duration, f func()) {
		if d != RecheckAfter {
			t.Errorf("recheck after %v, want %v", d, RecheckAfter)
		}
		rechecks.Add(1)
		go f()
	}
	ctx := context.Background()
	if _, err := p.Reconciler(ctx).Reconcile(ctx, cfg, Mode{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recheck to verify the endpoint", func() bool {
		return gauge(reg, "linq_sync_endpoint_verified", "crm") == 1
	})
	p.probing.Wait()
	if rechecks.Load() != 1 {
		t.Errorf("rechecks = %d, want 1", rechecks.Load())
	}
}

// newProbeEnv returns a fake API on loopback, a client of it and a dir store.
func newProbeEnv(t *testing.T) (*fakeapi.Server, *linq.Client, *secrets.Dir) {
	t.Helper()
	fake := fakeapi.New(fakeapi.Options{Token: "t0ken"})
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	client, err := linq.NewClient(api.URL, "t0ken")
	if err != nil {
		t.Fatal(err)
	}
	store, err := secrets.OpenDir(filepath.Join(t.TempDir(), "s"), secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fake, client, store
}

func parseConfig(t *testing.T, url string) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("s.yaml", []byte("version: 1\nsubscriptions:\n  - name: off\n    target_url: "+url+"\n    subscribed_events: [message.read]\n"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// countingStore counts the secrets read back from a store.
type countingStore struct {
	secrets.Store
	reads atomic.Int64
}

func (s *countingStore) Secret(ctx context.Context, name string) (string, error) {
	s.reads.Add(1)
	return s.Store.Secret(ctx, name)
}

func TestProbesReadNoSecretWhileProbingIsOff(t *testing.T) {
	_, client, dir := newProbeEnv(t)
	store := &countingStore{Store: dir}
	r := reconcile.New(client, reconcile.Options{Rails: diff.DefaultRails(), Apply: apply.Options{Secrets: store}})
	p := NewProbes(r, store, probe.NewMonitor(probe.New(probe.Options{}), probe.NewMetrics(prometheus.NewRegistry()), nil), 0)
	ctx := context.Background()
	cfg := parseConfig(t, "https://hooks.example.com/off")
	for range 2 { // the create, then a reconcile with the subscription in sync
		if _, err := p.Reconciler(ctx).Reconcile(ctx, cfg, Mode{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.reads.Load(); n != 0 {
		t.Errorf("with probing off, the reconciles read %d secrets back from the store, want 0", n)
	}
	cfg.ProbeInterval = time.Hour
	if _, err := p.Reconciler(ctx).Reconcile(ctx, cfg, Mode{}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := p.Targets(ctx); len(ts) != 1 || ts[0].Secret == "" {
		t.Errorf("once probing is on, targets = %+v, want the one endpoint with its held secret", ts)
	}
}
