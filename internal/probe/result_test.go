package probe

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestClassifyEveryCombination(t *testing.T) {
	st := func(s int) Answer { return Answer{Status: s} }
	fp := func(a Answer) *Answer { return &a }
	down := Answer{failure: failConnect, Error: "connection refused"}
	slow := Answer{failure: failTimeout, Error: "deadline exceeded"}
	tests := []struct {
		name   string
		valid  Answer
		forged *Answer
		want   Kind
		hint   string
	}{
		{"2xx then 401", st(200), fp(st(401)), Verified, ""},
		{"204 then 400", st(204), fp(st(400)), Verified, ""},
		{"202 then 403", st(202), fp(st(403)), Verified, ""},
		{"forged accepted", st(200), fp(st(200)), NotVerifying, "forged signature"},
		{"forged accepted though valid refused", st(401), fp(st(204)), NotVerifying, "forged signature"},
		{"forged accepted though valid failed", st(500), fp(st(200)), NotVerifying, "forged signature"},
		{"valid 401", st(401), fp(st(401)), RejectsValid, "another signing secret"},
		{"valid 403", st(403), fp(st(403)), RejectsValid, "another signing secret"},
		{"valid 403, forged 500", st(403), fp(st(500)), RejectsValid, "HTTP 403"},
		{"valid 500", st(500), fp(st(500)), Unreachable, "HTTP 500"},
		{"valid 503, forged 401", st(503), fp(st(401)), Unreachable, "HTTP 503"},
		{"valid 429", st(429), fp(st(429)), Unreachable, "busy"},
		{"valid 408", st(408), fp(st(408)), Unreachable, "busy"},
		{"connect error", down, nil, Unreachable, "connection refused"},
		{"timeout", slow, nil, Unreachable, "no answer within 10s"},
		{"tls", Answer{failure: failTLS, Error: "x509: unknown authority"}, nil, Unreachable, "TLS handshake"},
		{"valid 404", st(404), fp(st(404)), RejectsProbe, "nothing receives webhooks"},
		{"valid 410", st(410), fp(st(410)), RejectsProbe, "nothing receives webhooks"},
		{"valid 405", st(405), fp(st(405)), RejectsProbe, "POST"},
		{"valid 400", st(400), fp(st(400)), RejectsProbe, "unknown types"},
		{"valid 422", st(422), fp(st(422)), RejectsProbe, "unknown types"},
		{"valid 418", st(418), fp(st(418)), RejectsProbe, "HTTP 418"},
		{"valid 301", Answer{Status: 301, Location: "https://new.example/h"}, fp(Answer{Status: 301}), Redirects, "https://new.example/h"},
		{"valid 308 without location", st(308), fp(st(308)), Redirects, "Location: none"},
		{"forged 500", st(200), fp(st(500)), Inconclusive, "HTTP 500"},
		{"forged 302", st(200), fp(st(302)), Inconclusive, "HTTP 302"},
		{"forged timed out", st(200), fp(slow), Inconclusive, "no answer within 10s"},
		{"forged refused connection", st(200), fp(down), Inconclusive, "could not be delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hint := classify(tt.valid, tt.forged, 10*time.Second)
			if got != tt.want {
				t.Errorf("classify = %s, want %s (hint %q)", got, tt.want, hint)
			}
			if tt.hint == "" && hint != "" || !strings.Contains(hint, tt.hint) {
				t.Errorf("hint %q, want it to contain %q", hint, tt.hint)
			}
		})
	}
}

var sample = []Result{
	{Name: "orders", SubscriptionID: "s1", TargetURL: "https://a.example/hook", Result: Verified,
		Valid: &Answer{WebhookID: "probe_A", Status: 204}, Forged: &Answer{WebhookID: "probe_B", Status: 401}},
	{Name: "billing", SubscriptionID: "s2", TargetURL: "https://b.example/hook", Result: RejectsValid, Hint: "give it the current secret",
		Valid: &Answer{WebhookID: "probe_C", Status: 401}, Forged: &Answer{WebhookID: "probe_D", Status: 401}},
	{Name: "evil\x1b[31m", SubscriptionID: "s3", TargetURL: "https://c.example/hook", Result: Unreachable, Hint: "could not be delivered",
		Valid: &Answer{WebhookID: "probe_E", Error: "connection refused"}},
	{Name: "legacy", SubscriptionID: "s4", TargetURL: "https://d.example/hook", Result: Skipped, Hint: "no secret held"},
}

