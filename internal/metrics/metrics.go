// Package metrics defines every Prometheus metric linq-sync exports and the
// methods that update them. Metrics are registered on the
// prometheus.Registerer the caller passes in, never on the global one, so
// each test and each daemon gets its own registry. Every label takes its
// values from a fixed set (unknown values are folded into "other"), and the
// known combinations start at 0 so that alerts see them before the first
// event. It does not serve HTTP; the daemon does.
//
// All methods are safe for concurrent use and are no-ops on a nil *Metrics,
// so callers can leave metrics out without checking.
package metrics

import (
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/linq"
)

const namespace = "linq_sync"

// Label values.
const (
	resultSuccess = "success"
	resultFailure = "failure"
	other         = "other"
)

var (
	// driftKinds are the values of linq_sync_drift_subscriptions{kind}.
	driftKinds = []diff.Action{diff.ActionCreate, diff.ActionUpdate, diff.ActionDelete, diff.ActionUnmanaged}
	// writeActions are the values of the {action} labels.
	writeActions = []diff.Action{diff.ActionCreate, diff.ActionUpdate, diff.ActionDelete}
	// retryReasons are the values of linq_sync_api_retries_total{reason},
	// as documented on linq.Observer.
	retryReasons = []string{"timeout", "connection", "status_408", "status_429", "status_5xx", "x_should_retry"}
	// methods and endpoints bound the API request labels.
	methods   = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	endpoints = []string{"subscriptions", "subscription", "webhook-events"}
)

// Metrics holds linq-sync's metrics. Create it with New.
type Metrics struct {
	drift               *prometheus.GaugeVec
	reconciles          *prometheus.CounterVec
	reconcileDuration   prometheus.Histogram
	lastReconcileOK     prometheus.Gauge
	lastReconcile       prometheus.Gauge
	consecutiveFailures prometheus.Gauge
	changesApplied      *prometheus.CounterVec
	changeFailures      *prometheus.CounterVec
	apiRequests         *prometheus.CounterVec
	apiDuration         *prometheus.HistogramVec
	apiRetries          *prometheus.CounterVec
	reloads             *prometheus.CounterVec
	lastReloadOK        prometheus.Gauge
	lastReloadOKTime    prometheus.Gauge
	managed             prometheus.Gauge
	secretsLost         *prometheus.CounterVec
	secretsMissing      prometheus.Gauge
	leader              prometheus.Gauge
	buildInfo           *prometheus.GaugeVec
}

// Metrics is the API client's observer.
var _ linq.Observer = (*Metrics)(nil)

// New creates the metrics, registers them and the Go and process
// collectors on reg, and sets linq_sync_build_info for version. It panics if
// a metric is already registered on reg (a programming error, as with
// prometheus.MustRegister).
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "drift_subscriptions",
			Help:      "Changes the last plan found pending after its reconcile, by kind (create, update, delete, unmanaged); 0 everywhere when in sync.",
		}, []string{"kind"}),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "reconcile_total",
			Help:      "Reconciles attempted, by result (success, failure).",
		}, []string{"result"}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "reconcile_duration_seconds",
			Help:      "Duration of one reconcile: list, plan and apply.",
			Buckets:   []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		lastReconcileOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "last_reconcile_success_timestamp_seconds",
			Help:      "Unix time of the end of the last successful reconcile; 0 if none yet.",
		}),
		lastReconcile: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "last_reconcile_timestamp_seconds",
			Help:      "Unix time of the end of the last reconcile attempt, successful or not; 0 if none yet.",
		}),
		consecutiveFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "consecutive_failures",
			Help:      "Reconciles that failed in a row since the last success.",
		}),
		changesApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "changes_applied_total",
			Help:      "Subscription writes that took effect, by action (create, update, delete).",
		}, []string{"action"}),
		changeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "change_failures_total",
			Help:      "Subscription writes that failed, by action (create, update, delete).",
		}, []string{"action"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_requests_total",
			Help:      "HTTP attempts made to the Linq API, by method, endpoint and status code (\"error\" when no response arrived).",
		}, []string{"method", "endpoint", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "api_request_duration_seconds",
			Help:      "Duration of one HTTP attempt to the Linq API, by method and endpoint.",
			Buckets:   []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "endpoint"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_retries_total",
			Help:      "Linq API requests retried, by reason (timeout, connection, status_408, status_429, status_5xx, x_should_retry: a status the server marked retryable).",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "config_reloads_total",
			Help:      "Loads of the subscriptions file, the first one included, by result (success, failure).",
		}, []string{"result"}),
		lastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_successful",
			Help:      "1 if the last load of the subscriptions file succeeded, 0 if it failed and an older config is in force.",
		}),
		lastReloadOKTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_last_reload_success_timestamp_seconds",
			Help:      "Unix time of the last successful load of the subscriptions file.",
		}),
		managed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "managed_subscriptions",
			Help:      "Remote subscriptions the file manages, as of the last reconcile that listed the account.",
		}),
		secretsMissing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "secrets_missing",
			Help:      "Managed subscriptions whose signing secret is lost (created here, and not held by the secret store), as of the last reconcile that listed the account. Cure: linq-sync rotate, or --rotate-lost-secrets.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "leader",
			Help:      "1 while this replica leads (with --leader-elect, the one replica that writes), 0 while it follows; 1 without leader election.",
		}),
		secretsLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "secrets_lost_total",
			Help:      "Subscriptions that exist without their signing secret stored here, by reason (response_lost: our create committed but its answer never arrived; created_elsewhere: another writer created it first; outcome_unknown: a create may have committed and could not be confirmed; no_secret: the create answer carried no secret; not_stored: the secret arrived but could not be written; interrupted: a plan found a journalled create whose secret was never stored; mismatch: a plan found a stored secret that belongs to another subscription). Each subscription is counted once.",
		}, []string{"reason"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "build_info",
			Help:      "Always 1; the labels say which linq-sync build is running.",
		}, []string{"version", "goversion"}),
	}

	reg.MustRegister(
		m.drift, m.reconciles, m.reconcileDuration, m.lastReconcileOK, m.lastReconcile,
		m.consecutiveFailures, m.changesApplied, m.changeFailures, m.apiRequests,
		m.apiDuration, m.apiRetries, m.reloads, m.lastReloadOK, m.lastReloadOKTime,
		m.managed, m.secretsLost, m.secretsMissing, m.leader, m.buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	for _, k := range driftKinds {
		m.drift.WithLabelValues(string(k))
	}
	for _, r := range []string{resultSuccess, resultFailure} {
		m.reconciles.WithLabelValues(r)
		m.reloads.WithLabelValues(r)
	}
	for _, a := range writeActions {
		m.changesApplied.WithLabelValues(string(a))
		m.changeFailures.WithLabelValues(string(a))
	}
	for _, r := range retryReasons {
		m.apiRetries.WithLabelValues(r)
	}
	for _, r := range apply.LossReasons() {
		m.secretsLost.WithLabelValues(string(r))
	}
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	m.leader.Set(1) // without leader election every replica writes
	return m
}

