// Command probegen prints, as one JSON document, the two probes linq-sync
// sends to an endpoint (the correctly signed one and the forged one),
// exactly as they arrive on the wire, with the signing secret they were made
// for. conformance/probe-check.mjs then verifies them with the official
// SDK's client.webhooks.unwrap(), so that the signing is checked by code
// linq-sync's authors did not write.
//
// It captures the probes with a real probe.Prober run against an HTTPS
// receiver on loopback inside this process, which answers 204 to the first
// and 401 to the second; nothing leaves the machine. The secret is random
// and made for this run only.
//
//	go run ./conformance/probegen > probes.json
package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"

	"github.com/linq-sync/linq-sync/internal/probe"
)

type captured struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

type output struct {
	Secret         string     `json:"secret"`
	Name           string     `json:"name"`
	SubscriptionID string     `json:"subscription_id"`
	WebhookVersion string     `json:"webhook_version"`
	Result         probe.Kind `json:"result"`
	Valid          captured   `json:"valid"`
	Forged         captured   `json:"forged"`
}

func main() {
	os.Exit(run(context.Background(), os.Stdout, os.Stderr))
}

func run(ctx context.Context, stdout, stderr io.Writer) int {
	if err := generate(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "probegen: error: %v\n", err)
		return 1
	}
	return 0
}

func generate(ctx context.Context, w io.Writer) error {
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)

	var (
		mu   sync.Mutex
		reqs []captured
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := map[string]string{}
		for k, v := range r.Header {
			h[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		mu.Lock()
		reqs = append(reqs, captured{Headers: h, Body: string(body)})
		first := len(reqs) == 1
		mu.Unlock()
		if first {
			rw.WriteHeader(http.StatusNoContent)
			return
		}
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	out := output{Secret: secret, Name: "conformance", SubscriptionID: "00000000-0000-4000-8000-000000000001", WebhookVersion: "2026-02-03"}
	p := probe.New(probe.Options{RootCAs: roots})
	res := p.Probe(ctx, probe.Target{
		Name:           out.Name,
		SubscriptionID: out.SubscriptionID,
		TargetURL:      srv.URL + "/webhooks?version=" + out.WebhookVersion,
		Secret:         probe.Secret(secret),
	})
	out.Result = res.Result
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 2 {
		return fmt.Errorf("the receiver got %d probes, want 2 (result %s: %s)", len(reqs), res.Result, res.Hint)
	}
	out.Valid, out.Forged = reqs[0], reqs[1]
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
