package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Standard Webhooks header names, as Linq sends them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// idPrefix starts every probe's webhook-id and event_id, so that receivers
// can tell probes from deliveries in their logs.
const idPrefix = "probe_"

// apiVersion is the envelope's api_version: the API generation linq-sync
// speaks.
const apiVersion = "v3"

// Envelope is the body of a probe: Linq's delivery envelope.
type Envelope struct {
	APIVersion     string    `json:"api_version"`
	CreatedAt      string    `json:"created_at"`
	Data           ProbeData `json:"data"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	PartnerID      string    `json:"partner_id"`
	TraceID        string    `json:"trace_id"`
	WebhookVersion string    `json:"webhook_version"`
}

// ProbeData is the data of a probe: the subscription it checks.
type ProbeData struct {
	Name           string `json:"name"`
	SubscriptionID string `json:"subscription_id"`
}

// delivery is one probe request as it goes on the wire.
type delivery struct {
	id     string
	header http.Header
	body   []byte
}

// checkURL accepts only absolute https URLs with a host and returns the
// webhook_version that the URL's ?version= query pins ("" when none).
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("target_url %q cannot be parsed, so it was not probed", raw)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("target_url %q is not https: linq-sync sends signed probes only over HTTPS, and Linq delivers only to HTTPS URLs", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("target_url %q has no host, so it was not probed", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("target_url %q carries user credentials, which a probe never sends", redactUser(u))
	}
	return u.Query().Get("version"), nil
}

func redactUser(u *url.URL) string {
	c := *u
	c.User = url.User("redacted")
	return c.String()
}

// build returns the valid probe for t and the forged one: the same
// envelope with its own id, signed with a random key instead of the
// subscription's secret.
func (p *Prober) build(t Target, webhookVersion string) (valid, forged delivery, err error) {
	wh, err := standardwebhooks.NewWebhook(string(t.Secret))
	if err != nil {
		return delivery{}, delivery{}, errors.New("not whsec_ followed by base64")
	}
	wrongKey := make([]byte, 32)
	rand.Read(wrongKey)
	wrong, _ := standardwebhooks.NewWebhookRaw(wrongKey)

	now := p.now()
	valid, err = p.sign(wh, t, webhookVersion, now)
	if err != nil {
		return delivery{}, delivery{}, err
	}
	forged, err = p.sign(wrong, t, webhookVersion, now)
	return valid, forged, err
}

func (p *Prober) sign(wh *standardwebhooks.Webhook, t Target, webhookVersion string, now time.Time) (delivery, error) {
	id := idPrefix + rand.Text()
	body, err := json.Marshal(Envelope{
		APIVersion:     apiVersion,
		CreatedAt:      now.UTC().Format(time.RFC3339Nano),
		Data:           ProbeData{Name: t.Name, SubscriptionID: t.SubscriptionID},
		EventID:        id,
		EventType:      EventType,
		PartnerID:      p.partnerID,
		TraceID:        strings.ToLower(rand.Text()),
		WebhookVersion: webhookVersion,
	})
	if err != nil {
		return delivery{}, fmt.Errorf("encode probe: %w", err)
	}
	ts := time.Unix(now.Unix(), 0)
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		return delivery{}, fmt.Errorf("sign probe: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", p.userAgent)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return delivery{id: id, header: h, body: body}, nil
}

// failure says why a probe got no HTTP answer.
type failure int

const (
	failNone failure = iota
	failTimeout
	failTLS
	failConnect
)

// Answer is what one probe request got.
type Answer struct {
	// WebhookID is the probe's webhook-id, to find it in the receiver's logs.
	WebhookID string `json:"webhook_id"`
	// Status is the HTTP status, 0 when no answer came.
	Status int `json:"status,omitempty"`
	// Location is the Location header of a redirect (not followed).
	Location string `json:"location,omitempty"`
	// Body is the start of the answer's body, cleaned for display.
	Body string `json:"body,omitempty"`
	// Error says why no answer came (connect error, TLS, timeout), or that
	// the answer's body was cut off by the timeout after its status.
	Error string `json:"error,omitempty"`

	failure failure
}

// bodyShown is how much of an answer's body a result keeps for display.
const bodyShown = 200

func (p *Prober) send(ctx context.Context, target string, d delivery) Answer {
	a := Answer{WebhookID: d.id}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		a.failure, a.Error = failConnect, err.Error()
		return a
	}
	req.Header = d.header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		a.failure, a.Error = describe(err)
		return a
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	a.Location = resp.Header.Get("Location")
	shown, err := readAnswer(resp.Body)
	a.Body = cleanBody(shown)
	if err != nil && isTimeout(err) {
		// The status arrived; a body that never ends is cut off by the
		// timeout, and the status still counts.
		a.Error = "answer body cut off by the timeout"
	}
	return a
}

// readAnswer reads at most MaxAnswerBytes of r and returns its first
// bodyShown bytes.
func readAnswer(r io.Reader) ([]byte, error) {
	var shown bytes.Buffer
	lr := io.LimitReader(r, MaxAnswerBytes)
	if _, err := io.CopyN(&shown, lr, bodyShown); err != nil && err != io.EOF {
		return shown.Bytes(), err
	}
	_, err := io.Copy(io.Discard, lr)
	return shown.Bytes(), err
}

func cleanBody(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// describe sorts a transport error and returns its text without the
// request URL, which the result already names.
func describe(err error) (failure, string) {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error()
	}
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		recHdr   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case isTimeout(err):
		return failTimeout, msg
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &recHdr), errors.As(err, &alert):
		return failTLS, msg
	default:
		return failConnect, msg
	}
}
