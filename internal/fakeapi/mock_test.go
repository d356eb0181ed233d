package fakeapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startMock(t *testing.T) (*fakeapi.Mock, *lockedBuffer, string) {
	t.Helper()
	var out lockedBuffer
	m := fakeapi.NewMock(fakeapi.New(fakeapi.Options{Seed: 1}), &out)
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	return m, &out, ts.URL
}

func do(t *testing.T, method, url, body string, auth bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+fakeapi.DefaultToken)
	}
	// A fresh connection per call, so that the transport never retries a
	// dropped call by itself.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestMockLogsEveryCallAsAJSONLineWithSecretsRedacted(t *testing.T) {
	_, out, base := startMock(t)
	code, created := do(t, "POST", base+subsPath, `{"target_url":"https://hooks.example.com/a","subscribed_events":["message.sent"],"signing_secret":"whsec_mine","nested":[{"api_key":"k"}]}`, true)
	if code != 201 {
		t.Fatalf("create: %d %s", code, created)
	}
	do(t, "GET", base+subsPath, "", false) // a 401 is logged too

	var lines []fakeapi.LoggedRequest
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var l fakeapi.LoggedRequest
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out)
	}
	if l := lines[0]; l.Method != "POST" || l.Path != subsPath || l.Status != 201 || l.Time.IsZero() {
		t.Errorf("first line = %+v", l)
	}
	if lines[1].Status != 401 {
		t.Errorf("second line status = %d, want 401", lines[1].Status)
	}
	var sent struct {
		SigningSecret string `json:"signing_secret"`
	}
	json.Unmarshal(created, &sent)
	all := out.String()
	for _, secret := range []string{"whsec_mine", `"k"`, sent.SigningSecret, fakeapi.DefaultToken} {
		if strings.Contains(all, secret) {
			t.Errorf("the log shows %q:\n%s", secret, all)
		}
	}
	if !strings.Contains(all, `"target_url":"https://hooks.example.com/a"`) || !strings.Contains(all, `"[redacted]"`) {
		t.Errorf("the log lacks the body or its redaction:\n%s", all)
	}
}

func TestMockRequestsEndpointCountsCallsAndResets(t *testing.T) {
	_, _, base := startMock(t)
	do(t, "GET", base+subsPath, "", true)
	do(t, "GET", base+subsPath, "", true)
	do(t, "GET", base+"/v3/webhook-events", "", true)
	code, b := do(t, "GET", base+"/_mock/requests", "", false)
	var doc struct {
		Requests []fakeapi.LoggedRequest `json:"requests"`
		Calls    map[string]int          `json:"calls"`
		Writes   int                     `json:"writes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || code != 200 {
		t.Fatalf("GET /_mock/requests: %d %v\n%s", code, err, b)
	}
	if doc.Calls["GET "+subsPath] != 2 || doc.Calls["GET /v3/webhook-events"] != 1 || len(doc.Requests) != 3 || doc.Writes != 0 {
		t.Errorf("doc = %+v", doc)
	}
	if code, _ := do(t, "DELETE", base+"/_mock/requests", "", false); code != 204 {
		t.Errorf("DELETE: %d", code)
	}
	_, b = do(t, "GET", base+"/_mock/requests", "", false)
	if !strings.Contains(string(b), `"requests": []`) || !strings.Contains(string(b), `"calls": {}`) {
		t.Errorf("after reset: %s", b)
	}
}

func TestMockFaultsArmOverHTTP(t *testing.T) {
	m, out, base := startMock(t)
	code, b := do(t, "POST", base+"/_mock/faults", `[{"kind":"error_before","method":"post","times":1,"status":503},{"kind":"drop_before","route":"/v3/webhook-events","times":1}]`, false)
	if code != 201 || len(m.Server().Faults()) != 2 {
		t.Fatalf("POST /_mock/faults: %d %s", code, b)
	}
	if code, _ := do(t, "POST", base+subsPath, `{"target_url":"https://hooks.example.com/a","subscribed_events":["message.sent"]}`, true); code != 503 {
		t.Errorf("faulted create: %d, want 503", code)
	}
	if code, _ := do(t, "GET", base+"/v3/webhook-events", "", true); code != 0 {
		t.Errorf("dropped call answered %d", code)
	}
	if m.Server().Len() != 0 || len(m.Server().Faults()) != 0 {
		t.Errorf("%d subscriptions, %d faults left", m.Server().Len(), len(m.Server().Faults()))
	}
	// The client sees the connection close before the server has logged
	// the call it dropped.
	eventually(t, "the dropped call logged with status 0", func() bool {
		return strings.Contains(out.String(), `"path":"/v3/webhook-events","status":0`)
	})
	for _, bad := range []string{`{"kind":"nope"}`, `{"kind":"latency","delay":"soon"}`, `{"kind":"html","route":"/v3/x"}`, `{"kind":"html","colour":"red"}`, `[{"kind":"html"},{"kind":"x"}]`} {
		if code, b := do(t, "POST", base+"/_mock/faults", bad, false); code != 400 || !strings.Contains(string(b), "error") {
			t.Errorf("POST %s: %d %s", bad, code, b)
		}
	}
	if n := len(m.Server().Faults()); n != 0 {
		t.Errorf("a refused POST armed %d faults", n)
	}
	if code, _ := do(t, "DELETE", base+"/_mock/faults", "", false); code != 204 {
		t.Errorf("DELETE /_mock/faults: %d", code)
	}
	if code, _ := do(t, "GET", base+"/_mock/nothing", "", false); code != 404 {
		t.Errorf("unknown control path: %d", code)
	}
}

func TestParseFaultSpec(t *testing.T) {
	f, err := fakeapi.ParseFaultSpec("rate_limit,method=PUT,route=/v3/webhook-subscriptions/{id},times=2,probability=0.5,retry_after=3s,retry_after_ms=true")
	if err != nil {
		t.Fatal(err)
	}
	want := fakeapi.Fault{Kind: fakeapi.FaultRateLimit, Method: "PUT", Route: fakeapi.RouteSubscription, Times: 2, Probability: 0.5, RetryAfter: 3 * time.Second, RetryAfterMS: true}
	if f.Kind != want.Kind || f.Method != want.Method || f.Route != want.Route || f.Times != want.Times || f.Probability != want.Probability || f.RetryAfter != want.RetryAfter || !f.RetryAfterMS {
		t.Errorf("got %+v, want %+v", f, want)
	}
	for _, bad := range []string{"", "nope", "html,times", "html,times=x", "html,colour=red", "html,probability=2", "latency,delay=-1s"} {
		if _, err := fakeapi.ParseFaultSpec(bad); err == nil {
			t.Errorf("ParseFaultSpec(%q) accepted", bad)
		}
	}
}
