package probe

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func newSecret(t *testing.T) Secret {
	t.Helper()
	key := make([]byte, 24)
	rand.Read(key)
	return Secret("whsec_" + base64.StdEncoding.EncodeToString(key))
}

// receiver is a webhook receiver over HTTPS on loopback, with the test
// server's own CA, that records what it was sent.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*recorded
}

type recorded struct {
	header http.Header
	body   []byte
	query  string
}

func (rc *receiver) requests() []*recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*recorded(nil), rc.reqs...)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body []byte)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, &recorded{header: r.Header.Clone(), body: body, query: r.URL.RawQuery})
		rc.mu.Unlock()
		answer(w, r, body)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// verifying answers as a correct receiver holding secret does: the
// Standard Webhooks library's Verify (timestamp tolerance included), 401
// when it fails, 204 otherwise.
func verifying(t *testing.T, secret Secret) func(http.ResponseWriter, *http.Request, []byte) {
	wh, err := standardwebhooks.NewWebhook(string(secret))
	if err != nil {
		t.Fatal(err)
	}
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func accepting(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusOK) }

func pool(srvs ...*httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	for _, s := range srvs {
		p.AddCert(s.Certificate())
	}
	return p
}

// closedPort returns an https URL on loopback where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr + "/hook"
}

func TestProbeClassifiesReceivers(t *testing.T) {
	secret := newSecret(t)
	good := newReceiver(t, verifying(t, secret))
	stale := newReceiver(t, verifying(t, newSecret(t)))
	open := newReceiver(t, accepting)
	p := New(Options{RootCAs: pool(good.srv, stale.srv, open.srv), Version: "v9.9.9", Timeout: 5 * time.Second})

	tests := []struct {
		name       string
		url        string
		want       Kind
		wantHint   string
		wantValid  int
		wantForged int // -1: not sent
	}{
		{"good", good.srv.URL + "/hook?version=2026-02-03", Verified, "", 204, 401},
		{"stale", stale.srv.URL + "/hook", RejectsValid, "holds another signing secret", 401, 401},
		{"open", open.srv.URL + "/hook", NotVerifying, "forged signature", 200, 200},
		{"down", closedPort(t), Unreachable, "could not be delivered", 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Probe(context.Background(), Target{Name: tt.name, SubscriptionID: "sub-" + tt.name, TargetURL: tt.url, Secret: secret})
			if got.Result != tt.want {
				t.Fatalf("result = %s (hint %q), want %s", got.Result, got.Hint, tt.want)
			}
			if tt.wantHint == "" && got.Hint != "" || !strings.Contains(got.Hint, tt.wantHint) {
				t.Errorf("hint = %q, want it to contain %q", got.Hint, tt.wantHint)
			}
			if got.Valid == nil || got.Valid.Status != tt.wantValid {
				t.Errorf("valid answer = %+v, want status %d", got.Valid, tt.wantValid)
			}
			switch {
			case tt.wantForged < 0 && got.Forged != nil:
				t.Errorf("forged probe sent after the valid one got no answer: %+v", got.Forged)
			case tt.wantForged >= 0 && (got.Forged == nil || got.Forged.Status != tt.wantForged):
				t.Errorf("forged answer = %+v, want status %d", got.Forged, tt.wantForged)
			}
		})
	}
}