func TestTextShowsTableHintsAndSummary(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := `RESULT         NAME          VALID  FORGED  TARGET URL
verified       orders        204    401     https://a.example/hook
rejects-valid  billing       401    401     https://b.example/hook
unreachable    evil\x1b[31m  none   -       https://c.example/hook
skipped        legacy        -      -       https://d.example/hook

hint: billing: rejects-valid: give it the current secret
hint: evil\x1b[31m: unreachable: could not be delivered
hint: legacy: skipped: no secret held

1 verified, 1 rejects-valid, 1 unreachable, 1 skipped
`
	if got := b.String(); got != want {
		t.Errorf("text output:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONCarriesResultsAndSummary(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sample); err != nil {
		t.Fatal(err)
	}
	var got struct {
		FormatVersion int            `json:"format_version"`
		AllVerified   bool           `json:"all_verified"`
		Summary       map[string]int `json:"summary"`
		Results       []struct {
			Name   string `json:"name"`
			Result string `json:"result"`
			Hint   string `json:"hint"`
			Valid  *struct {
				WebhookID string `json:"webhook_id"`
				Status    int    `json:"status"`
				Error     string `json:"error"`
			} `json:"valid"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, b.String())
	}
	if got.FormatVersion != 1 || got.AllVerified {
		t.Errorf("format_version %d, all_verified %v; want 1, false", got.FormatVersion, got.AllVerified)
	}
	if got.Summary["verified"] != 1 || got.Summary["skipped"] != 1 || got.Summary["not-verifying"] != 0 || len(got.Summary) != len(Kinds) {
		t.Errorf("summary %v", got.Summary)
	}
	if len(got.Results) != 4 || got.Results[1].Result != "rejects-valid" || got.Results[1].Hint == "" ||
		got.Results[0].Valid.Status != 204 || got.Results[2].Valid.Error != "connection refused" || got.Results[3].Valid != nil {
		t.Errorf("results %+v", got.Results)
	}
	b.Reset()
	if err := JSON(&b, nil); err != nil || !strings.Contains(b.String(), `"results": []`) || !strings.Contains(b.String(), `"all_verified": true`) {
		t.Errorf("empty report: %v %s", err, b.String())
	}
}

func TestAllVerified(t *testing.T) {
	tests := []struct {
		kinds []Kind
		want  bool
	}{
		{nil, true},
		{[]Kind{Verified, Skipped}, true},
		{[]Kind{Verified, NotHTTPS}, false},
		{[]Kind{Verified, Inconclusive}, false},
		{[]Kind{NotVerifying}, false},
	}
	for _, tt := range tests {
		var rs []Result
		for _, k := range tt.kinds {
			rs = append(rs, Result{Result: k})
		}
		if got := AllVerified(rs); got != tt.want {
			t.Errorf("AllVerified(%v) = %v, want %v", tt.kinds, got, tt.want)
		}
	}
}

func TestMetricsTrackLastResultAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Observe(Result{Name: "a", Result: Verified}, Result{Name: "b", Result: NotVerifying})
	m.Observe(Result{Name: "a", Result: RejectsValid})

	if got := testutil.ToFloat64(m.verified.WithLabelValues("a")); got != 0 {
		t.Errorf("verified{a} = %v after rejects-valid, want 0", got)
	}
	if got := testutil.ToFloat64(m.total.WithLabelValues("a", "verified")); got != 1 {
		t.Errorf("probe_total{a,verified} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.total.WithLabelValues("b", "rejects-valid")); got != 0 {
		t.Errorf("probe_total{b,rejects-valid} = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.last.WithLabelValues("a", "rejects-valid")); got != 1 {
		t.Errorf("probe_result{a,rejects-valid} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.last.WithLabelValues("a", "verified")); got != 0 {
		t.Errorf("probe_result{a,verified} = %v, want 0", got)
	}
	// Each name has one verified series, len(Kinds) counters and len(Kinds) state-set gauges.
	if got, want := testutil.CollectAndCount(m.total), 2*len(Kinds); got != want {
		t.Errorf("%d probe_total series, want %d", got, want)
	}
	m.Retain("b")
	if got := testutil.CollectAndCount(m.verified); got != 1 {
		t.Errorf("%d verified series after Retain(b), want 1", got)
	}
	if got, want := testutil.CollectAndCount(m.last), len(Kinds); got != want {
		t.Errorf("%d probe_result series after Retain(b), want %d", got, want)
	}
	var nilM *Metrics
	nilM.Observe(Result{Name: "x"})
	nilM.Retain()
}

// TestPromtoolAcceptsExposition lints the probe metrics' exposition with
// promtool, which the Debian package prometheus provides.
func TestPromtoolAcceptsExposition(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not on PATH in CI: .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("promtool not on PATH (apt-get install prometheus)")
	}
	reg := prometheus.NewRegistry()
	NewMetrics(reg).Observe(Result{Name: "orders", Result: Verified}, Result{Name: "billing", Result: RejectsValid})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	for _, name := range []string{"linq_sync_endpoint_verified", "linq_sync_endpoint_probe_total", "linq_sync_endpoint_probe_result"} {
		if !strings.Contains(rec.Body.String(), "# TYPE "+name+" ") {
			t.Errorf("exposition lacks %s", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: err=%v, output:\n%s", err, out)
	}
}

func TestSelectByNames(t *testing.T) {
	all := []Target{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	got, err := Select(all, nil)
	if err != nil || len(got) != 3 {
		t.Errorf("Select(all, none) = %v, %v; want all", got, err)
	}
	got, err = Select(all, []string{"c", "a", "a"})
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("Select(c, a) = %v, %v; want a, c", got, err)
	}
	got, err = Select(all, []string{"x", "b", "y"})
	if err == nil || got != nil || err.Error() != `no managed subscription named "x", "y"` {
		t.Errorf("Select(x, b, y) = %v, %v; want an error naming x and y", got, err)
	}
}
