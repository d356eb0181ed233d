package metrics

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/diff"
)

// names are the metric families the README documents and the example
// alerts rely on; New must register every one.
var names = []string{
	"linq_sync_drift_subscriptions",
	"linq_sync_reconcile_total",
	"linq_sync_reconcile_duration_seconds",
	"linq_sync_last_reconcile_success_timestamp_seconds",
	"linq_sync_last_reconcile_timestamp_seconds",
	"linq_sync_consecutive_failures",
	"linq_sync_changes_applied_total",
	"linq_sync_change_failures_total",
	"linq_sync_api_requests_total",
	"linq_sync_api_request_duration_seconds",
	"linq_sync_api_retries_total",
	"linq_sync_config_reloads_total",
	"linq_sync_config_last_reload_successful",
	"linq_sync_config_last_reload_success_timestamp_seconds",
	"linq_sync_managed_subscriptions",
	"linq_sync_secrets_lost_total",
	"linq_sync_secrets_missing",
	"linq_sync_leader",
	"linq_sync_build_info",
	// Go and process collectors.
	"go_goroutines",
	"process_start_time_seconds",
}

func TestNewRegistersEveryMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "1.2.3")
	// The API metrics have no pre-set label combination; one call makes
	// them appear.
	m.ObserveRequest("GET", "subscriptions", "200", 10*time.Millisecond)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range names {
		if !got[name] {
			t.Errorf("metric %s is not registered", name)
		}
	}
}

func TestKnownLabelValuesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "1.2.3")
	want := `
# HELP linq_sync_api_retries_total Linq API requests retried, by reason (timeout, connection, status_408, status_429, status_5xx, x_should_retry: a status the server marked retryable).
# TYPE linq_sync_api_retries_total counter
linq_sync_api_retries_total{reason="connection"} 0
linq_sync_api_retries_total{reason="status_408"} 0
linq_sync_api_retries_total{reason="status_429"} 0
linq_sync_api_retries_total{reason="status_5xx"} 0
linq_sync_api_retries_total{reason="timeout"} 0
linq_sync_api_retries_total{reason="x_should_retry"} 0
# HELP linq_sync_change_failures_total Subscription writes that failed, by action (create, update, delete).
# TYPE linq_sync_change_failures_total counter
linq_sync_change_failures_total{action="create"} 0
linq_sync_change_failures_total{action="delete"} 0
linq_sync_change_failures_total{action="update"} 0
# HELP linq_sync_changes_applied_total Subscription writes that took effect, by action (create, update, delete).
# TYPE linq_sync_changes_applied_total counter
linq_sync_changes_applied_total{action="create"} 0
linq_sync_changes_applied_total{action="delete"} 0
linq_sync_changes_applied_total{action="update"} 0
# HELP linq_sync_config_reloads_total Loads of the subscriptions file, the first one included, by result (success, failure).
# TYPE linq_sync_config_reloads_total counter
linq_sync_config_reloads_total{result="failure"} 0
linq_sync_config_reloads_total{result="success"} 0
# HELP linq_sync_drift_subscriptions Changes the last plan found pending after its reconcile, by kind (create, update, delete, unmanaged); 0 everywhere when in sync.
# TYPE linq_sync_drift_subscriptions gauge
linq_sync_drift_subscriptions{kind="create"} 0
linq_sync_drift_subscriptions{kind="delete"} 0
linq_sync_drift_subscriptions{kind="unmanaged"} 0
linq_sync_drift_subscriptions{kind="update"} 0
# HELP linq_sync_reconcile_total Reconciles attempted, by result (success, failure).
# TYPE linq_sync_reconcile_total counter
linq_sync_reconcile_total{result="failure"} 0
linq_sync_reconcile_total{result="success"} 0
`
	err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"linq_sync_api_retries_total", "linq_sync_change_failures_total", "linq_sync_changes_applied_total",
		"linq_sync_config_reloads_total", "linq_sync_drift_subscriptions", "linq_sync_reconcile_total")
	if err != nil {
		t.Error(err)
	}
}

func TestBuildInfoCarriesVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, "1.2.3")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "linq_sync_build_info" {
			continue
		}
		m := mf.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["version"] != "1.2.3" || !strings.HasPrefix(labels["goversion"], "go") || m.GetGauge().GetValue() != 1 {
			t.Errorf("build_info = %v %v, want version 1.2.3, a goversion and value 1", labels, m.GetGauge().GetValue())
		}
		return
	}
	t.Error("linq_sync_build_info missing")
}

func TestObserveReconcileTracksFailuresAndTimestamps(t *testing.T) {
	m := New(prometheus.NewRegistry(), "dev")
	t1 := time.Unix(1000, 0)
	t2 := time.Unix(2000, 500_000_000)
	t3 := time.Unix(3000, 0)
	boom := errors.New("boom")

	m.ObserveReconcile(t1, time.Second, nil)
	m.ObserveReconcile(t2, time.Second, boom)
	m.ObserveReconcile(t2, time.Second, boom)
	steps := []struct {
		name string
		got  float64
		want float64
	}{
		{"consecutive failures after two failures", testutil.ToFloat64(m.consecutiveFailures), 2},
		{"last success", testutil.ToFloat64(m.lastReconcileOK), 1000},
		{"last attempt", testutil.ToFloat64(m.lastReconcile), 2000.5},
		{"failures", testutil.ToFloat64(m.reconciles.WithLabelValues("failure")), 2},
	}
	m.ObserveReconcile(t3, time.Second, nil)
	steps = append(steps, []struct {
		name string
		got  float64
		want float64
	}{
		{"consecutive failures after a success", testutil.ToFloat64(m.consecutiveFailures), 0},
		{"last success after a success", testutil.ToFloat64(m.lastReconcileOK), 3000},
		{"successes", testutil.ToFloat64(m.reconciles.WithLabelValues("success")), 2},
		{"duration observations", float64(testutil.CollectAndCount(m.reconcileDuration)), 1},
	}...)
	for _, s := range steps {
		if s.got != s.want {
			t.Errorf("%s = %v, want %v", s.name, s.got, s.want)
		}
	}
}

