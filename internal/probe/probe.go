// Package probe checks that a webhook receiver verifies the deliveries
// linq-sync's subscriptions send it. For one endpoint it POSTs a probe signed
// exactly as Linq signs deliveries (Standard Webhooks, with the signing
// secret linq-sync holds), then a second one with a forged signature, and
// names what the two answers show: verified, not-verifying (forged accepted),
// rejects-valid (the receiver holds another secret), unreachable, and the
// rarer cases in between, each with a hint.
//
// Probes go only to HTTPS URLs, with Go's certificate checks, no redirects
// followed, a timeout, a cap on the answer read and a cap on probes in
// flight; they never carry an Authorization header. The package does not
// list subscriptions or read secret stores: callers give it targets and
// render the results with Text or JSON. Only Monitor, the daemon's side,
// logs, through the logger it is given.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/linq-sync/linq-sync/internal/version"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds each probe request, answer included.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrency is how many endpoints ProbeAll probes at once.
	DefaultConcurrency = 4
	// MaxAnswerBytes is the most of an answer's body a probe reads.
	MaxAnswerBytes = 64 << 10
)

// EventType is the event_type of every probe. Receivers are expected to
// ignore event types they do not know and still answer 2xx.
const EventType = "linq_sync.probe"

// Secret is a signing secret ("whsec_" + base64). Its String, GoString and
// LogValue never show the value, so a Target can be printed or logged.
type Secret string

// String returns a placeholder, never the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString returns a placeholder, never the secret.
func (s Secret) GoString() string { return s.String() }

// LogValue returns a placeholder, never the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText returns a placeholder, never the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Target is one endpoint to probe: a managed subscription and the signing
// secret linq-sync holds for it.
type Target struct {
	// Name is the subscription's name in the file.
	Name string
	// SubscriptionID is the subscription's id in the account.
	SubscriptionID string
	// TargetURL is where the probe goes; for a verified move, the new URL.
	TargetURL string
	// Secret is the held signing secret; empty means none is held, and the
	// target is reported as skipped.
	Secret Secret
	// SkipReason says why no secret is held (for example "the secret was
	// lost when the create's answer did not arrive"); it becomes the hint of
	// the skipped result. Used only when Secret is empty.
	SkipReason string
}

// Options configure a Prober. The zero value is usable.
type Options struct {
	// RootCAs, when set, replaces the system roots for certificate checks
	// (tests use it). When nil, Go's defaults apply, SSL_CERT_FILE and
	// SSL_CERT_DIR included.
	RootCAs *x509.CertPool
	// Timeout bounds each probe request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds the endpoints ProbeAll probes at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Version goes into the User-Agent (linq-sync/<version>); "" means the
	// build's version.
	Version string
	// PartnerID fills the envelope's partner_id; "" when unknown.
	PartnerID string
	// Now is the clock for webhook-timestamp and created_at; nil means
	// time.Now.
	Now func() time.Time
}

// Prober sends signed probes. It is safe for concurrent use.
type Prober struct {
	client      *http.Client
	timeout     time.Duration
	concurrency int
	userAgent   string
	partnerID   string
	now         func() time.Time
}

// New returns a Prober with opts applied over the defaults.
func New(opts Options) *Prober {
	p := &Prober{
		timeout:     opts.Timeout,
		concurrency: opts.Concurrency,
		partnerID:   opts.PartnerID,
		now:         opts.Now,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.concurrency <= 0 {
		p.concurrency = DefaultConcurrency
	}
	if p.now == nil {
		p.now = time.Now
	}
	v := opts.Version
	if v == "" {
		v = version.String()
	}
	p.userAgent = "linq-sync/" + v + " (endpoint probe)"

	tr := http.DefaultTransport.(*http.Transport).Clone()
	if opts.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}
	}
	tr.MaxResponseHeaderBytes = MaxAnswerBytes
	p.client = &http.Client{
		Transport: tr,
		Timeout:   p.timeout,
		// A signed request goes to the configured URL or nowhere: a
		// redirect is reported, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// ProbeAll probes every target, at most Options.Concurrency at once, and
// returns one result per target in the order given. Targets without a
// secret are skipped without any request.
func (p *Prober) ProbeAll(ctx context.Context, targets []Target) []Result {
	results := make([]Result, len(targets))
	sem := make(chan struct{}, p.concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		if t.Secret == "" {
			results[i] = p.Probe(ctx, t)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i] = p.Probe(ctx, t) // reports the cancellation
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = p.Probe(ctx, t)
		})
	}
	wg.Wait()
	return results
}

// Probe sends the valid probe to t.TargetURL and, unless it could not be
// delivered at all, the forged one, and classifies the answers.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	r := Result{Name: t.Name, SubscriptionID: t.SubscriptionID, TargetURL: t.TargetURL}
	if t.Secret == "" {
		r.Result = Skipped
		r.Hint = t.SkipReason
		if r.Hint == "" {
			r.Hint = "linq-sync holds no signing secret for this subscription, so it cannot sign a probe; rotate it to get one: linq-sync rotate NAME"
		}
		return r
	}
	webhookVersion, err := checkURL(t.TargetURL)
	if err != nil {
		r.Result = NotHTTPS
		r.Hint = err.Error()
		return r
	}
	valid, forged, err := p.build(t, webhookVersion)
	if err != nil {
		r.Result = Skipped
		r.Hint = fmt.Sprintf("the signing secret held for this subscription is not usable (%v); rotate it to get a new one: linq-sync rotate NAME", err)
		return r
	}
	va := p.send(ctx, t.TargetURL, valid)
	r.Valid = &va
	if va.failure == failNone {
		fa := p.send(ctx, t.TargetURL, forged)
		r.Forged = &fa
	}
	r.Result, r.Hint = classify(va, r.Forged, p.timeout)
	return r
}

// Verify probes t.TargetURL, normally the new URL of a subscription whose
// entry says verify_before_move, and returns a nil error only when the
// endpoint answered as verified, so that the move may proceed. Otherwise
// the error is a *NotVerifiedError whose message says why nothing moves.
func (p *Prober) Verify(ctx context.Context, t Target) (Result, error) {
	r := p.Probe(ctx, t)
	if r.Result != Verified {
		return r, &NotVerifiedError{Result: r}
	}
	return r, nil
}

// NotVerifiedError is Verify's error: the endpoint did not prove that it
// verifies deliveries with the held secret.
type NotVerifiedError struct {
	Result Result
}

func (e *NotVerifiedError) Error() string {
	msg := fmt.Sprintf("%q did not answer the signed probe as verified: %s", e.Result.TargetURL, e.Result.Result)
	if e.Result.Hint != "" {
		msg += " (" + e.Result.Hint + ")"
	}
	return msg
}

// IsNotVerified reports whether err is, or wraps, a *NotVerifiedError.
func IsNotVerified(err error) bool {
	var nv *NotVerifiedError
	return errors.As(err, &nv)
}

// Select returns the targets named in names, in the order of all, or all of
// them when names is empty: the probe command's [NAME...]. A name that no
// target has is an error, listing every such name, and nothing is selected.
func Select(all []Target, names []string) ([]Target, error) {
	if len(names) == 0 {
		return all, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []Target
	for _, t := range all {
		if want[t.Name] {
			out = append(out, t)
			delete(want, t.Name)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for _, n := range names {
			if want[n] {
				unknown = append(unknown, fmt.Sprintf("%q", n))
				delete(want, n)
			}
		}
		return nil, fmt.Errorf("no managed subscription named %s", strings.Join(unknown, ", "))
	}
	return out, nil
}