// ObserveRequest records one HTTP attempt to the API. It implements
// linq.Observer.
func (m *Metrics) ObserveRequest(method, endpoint, code string, d time.Duration) {
	if m == nil {
		return
	}
	method, endpoint = oneOf(method, methods), oneOf(endpoint, endpoints)
	m.apiRequests.WithLabelValues(method, endpoint, statusCode(code)).Inc()
	m.apiDuration.WithLabelValues(method, endpoint).Observe(d.Seconds())
}

// ObserveRetry records that the client will retry a request. It implements
// linq.Observer.
func (m *Metrics) ObserveRetry(reason string) {
	if m == nil {
		return
	}
	m.apiRetries.WithLabelValues(oneOf(reason, retryReasons)).Inc()
}

// ObserveReconcile records a reconcile attempt that ended at end after
// taking d; err nil means it succeeded. It counts the attempt, updates the
// timestamps and the run of consecutive failures.
func (m *Metrics) ObserveReconcile(end time.Time, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.reconcileDuration.Observe(d.Seconds())
	m.lastReconcile.Set(unixSeconds(end))
	if err != nil {
		m.reconciles.WithLabelValues(resultFailure).Inc()
		m.consecutiveFailures.Inc()
		return
	}
	m.reconciles.WithLabelValues(resultSuccess).Inc()
	m.lastReconcileOK.Set(unixSeconds(end))
	m.consecutiveFailures.Set(0)
}

// SetDrift sets linq_sync_drift_subscriptions from the pending changes of
// the last plan. s.InSync is not a drift and is ignored.
func (m *Metrics) SetDrift(s diff.Summary) {
	if m == nil {
		return
	}
	m.drift.WithLabelValues(string(diff.ActionCreate)).Set(float64(s.Create))
	m.drift.WithLabelValues(string(diff.ActionUpdate)).Set(float64(s.Update))
	m.drift.WithLabelValues(string(diff.ActionDelete)).Set(float64(s.Delete))
	m.drift.WithLabelValues(string(diff.ActionUnmanaged)).Set(float64(s.Unmanaged))
}

// AddChanges counts applied writes that took effect and failed writes of
// one action. Actions other than create, update and delete are ignored.
func (m *Metrics) AddChanges(action diff.Action, applied, failed int) {
	if m == nil || !isWriteAction(action) {
		return
	}
	if applied > 0 {
		m.changesApplied.WithLabelValues(string(action)).Add(float64(applied))
	}
	if failed > 0 {
		m.changeFailures.WithLabelValues(string(action)).Add(float64(failed))
	}
}

// ObserveReload records a load of the subscriptions file at t; err nil
// means it succeeded and the new config is in force.
func (m *Metrics) ObserveReload(t time.Time, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.reloads.WithLabelValues(resultFailure).Inc()
		m.lastReloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues(resultSuccess).Inc()
	m.lastReloadOK.Set(1)
	m.lastReloadOKTime.Set(unixSeconds(t))
}

// SetManaged sets the number of remote subscriptions the file manages.
func (m *Metrics) SetManaged(n int) {
	if m == nil {
		return
	}
	m.managed.Set(float64(n))
}

func isWriteAction(a diff.Action) bool {
	for _, w := range writeActions {
		if a == w {
			return true
		}
	}
	return false
}

// oneOf returns v if it is in known, else "other", keeping label values
// bounded whatever a caller passes.
func oneOf(v string, known []string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return other
}

// statusCode keeps the code label to "error" or a three-digit HTTP status.
func statusCode(code string) string {
	if code == "error" {
		return code
	}
	if n, err := strconv.Atoi(code); err == nil && n >= 100 && n <= 599 && len(code) == 3 {
		return code
	}
	return other
}

// unixSeconds is t as fractional Unix seconds.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leading bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
}

// SetSecretsMissing records how many managed subscriptions' secrets are
// lost.
func (m *Metrics) SetSecretsMissing(n int) {
	if m == nil {
		return
	}
	m.secretsMissing.Set(float64(n))
}

// AddSecretsLost counts subscriptions created without their secret stored
// here; reason is one of apply.LossReasons (anything else is recorded as
// "other").
func (m *Metrics) AddSecretsLost(reason apply.LossReason, n int) {
	if m == nil || n <= 0 {
		return
	}
	label := other
	if slices.Contains(apply.LossReasons(), reason) {
		label = string(reason)
	}
	m.secretsLost.WithLabelValues(label).Add(float64(n))
}