func TestProbeIsSignedAsLinqSigns(t *testing.T) {
	secret := newSecret(t)
	rc := newReceiver(t, verifying(t, secret))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := New(Options{RootCAs: pool(rc.srv), Version: "v1.2.3", PartnerID: "partner-1", Now: func() time.Time { return now }})
	// The receiver's library enforces a 5-minute tolerance; with a fixed
	// clock in the past it must refuse even the valid probe.
	if got := p.Probe(context.Background(), Target{Name: "orders", SubscriptionID: "sub-1", TargetURL: rc.srv.URL + "/h?version=2026-02-03&line=1", Secret: secret}); got.Result != RejectsValid {
		t.Fatalf("probe with a clock 5+ minutes off = %s, want rejects-valid", got.Result)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(secret), "whsec_"))
	for i, r := range reqs {
		id := r.header.Get("webhook-id")
		if !strings.HasPrefix(id, "probe_") || len(id) < len("probe_")+20 {
			t.Errorf("request %d: webhook-id %q, want probe_ and a random part", i, id)
		}
		if got, want := r.header.Get("webhook-timestamp"), fmt.Sprint(now.Unix()); got != want {
			t.Errorf("request %d: webhook-timestamp %q, want %q", i, got, want)
		}
		if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "linq-sync/v1.2.3") {
			t.Errorf("request %d: User-Agent %q, want linq-sync/v1.2.3", i, ua)
		}
		if _, ok := r.header["Authorization"]; ok {
			t.Errorf("request %d: has an Authorization header", i)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		// Recompute the signature independently: HMAC-SHA256 over
		// id.timestamp.body with the base64-decoded secret.
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", id, r.header.Get("webhook-timestamp"), r.body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		sig := r.header.Get("webhook-signature")
		if (i == 0) != (sig == want) {
			t.Errorf("request %d: signature %q, independent HMAC %q (the first must match, the second must not)", i, sig, want)
		}
		if !strings.HasPrefix(sig, "v1,") {
			t.Errorf("request %d: signature %q lacks v1,", i, sig)
		}
		var env map[string]any
		if err := json.Unmarshal(r.body, &env); err != nil {
			t.Fatalf("request %d: body is not JSON: %v", i, err)
		}
		want2 := map[string]any{
			"api_version":     "v3",
			"created_at":      "2026-03-01T12:00:00Z",
			"data":            map[string]any{"name": "orders", "subscription_id": "sub-1"},
			"event_id":        id,
			"event_type":      "linq_sync.probe",
			"partner_id":      "partner-1",
			"webhook_version": "2026-02-03",
		}
		for k, v := range want2 {
			if fmt.Sprint(env[k]) != fmt.Sprint(v) {
				t.Errorf("request %d: body %s = %v, want %v", i, k, env[k], v)
			}
		}
		if tr, _ := env["trace_id"].(string); tr == "" {
			t.Errorf("request %d: empty trace_id", i)
		}
		if len(env) != len(want2)+1 {
			t.Errorf("request %d: body has keys %v, want exactly the envelope's 8", i, env)
		}
	}
	if reqs[0].header.Get("webhook-id") == reqs[1].header.Get("webhook-id") {
		t.Error("both probes have the same webhook-id; a receiver deduplicating by it would skip the forged one")
	}
}

// The published vector of the Standard Webhooks reference libraries pins
// the library's signing: secret, id, timestamp and payload to signature.
func TestSigningMatchesPublishedVector(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := wh.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
}

func TestProbeRefusesNonHTTPSWithoutSending(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer plain.Close()
	p := New(Options{})
	for _, u := range []string{plain.URL + "/hook", "ftp://example.invalid/x", "https:///nohost", "https://user:pw@127.0.0.1:1/x", "%zz"} {
		got := p.Probe(context.Background(), Target{Name: "x", TargetURL: u, Secret: newSecret(t)})
		if got.Result != NotHTTPS || got.Hint == "" || got.Valid != nil {
			t.Errorf("%q: %+v, want not-https with a hint and nothing sent", u, got)
		}
		if strings.Contains(got.Hint, "pw") {
			t.Errorf("%q: hint shows the URL's password: %q", u, got.Hint)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the http:// receiver got %d requests, want 0", n)
	}
}

func TestProbeDoesNotFollowRedirects(t *testing.T) {
	secret := newSecret(t)
	final := newReceiver(t, verifying(t, secret))
	redir := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, final.srv.URL+"/hook", http.StatusTemporaryRedirect)
	})
	p := New(Options{RootCAs: pool(final.srv, redir.srv)})
	got := p.Probe(context.Background(), Target{Name: "r", TargetURL: redir.srv.URL + "/old", Secret: secret})
	if got.Result != Redirects || !strings.Contains(got.Hint, final.srv.URL) {
		t.Errorf("result %s, hint %q; want redirects naming the Location", got.Result, got.Hint)
	}
	if n := len(final.requests()); n != 0 {
		t.Errorf("the redirect's target got %d requests, want 0", n)
	}
}

