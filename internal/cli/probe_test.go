package cli

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// TestProbeCommandTellsEachReceiverCaseApart runs the real binary, as a
// user would, with SSL_CERT_FILE trusting the receivers' test CA: one
// receiver verifies with the right secret, one holds a stale secret, one
// accepts anything, one is down.
func TestProbeCommandTellsEachReceiverCaseApart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "linq-sync")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/linq-sync/linq-sync/cmd/linq-sync").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	secrets := t.TempDir()
	// One TLS server, four receivers by path; its certificate is the CA.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verify := func(secret string) bool {
			wh, err := standardwebhooks.NewWebhook(secret)
			return err == nil && wh.Verify(body, r.Header) == nil
		}
		switch r.URL.Path {
		case "/good":
			b, _ := os.ReadFile(filepath.Join(secrets, "good.secret"))
			if !verify(string(b)) {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		case "/stale":
			if !verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		case "/open":
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	down := httptest.NewTLSServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, vars := account(t, fakeapi.Options{})
	doc := "version: 1\nsubscriptions:\n"
	for name, url := range map[string]string{"good": srv.URL + "/good", "stale": srv.URL + "/stale", "open": srv.URL + "/open", "down": downURL + "/down"} {
		doc += "  - name: " + name + "\n    target_url: " + url + "\n    subscribed_events: [message.received]\n"
	}
	file := writeFile(t, doc)
	cmd := func(args ...string) (string, string, int) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "LINQ_API_V3_BASE_URL="+vars["LINQ_API_V3_BASE_URL"], "LINQ_API_V3_API_KEY="+vars["LINQ_API_V3_API_KEY"], "SSL_CERT_FILE="+ca)
		var out, errb strings.Builder
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if _, stderr, code := cmd("apply", "-f", file, "--secrets-dir", secrets); code != 0 {
		t.Fatalf("apply exit %d: %s", code, stderr)
	}
	out, stderr, code := cmd("probe", "-f", file, "--secrets-dir", secrets, "-o", "json")
	if code != 1 {
		t.Errorf("probe exit %d, want 1 (not every endpoint verified); stderr %s", code, stderr)
	}
	var doc2 struct {
		AllVerified bool `json:"all_verified"`
		Results     []struct {
			Name, Result, Hint string
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc2); err != nil {
		t.Fatalf("probe -o json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range doc2.Results {
		got[r.Name] = r.Result
		if r.Result != "verified" && r.Hint == "" {
			t.Errorf("%s: %s with no hint", r.Name, r.Result)
		}
	}
	want := map[string]string{"good": "verified", "stale": "rejects-valid", "open": "not-verifying", "down": "unreachable"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	if doc2.AllVerified {
		t.Error("all_verified is true")
	}
	text, _, code := cmd("probe", "-f", file, "--secrets-dir", secrets, "good")
	if code != 0 || !strings.Contains(text, "verified") {
		t.Errorf("probe good: exit %d, output %q; want 0 and verified", code, text)
	}
	if strings.Contains(out+text+stderr, "s3cret-token") {
		t.Error("the API token appears in the probe's output")
	}
	if _, stderr, code := cmd("probe", "-f", file, "--secrets-dir", secrets, "nope"); code != 1 || !strings.Contains(stderr, `"nope"`) {
		t.Errorf("unknown name: exit %d, stderr %q", code, stderr)
	}
}
