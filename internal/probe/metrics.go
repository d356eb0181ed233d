package probe

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports probe results. Its label values are bounded: name takes
// the names of the file's entries, result the Kinds. All methods are safe
// for concurrent use and are no-ops on a nil *Metrics.
//
//   - linq_sync_endpoint_verified{name}: 1 if the last probe of the
//     endpoint was verified, else 0.
//   - linq_sync_endpoint_probe_total{name,result}: probes by result.
//   - linq_sync_endpoint_probe_result{name,result}: 1 for the last probe's
//     result, 0 for every other kind (a state set). Alerts use it because
//     a counter's first increment is invisible to increase() when the
//     series appears already at 1.
type Metrics struct {
	verified *prometheus.GaugeVec
	total    *prometheus.CounterVec
	last     *prometheus.GaugeVec

	mu    sync.Mutex
	names map[string]bool
}

// NewMetrics creates the probe metrics and registers them on reg. It
// panics if they are already registered there, as prometheus.MustRegister
// does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		verified: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "linq_sync",
			Name:      "endpoint_verified",
			Help:      "1 if the last signed probe showed the endpoint verifying webhook signatures with the held secret, else 0.",
		}, []string{"name"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "linq_sync",
			Name:      "endpoint_probe_total",
			Help:      "Signed probes of endpoints, by subscription name and result (verified, not-verifying, rejects-valid, ...).",
		}, []string{"name", "result"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "linq_sync",
			Name:      "endpoint_probe_result",
			Help:      "1 for the result of the last signed probe of the endpoint, 0 for the other results.",
		}, []string{"name", "result"}),
		names: map[string]bool{},
	}
	reg.MustRegister(m.verified, m.total, m.last)
	return m
}

// Observe records results. The first result for a name starts all of its
// series, the counters at 0 for the kinds not seen.
func (m *Metrics) Observe(rs ...Result) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		if !m.names[r.Name] {
			m.names[r.Name] = true
			for _, k := range Kinds {
				m.total.WithLabelValues(r.Name, string(k))
			}
		}
		v := 0.0
		if r.Result == Verified {
			v = 1
		}
		m.verified.WithLabelValues(r.Name).Set(v)
		m.total.WithLabelValues(r.Name, string(r.Result)).Inc()
		for _, k := range Kinds {
			s := 0.0
			if k == r.Result {
				s = 1
			}
			m.last.WithLabelValues(r.Name, string(k)).Set(s)
		}
	}
}

// Retain deletes the series of every name not in names, for entries that
// left the file or subscriptions that were deleted.
func (m *Metrics) Retain(names ...string) {
	if m == nil {
		return
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.names {
		if keep[n] {
			continue
		}
		delete(m.names, n)
		m.verified.DeleteLabelValues(n)
		m.total.DeletePartialMatch(prometheus.Labels{"name": n})
		m.last.DeletePartialMatch(prometheus.Labels{"name": n})
	}
}