func TestProbeReadsAtMostTheAnswerCap(t *testing.T) {
	secret := newSecret(t)
	wh, _ := standardwebhooks.NewWebhook(string(secret))
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	// A verifying receiver whose accepting answer never ends: a prober that
	// read it all would only stop at its timeout.
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
	})
	p := New(Options{RootCAs: pool(rc.srv), Timeout: 5 * time.Second})
	got := p.Probe(context.Background(), Target{Name: "big", TargetURL: rc.srv.URL, Secret: secret})
	if got.Result != Verified {
		t.Fatalf("result %s (%s), want verified", got.Result, got.Hint)
	}
	if got.Valid.Error != "" {
		t.Errorf("valid probe: %q; the answer was read past the cap until the timeout", got.Valid.Error)
	}
	if len(got.Valid.Body) != bodyShown {
		t.Errorf("kept %d bytes of the answer, want %d", len(got.Valid.Body), bodyShown)
	}
}

type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	c.n += len(p)
	return len(p), nil
}

func TestReadAnswerStopsAtTheCap(t *testing.T) {
	r := &countingReader{}
	shown, err := readAnswer(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.n > MaxAnswerBytes {
		t.Errorf("read %d bytes, want at most %d", r.n, MaxAnswerBytes)
	}
	if r.n < MaxAnswerBytes {
		t.Errorf("read %d bytes, want the whole cap %d (to drain the connection)", r.n, MaxAnswerBytes)
	}
	if len(shown) != bodyShown {
		t.Errorf("kept %d bytes, want %d", len(shown), bodyShown)
	}
}

func TestProbeTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	// The receiver never answers before the test ends: returning when the
	// request's context ends would let the server answer 200 to a client
	// that has not given up yet, if the deadline and the close race.
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { <-release })
	p := New(Options{RootCAs: pool(rc.srv), Timeout: 50 * time.Millisecond})
	got := p.Probe(context.Background(), Target{Name: "slow", TargetURL: rc.srv.URL, Secret: newSecret(t)})
	if got.Result != Unreachable || !strings.Contains(got.Hint, "no answer within 50ms") {
		t.Errorf("result %s, hint %q; want unreachable with no answer within 50ms", got.Result, got.Hint)
	}
	if got.Forged != nil {
		t.Errorf("forged probe sent after a timeout")
	}
}

// selfSigned returns a certificate for 127.0.0.1 signed by its own fresh
// key, which no pool in these tests trusts.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "untrusted test receiver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestProbeChecksCertificates(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	trusted := newReceiver(t, accepting)
	for name, p := range map[string]*Prober{
		"injected roots": New(Options{RootCAs: pool(trusted.srv)}),
		"system roots":   New(Options{}),
	} {
		got := p.Probe(context.Background(), Target{Name: "tls", TargetURL: srv.URL, Secret: newSecret(t)})
		if got.Result != Unreachable || !strings.Contains(got.Hint, "TLS handshake") {
			t.Errorf("%s: result %s, hint %q; want unreachable with a TLS hint", name, got.Result, got.Hint)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("untrusted receiver got %d requests", n)
	}
}