func TestObserveReloadRecordsResult(t *testing.T) {
	m := New(prometheus.NewRegistry(), "dev")
	m.ObserveReload(time.Unix(100, 0), nil)
	m.ObserveReload(time.Unix(200, 0), errors.New("bad file"))
	tests := []struct {
		name      string
		got, want float64
	}{
		{"successes", testutil.ToFloat64(m.reloads.WithLabelValues("success")), 1},
		{"failures", testutil.ToFloat64(m.reloads.WithLabelValues("failure")), 1},
		{"last reload successful", testutil.ToFloat64(m.lastReloadOK), 0},
		{"last success time", testutil.ToFloat64(m.lastReloadOKTime), 100},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestDriftChangesAndManaged(t *testing.T) {
	m := New(prometheus.NewRegistry(), "dev")
	m.SetDrift(diff.Summary{Create: 1, Update: 2, Delete: 3, Unmanaged: 4, InSync: 9})
	m.AddChanges(diff.ActionCreate, 2, 1)
	m.AddChanges(diff.ActionDelete, 1, 0)
	m.AddChanges(diff.ActionUnmanaged, 5, 5) // never executed: ignored
	m.SetManaged(7)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"drift create", testutil.ToFloat64(m.drift.WithLabelValues("create")), 1},
		{"drift update", testutil.ToFloat64(m.drift.WithLabelValues("update")), 2},
		{"drift delete", testutil.ToFloat64(m.drift.WithLabelValues("delete")), 3},
		{"drift unmanaged", testutil.ToFloat64(m.drift.WithLabelValues("unmanaged")), 4},
		{"drift series", float64(testutil.CollectAndCount(m.drift)), 4},
		{"applied create", testutil.ToFloat64(m.changesApplied.WithLabelValues("create")), 2},
		{"failed create", testutil.ToFloat64(m.changeFailures.WithLabelValues("create")), 1},
		{"applied delete", testutil.ToFloat64(m.changesApplied.WithLabelValues("delete")), 1},
		{"applied series", float64(testutil.CollectAndCount(m.changesApplied)), 3},
		{"managed", testutil.ToFloat64(m.managed), 7},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestAPILabelsStayBounded(t *testing.T) {
	tests := []struct {
		name                   string
		method, endpoint, code string
		reason                 string
		wantLabels             [3]string
		wantReason             string
	}{
		{"known values pass", "PUT", "subscription", "200", "status_429", [3]string{"PUT", "subscription", "200"}, "status_429"},
		{"no response", "DELETE", "subscription", "error", "timeout", [3]string{"DELETE", "subscription", "error"}, "timeout"},
		{"a URL as endpoint", "GET", "/v3/webhook-subscriptions/5f1c", "404", "eof", [3]string{"GET", "other", "404"}, "other"},
		{"odd method and code", "get", "subscriptions", "2000", "", [3]string{"other", "subscriptions", "other"}, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(prometheus.NewRegistry(), "dev")
			m.ObserveRequest(tt.method, tt.endpoint, tt.code, 20*time.Millisecond)
			m.ObserveRetry(tt.reason)
			l := tt.wantLabels
			if got := testutil.ToFloat64(m.apiRequests.WithLabelValues(l[0], l[1], l[2])); got != 1 {
				t.Errorf("api_requests_total%v = %v, want 1", l, got)
			}
			if got := testutil.CollectAndCount(m.apiRequests); got != 1 {
				t.Errorf("api_requests_total has %d series, want 1", got)
			}
			if got := testutil.ToFloat64(m.apiRetries.WithLabelValues(tt.wantReason)); got != 1 {
				t.Errorf("api_retries_total{reason=%q} = %v, want 1", tt.wantReason, got)
			}
		})
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("GET", "subscriptions", "200", time.Second)
	m.ObserveRetry("timeout")
	m.ObserveReconcile(time.Now(), time.Second, nil)
	m.SetDrift(diff.Summary{Create: 1})
	m.AddChanges(diff.ActionCreate, 1, 1)
	m.ObserveReload(time.Now(), nil)
	m.SetManaged(1)
	if m != nil {
		t.Error("nil receiver changed")
	}
}

// TestPromtoolAcceptsExposition lints the /metrics output with promtool,
// which the Debian package prometheus provides.
func TestPromtoolAcceptsExposition(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not on PATH in CI: .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("promtool not on PATH (apt-get install prometheus)")
	}
	reg := prometheus.NewRegistry()
	m := New(reg, "1.2.3")
	// Exercise every metric so that each family has samples.
	m.ObserveRequest("GET", "subscriptions", "200", 30*time.Millisecond)
	m.ObserveRequest("POST", "subscriptions", "error", time.Second)
	m.ObserveRetry("connection")
	m.ObserveReconcile(time.Now(), 2*time.Second, nil)
	m.ObserveReload(time.Now(), nil)
	m.SetDrift(diff.Summary{Update: 1})
	m.AddChanges(diff.ActionUpdate, 1, 0)
	m.SetManaged(3)

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: err=%v, output:\n%s", err, out)
	}
}

func TestAddSecretsLostCountsByBoundedReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	m.AddSecretsLost("response_lost", 2)
	m.AddSecretsLost("https://evil.example.com/unbounded", 1)
	if got := testutil.ToFloat64(m.secretsLost.WithLabelValues("response_lost")); got != 2 {
		t.Errorf("response_lost = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.secretsLost.WithLabelValues("created_elsewhere")); got != 0 {
		t.Errorf("created_elsewhere = %v, want 0 (initialised)", got)
	}
	if got := testutil.ToFloat64(m.secretsLost.WithLabelValues("other")); got != 1 {
		t.Errorf("an unknown reason was not recorded as other: %v", got)
	}
}

func TestSecretsLostPreRegistersExactlyApplysReasons(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "test")
	var want []string
	for _, r := range apply.LossReasons() {
		want = append(want, string(r))
		m.AddSecretsLost(r, 1)
	}
	// Gathered before anything else touches the vector: an "other" series
	// here means a reason of apply's was not recognised.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != "linq_sync_secrets_lost_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "reason" {
					got = append(got, l.GetValue())
				}
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("reason labels = %v, want %v", got, want)
	}
}
