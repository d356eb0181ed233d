package proctest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestScrapeSumsEachMetricOverItsLabels(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("# HELP linq_sync_leader x\n# TYPE linq_sync_leader gauge\nlinq_sync_leader 1\n" +
			"linq_sync_api_requests_total{code=\"200\"} 3\nlinq_sync_api_requests_total{code=\"500\"} 2\n"))
	}))
	defer srv.Close()
	got := Scrape(strings.TrimPrefix(srv.URL, "http://"))
	if got["linq_sync_leader"] != 1 || got["linq_sync_api_requests_total"] != 5 || len(got) != 2 {
		t.Errorf("Scrape = %v, want leader 1 and api_requests_total 5", got)
	}
	srv.Close()
	if got := Scrape(strings.TrimPrefix(srv.URL, "http://")); got != nil {
		t.Errorf("Scrape of a closed server = %v, want nil", got)
	}
}

func TestListenAddrReadsTheDaemonsLogLine(t *testing.T) {
	log := `{"msg":"config loaded"}` + "\nnot json\n" + `{"msg":"serving metrics and health checks","addr":"127.0.0.1:4567"}` + "\n"
	if got := ListenAddr(log); got != "127.0.0.1:4567" {
		t.Errorf("ListenAddr = %q, want 127.0.0.1:4567", got)
	}
	if got := ListenAddr(`{"msg":"config loaded"}`); got != "" {
		t.Errorf("ListenAddr before the line = %q, want empty", got)
	}
}

func TestNoSecretInFailsOnASigningSecret(t *testing.T) {
	for _, tc := range []struct {
		s    string
		fail bool
	}{
		{"created subscription sub-01", false},
		{"secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
	} {
		ft := &fakeTB{TB: t}
		NoSecretIn(ft, tc.s)
		if ft.failed != tc.fail {
			t.Errorf("NoSecretIn(%q) failed = %v, want %v", tc.s, ft.failed, tc.fail)
		}
	}
}

// fakeTB records Errorf instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