func TestProbeSkipsTargetsWithoutSecret(t *testing.T) {
	var hits atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { hits.Add(1) })
	p := New(Options{RootCAs: pool(rc.srv)})
	rs := p.ProbeAll(context.Background(), []Target{
		{Name: "lost", TargetURL: rc.srv.URL, SkipReason: "the secret was lost when the create's answer did not arrive"},
		{Name: "unknown", TargetURL: rc.srv.URL},
		{Name: "garbled", TargetURL: rc.srv.URL, Secret: "whsec_!!!not-base64"},
	})
	for _, r := range rs {
		if r.Result != Skipped || r.Hint == "" {
			t.Errorf("%s: %s %q, want skipped with a hint", r.Name, r.Result, r.Hint)
		}
	}
	if !strings.Contains(rs[0].Hint, "lost when") {
		t.Errorf("skip reason not used: %q", rs[0].Hint)
	}
	if strings.Contains(rs[2].Hint, "not-base64") {
		t.Errorf("hint shows the secret: %q", rs[2].Hint)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("receiver got %d requests for skipped targets", n)
	}
	if !AllVerified(rs) {
		t.Error("skipped results alone must not fail AllVerified")
	}
}

func TestProbeAllBoundsConcurrency(t *testing.T) {
	const limit, n = 2, 6
	secret := newSecret(t)
	wh, _ := standardwebhooks.NewWebhook(string(secret))
	var inflight, peak atomic.Int32
	gate := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		<-gate
		if wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	p := New(Options{RootCAs: pool(rc.srv), Concurrency: limit})
	var targets []Target
	for i := range n {
		targets = append(targets, Target{Name: fmt.Sprint("t", i), TargetURL: rc.srv.URL, Secret: secret})
	}
	done := make(chan []Result)
	go func() { done <- p.ProbeAll(context.Background(), targets) }()

	deadline := time.Now().Add(5 * time.Second)
	for inflight.Load() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes in flight, want %d", inflight.Load(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	// Give a prober that ignored the limit the chance to start more.
	time.Sleep(50 * time.Millisecond)
	close(gate)
	rs := <-done
	if got := peak.Load(); got != limit {
		t.Errorf("peak probes in flight = %d, want %d", got, limit)
	}
	for i, r := range rs {
		if r.Name != targets[i].Name || r.Result != Verified {
			t.Errorf("result %d = %s %s, want %s verified", i, r.Name, r.Result, targets[i].Name)
		}
	}
}

func TestVerifyAllowsAMoveOnlyWhenVerified(t *testing.T) {
	secret := newSecret(t)
	good := newReceiver(t, verifying(t, secret))
	stale := newReceiver(t, verifying(t, newSecret(t)))
	p := New(Options{RootCAs: pool(good.srv, stale.srv)})
	if _, err := p.Verify(context.Background(), Target{Name: "m", TargetURL: good.srv.URL, Secret: secret}); err != nil {
		t.Errorf("verified endpoint: %v", err)
	}
	r, err := p.Verify(context.Background(), Target{Name: "m", TargetURL: stale.srv.URL, Secret: secret})
	if !IsNotVerified(err) || r.Result != RejectsValid {
		t.Fatalf("stale endpoint: %v, %s; want a NotVerifiedError and rejects-valid", err, r.Result)
	}
	if !strings.Contains(err.Error(), stale.srv.URL) || !strings.Contains(err.Error(), "rejects-valid") {
		t.Errorf("error %q does not name the URL and the result", err)
	}
	if strings.Contains(err.Error(), strings.TrimPrefix(string(secret), "whsec_")) {
		t.Error("error shows the secret")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	s := newSecret(t)
	tg := Target{Name: "n", Secret: s}
	for _, out := range []string{fmt.Sprint(tg), fmt.Sprintf("%+v", tg), fmt.Sprintf("%#v", tg), fmt.Sprint(s)} {
		if strings.Contains(out, strings.TrimPrefix(string(s), "whsec_")) {
			t.Errorf("secret printed: %s", out)
		}
	}
	b, _ := json.Marshal(tg)
	if bytes.Contains(b, []byte(strings.TrimPrefix(string(s), "whsec_"))) {
		t.Errorf("secret in JSON: %s", b)
	}
}
