package linq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAttemptTimeout bounds one HTTP attempt, the answer's body included.
const DefaultAttemptTimeout = 30 * time.Second

// Routes, relative to the base URL.
const (
	routeSubscriptions = "/v3/webhook-subscriptions"
	routeEvents        = "/v3/webhook-events"
)

// Endpoint labels given to Observer.ObserveRequest.
const (
	endpointSubscriptions = "subscriptions"
	endpointSubscription  = "subscription"
	endpointEvents        = "webhook-events"
)

// Client is a Linq API v3 client for webhook subscriptions. It retries what
// is safe to repeat according to its RetryPolicy and never repeats a create
// that may have reached the server. A Client is safe for concurrent use.
type Client struct {
	base           string // scheme://host/path, no trailing slash
	token          string
	hc             *http.Client
	policy         RetryPolicy
	obs            Observer
	log            *slog.Logger
	userAgent      string
	attemptTimeout time.Duration
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error

	randMu sync.Mutex
	rand   func() float64
}

var _ API = (*Client)(nil)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send through hc. Redirects are never
// followed whatever hc says (a redirected write could change method or lose
// its body); hc itself is not modified.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithRetryPolicy sets the retry policy; its zero fields keep their
// defaults. RetryPolicy{MaxAttempts: 1} disables retries.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) { c.policy = p }
}

// WithObserver reports every attempt and retry to o, for metrics.
func WithObserver(o Observer) Option {
	return func(c *Client) { c.obs = o }
}

// WithLogger logs retries to l at debug level. The token and secrets are
// never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithUserAgent sets the whole User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithVersion sets the User-Agent header to linq-sync/version.
func WithVersion(version string) Option {
	return func(c *Client) { c.userAgent = "linq-sync/" + version }
}

// WithRand sets the source of backoff jitter: a function returning numbers
// in [0, 1), such as (*rand.Rand).Float64. Calls are serialized, so a
// source that is not safe for concurrent use is fine.
func WithRand(f func() float64) Option {
	return func(c *Client) {
		if f != nil {
			c.rand = f
		}
	}
}

// WithSleep replaces the wait between attempts. sleep must return early
// with ctx.Err() when ctx ends. Tests use it to record waits instead of
// waiting.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) {
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// WithClock replaces the clock used to read HTTP-date Retry-After values
// and to measure a call's total time against RetryPolicy.MaxElapsed.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithAttemptTimeout bounds each HTTP attempt, the body included; the
// default is DefaultAttemptTimeout. The caller's context bounds the call.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *Client) { c.attemptTimeout = d }
}

// NewClient returns a client for the API at baseURL (for example
// DefaultBaseURL; a trailing slash is fine) that authenticates with token.
func NewClient(baseURL, token string, opts ...Option) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	c := &Client{
		base:           base,
		token:          token,
		hc:             &http.Client{Transport: defaultTransport()},
		policy:         DefaultRetryPolicy(),
		obs:            nopObserver{},
		log:            slog.New(slog.DiscardHandler),
		userAgent:      "linq-sync/dev",
		attemptTimeout: DefaultAttemptTimeout,
		now:            time.Now,
		sleep:          sleepCtx,
		rand:           rand.Float64,
	}
	for _, o := range opts {
		o(c)
	}
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	if err := c.policy.validate(); err != nil {
		return nil, err
	}
	c.policy = c.policy.withDefaults()
	if c.attemptTimeout <= 0 {
		return nil, fmt.Errorf("attempt timeout %s must be positive", c.attemptTimeout)
	}
	if strings.ContainsAny(c.userAgent, "\r\n") {
		return nil, errors.New("user agent must be one line")
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

// maxIdleConnsPerHost keeps a connection per concurrent write alive
// between calls; net/http's default of 2 would make every apply with
// --concurrency above 2 open (and, against the real API, TLS-handshake) a
// new connection for most calls.
const maxIdleConnsPerHost = 64

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}

// parseBaseURL checks an API root and returns it without trailing slashes.
func parseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		return "", errors.New("base URL must start with http:// or https://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole input, which may hold credentials.
		return "", errors.New("base URL is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL scheme %q: must be http or https", u.Scheme)
	case u.Host == "":
		return "", errors.New("base URL has no host")
	case u.User != nil:
		return "", errors.New("base URL must not carry credentials; the token is sent as a header")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("base URL %q must not have a query or fragment", u.Redacted())
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		// The bearer token travels in every request's header.
		return "", fmt.Errorf("base URL %q: plain http would send the API token in clear; use https (http is allowed only to a loopback address: 127.0.0.0/8, ::1, localhost)", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// isLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a literal loopback address. Names other than localhost are
// not resolved: what a name resolves to can change after the check.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// checkToken rejects a token that cannot be sent as a header. The error
// never quotes the token.
func checkToken(token string) error {
	if token == "" {
		return errors.New("API token is empty")
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return errors.New("API token contains whitespace or control characters")
		}
	}
	return nil
}

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) ObserveRequest(string, string, string, time.Duration) {}
func (nopObserver) ObserveRetry(string)                                  {}

// List returns every subscription of the account.
func (c *Client) List(ctx context.Context) ([]Subscription, error) {
	r := &request{method: http.MethodGet, path: routeSubscriptions, endpoint: endpointSubscriptions, maxBody: maxListBody, idempotent: true,
		decode: func(body io.Reader, size int64) (any, error) { return decodeListAnswer(body, size) }}
	res, _, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	if res.decodeErr != nil {
		return nil, fmt.Errorf("list subscriptions: %w", c.malformed(r, res, res.decodeErr))
	}
	return res.value.([]Subscription), nil
}

// Get returns one subscription; a missing one is ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (Subscription, error) {
	path, err := subscriptionPath(id)
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription: %w", err)
	}
	r := &request{method: http.MethodGet, path: path, endpoint: endpointSubscription, maxBody: maxItemBody, idempotent: true}
	res, _, err := c.do(ctx, r)
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription: %w", err)
	}
	s, err := decodeSubscription(res.body)
	if err == nil && s.ID != id {
		err = fmt.Errorf("answer is for subscription %q", s.ID)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("get subscription: %w", c.malformed(r, res, err))
	}
	return s, nil
}

// Create creates a subscription and returns it with its signing secret.
//
// A create is retried only when it certainly did not reach the server's
// handler: a connection that was never made, a 429, or a 4xx marked
// x-should-retry: true. After any failure that may have committed (timeout,
// dropped connection, 5xx, 408, 409, or a success answer that cannot be
// read) the error wraps ErrAmbiguous and the cause, and the caller must
// re-list before trying again. Error texts never quote the answer's body,
// which may hold the secret.
func (c *Client) Create(ctx context.Context, p CreateParams) (CreatedSubscription, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return CreatedSubscription{}, fmt.Errorf("create subscription: encode: %w", err)
	}
	r := &request{method: http.MethodPost, path: routeSubscriptions, endpoint: endpointSubscriptions, body: body, maxBody: maxItemBody, secretBody: true}
	res, _, err := c.do(ctx, r)
	if err != nil {
		return CreatedSubscription{}, fmt.Errorf("create subscription: %w", err)
	}
	created, err := decodeCreated(res.body)
	if err != nil {
		// The server said yes, so the subscription exists; its secret is lost.
		return CreatedSubscription{}, fmt.Errorf("create subscription: %w: %w", ErrAmbiguous, c.malformed(r, res, err))
	}
	return created, nil
}

// Update changes the fields p sets and returns the result. It sends the
// explicit new values (PUT), so it is safe to repeat and is retried like a
// read. An update that sets nothing is refused without a call.
func (c *Client) Update(ctx context.Context, id string, p UpdateParams) (Subscription, error) {
	path, err := subscriptionPath(id)
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription: %w", err)
	}
	if p.IsZero() {
		return Subscription{}, fmt.Errorf("update subscription %q: nothing to change", id)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription %q: encode: %w", id, err)
	}
	r := &request{method: http.MethodPut, path: path, endpoint: endpointSubscription, body: body, maxBody: maxItemBody, idempotent: true}
	res, _, err := c.do(ctx, r)
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription: %w", err)
	}
	s, err := decodeSubscription(res.body)
	if err == nil && s.ID != id {
		err = fmt.Errorf("answer is for subscription %q", s.ID)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("update subscription: %w", c.malformed(r, res, err))
	}
	return s, nil
}

// Delete removes a subscription; it is retried like a read. A 404 after an
// earlier attempt that may have committed (a timeout, dropped connection,
// 408 or 5xx) counts as success; any other 404 is ErrNotFound.
func (c *Client) Delete(ctx context.Context, id string) error {
	path, err := subscriptionPath(id)
	if err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	r := &request{method: http.MethodDelete, path: path, endpoint: endpointSubscription, maxBody: maxItemBody, idempotent: true, discardBody: true}
	_, st, err := c.do(ctx, r)
	if err != nil {
		if st.mayHaveCommitted && errors.Is(err, ErrNotFound) {
			c.log.LogAttrs(ctx, slog.LevelDebug, "delete found the subscription gone after a retry",
				slog.String("path", path), slog.Int("attempts", st.attempts))
			return nil
		}
		return fmt.Errorf("delete subscription: %w", err)
	}
	return nil
}

// EventTypes returns the event types the API accepts.
func (c *Client) EventTypes(ctx context.Context) ([]string, error) {
	r := &request{method: http.MethodGet, path: routeEvents, endpoint: endpointEvents, maxBody: maxItemBody, idempotent: true}
	res, _, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	events, err := decodeEventTypes(res.body)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", c.malformed(r, res, err))
	}
	return events, nil
}

// subscriptionPath is the route of one subscription. An id that is not a
// safe path segment is refused without a request.
func subscriptionPath(id string) (string, error) {
	if err := CheckID(id); err != nil {
		return "", err
	}
	return routeSubscriptions + "/" + id, nil
}

// maxIDLength is the longest subscription id accepted (ids are UUIDs).
const maxIDLength = 256

// CheckID returns an error unless id is usable as one path segment as it
// stands: 1 to 256 of the URL-unreserved characters (letters, digits, "-",
// ".", "_", "~") and neither "." nor "..". Anything else (a slash, a
// percent sign, a control character) could make a request path that names
// another resource, such as DELETE /v3/webhook-subscriptions/.., so such
// an id is refused rather than escaped. The error quotes the id safely.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("empty subscription id")
	case id == "." || id == "..":
		return fmt.Errorf("subscription id %q is not a path segment", id)
	case len(id) > maxIDLength:
		return fmt.Errorf("subscription id %q... is longer than %d bytes", truncate(sanitize(id), 40), maxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			what := "a non-ASCII byte"
			if c < 0x80 {
				what = strconv.QuoteRune(rune(c))
			}
			return fmt.Errorf("subscription id %q has %s, which is not safe in a request path", truncate(sanitize(id), 80), what)
		}
	}
	return nil
}

// malformed wraps a decoding problem of a success answer with the request,
// the status, what the body looked like, and ErrMalformedResponse.
func (c *Client) malformed(r *request, res *response, err error) error {
	desc := ""
	if trimmed := bytes.TrimSpace(res.body); len(trimmed) > 0 && trimmed[0] != '{' && trimmed[0] != '[' || !isJSONMediaType(res.header.Get("Content-Type")) {
		if d := describeBody(res.header.Get("Content-Type"), res.body, !r.secretBody, []string{c.token}); d != "" {
			desc = " (" + d + ")"
		}
	}
	return fmt.Errorf("%s %s: %s%s: %w: %w", r.method, r.path, statusText(res.status), desc, ErrMalformedResponse, err)
}

// request is one API call, repeated per attempt.
type request struct {
	method, path, endpoint string
	body                   []byte
	maxBody                int64
	// idempotent requests are retried per shouldRetry; others (create)
	// per createShouldRetry, and their uncertain failures are ambiguous.
	idempotent bool
	// secretBody marks an answer that may carry a secret: never quoted.
	secretBody bool
	// discardBody marks a call whose success body is not read (delete).
	discardBody bool
	// decode, when set, decodes a success body from its reader, given the
	// length the answer declares (-1 when unknown), so that the body is
	// held whole only when the decoder chooses to (the list, up to
	// maxBody, only when it declares a moderate length).
	decode func(body io.Reader, size int64) (any, error)
}

// response is a success answer, its body read. For a request with a
// decode function, value and decodeErr are its result and body holds only
// the first maxErrorBody bytes, for messages.
type response struct {
	status    int
	header    http.Header
	body      []byte
	value     any
	decodeErr error
}

// callState is what a call learned over its attempts.
type callState struct {
	attempts int
	// mayHaveCommitted is true once an attempt that may have changed the
	// server failed (no answer after sending, 408, 5xx).
	mayHaveCommitted bool
}

// attemptResult is the outcome of one HTTP attempt.
type attemptResult struct {
	resp *http.Response // status and headers; body already read into body
	body []byte
	// err is a transport error (no usable answer); sent reports whether a
	// connection was had, after which the server may have seen the request.
	err  error
	sent bool
	// tooLarge marks a success body over the cap.
	tooLarge bool
	// value and decodeErr are the result of the request's decode function.
	value     any
	decodeErr error
}

// do runs r with retries and returns the first success answer, or the
// final error: an *APIError for an error status, a transport error, each
// wrapped with "giving up after N attempts" when retries ran out, and with
// ErrAmbiguous for a non-idempotent request that may have committed.
func (c *Client) do(ctx context.Context, r *request) (*response, callState, error) {
	var st callState
	start := c.now()
	for {
		if err := ctx.Err(); err != nil {
			return nil, st, fmt.Errorf("%s %s: %w", r.method, r.path, err)
		}
		st.attempts++
		ar := c.attempt(ctx, r)

		// The caller's context ended: stop, whatever the attempt saw.
		if ar.err != nil && ctx.Err() != nil {
			err := fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
			if !r.idempotent && ar.sent {
				return nil, st, fmt.Errorf("%w: %w", ErrAmbiguous, err)
			}
			return nil, st, err
		}

		var (
			lastErr error
			retry   bool
			reason  string
		)
		switch {
		case ar.err != nil:
			lastErr = fmt.Errorf("%s %s: %w", r.method, r.path, ar.err)
			if r.idempotent {
				retry, reason = shouldRetry(nil, ar.err)
			} else {
				retry, reason = createShouldRetry(nil, ar.err, ar.sent)
			}
			if !r.idempotent && ar.sent && !retry {
				return nil, st, fmt.Errorf("%w: %w", ErrAmbiguous, lastErr)
			}
			if ar.sent {
				st.mayHaveCommitted = true
			}
		case ar.resp.StatusCode >= 200 && ar.resp.StatusCode < 300:
			res := &response{status: ar.resp.StatusCode, header: ar.resp.Header, body: ar.body, value: ar.value, decodeErr: ar.decodeErr}
			if ar.tooLarge && !r.discardBody {
				err := c.malformed(r, res, fmt.Errorf("body larger than %d bytes", r.maxBody))
				if !r.idempotent {
					err = fmt.Errorf("%w: %w", ErrAmbiguous, err)
				}
				return nil, st, err
			}
			return res, st, nil
		default:
			status := ar.resp.StatusCode
			apiErr := errorFromResponse(r.method, r.path, status, ar.resp.Header.Get("Content-Type"), ar.body, !r.secretBody, c.token)
			lastErr = apiErr
			// Say what to check in the words of the sentinel.
			switch status {
			case http.StatusUnauthorized:
				lastErr = fmt.Errorf("%w: %w", ErrUnauthorized, apiErr)
			case http.StatusForbidden:
				lastErr = fmt.Errorf("%w: %w", ErrForbidden, apiErr)
			}
			if r.idempotent {
				retry, reason = shouldRetry(ar.resp, nil)
			} else {
				retry, reason = createShouldRetry(ar.resp, nil, true)
				if !retry && mayHaveCommitted(status) {
					return nil, st, fmt.Errorf("%w: %w", ErrAmbiguous, lastErr)
				}
			}
			if status == http.StatusRequestTimeout || status >= 500 {
				st.mayHaveCommitted = true
			}
		}

		if !retry {
			return nil, st, lastErr
		}
		if st.attempts >= c.policy.MaxAttempts {
			return nil, st, fmt.Errorf("giving up after %s: %w", plural(st.attempts, "attempt"), lastErr)
		}
		now := c.now()
		wait, fromServer := c.policy.backoff(st.attempts, ar.resp, c.jitter(), now)
		if fromServer && wait > c.policy.MaxRetryAfter {
			return nil, st, fmt.Errorf("giving up after %s: server asked to wait %s, more than the %s limit: %w",
				plural(st.attempts, "attempt"), wait, c.policy.MaxRetryAfter, lastErr)
		}
		if elapsed := now.Sub(start); elapsed+wait > c.policy.MaxElapsed {
			return nil, st, fmt.Errorf("giving up after %s: the next try would pass the %s limit: %w",
				plural(st.attempts, "attempt"), c.policy.MaxElapsed, lastErr)
		}
		c.obs.ObserveRetry(reason)
		c.log.LogAttrs(ctx, slog.LevelDebug, "retrying api request",
			slog.String("method", r.method),
			slog.String("path", r.path),
			slog.Int("attempt", st.attempts),
			slog.Duration("wait", wait),
			slog.String("reason", reason),
			slog.String("error", lastErr.Error()))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, st, fmt.Errorf("giving up after %s: %w: %w", plural(st.attempts, "attempt"), err, lastErr)
		}
	}
}

// attempt sends r once and reads the answer's body, within the attempt
// timeout, and reports it to the observer.
func (c *Client) attempt(ctx context.Context, r *request) (ar attemptResult) {
	started := time.Now()
	defer func() {
		code := "error"
		if ar.err == nil {
			code = strconv.Itoa(ar.resp.StatusCode)
		}
		c.obs.ObserveRequest(r.method, r.endpoint, code, time.Since(started))
	}()

	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	var gotConn atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body) // a fresh reader per attempt: the body is rewound
	}
	req, err := http.NewRequestWithContext(actx, r.method, c.base+r.path, body)
	if err != nil {
		return attemptResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return attemptResult{err: c.explain(ctx, actx, unwrapURLError(err)), sent: gotConn.Load()}
	}
	defer resp.Body.Close()
	limit := int64(maxErrorBody)
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	if success {
		limit = r.maxBody
	}
	if success && r.decode != nil {
		return c.decodeAttempt(ctx, actx, r, resp, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return attemptResult{err: fmt.Errorf("%s answer cut short: %w", statusText(resp.StatusCode), c.explain(ctx, actx, err)), sent: true}
	}
	ar = attemptResult{resp: resp, body: b, sent: true}
	if int64(len(b)) > limit {
		ar.body = b[:limit]
		ar.tooLarge = success
	}
	return ar
}

// decodeAttempt decodes a success answer with r.decode as it arrives,
// reading at most limit+1 bytes, and keeps only its first maxErrorBody
// bytes, for messages. Whatever the decoder built is dropped unless the
// whole answer was read and decoded.
func (c *Client) decodeAttempt(ctx, actx context.Context, r *request, resp *http.Response, limit int64) attemptResult {
	rec := &recordingReader{r: io.LimitReader(resp.Body, limit+1)}
	size := resp.ContentLength
	if size > limit {
		size = -1 // over the cap: read as it comes until the cap says no
	}
	v, err := r.decode(rec, size)
	ar := attemptResult{resp: resp, body: rec.head, sent: true}
	switch {
	case rec.err != nil:
		return attemptResult{err: fmt.Errorf("%s answer cut short: %w", statusText(resp.StatusCode), c.explain(ctx, actx, rec.err)), sent: true}
	case rec.n > limit:
		ar.tooLarge = true
	case err != nil:
		ar.decodeErr = err
	default:
		ar.value = v
	}
	return ar
}

// recordingReader counts what is read through it, keeps its first
// maxErrorBody bytes and remembers the first read error other than EOF.
type recordingReader struct {
	r    io.Reader
	n    int64
	head []byte
	err  error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	if room := maxErrorBody - len(rr.head); room > 0 {
		rr.head = append(rr.head, p[:min(n, room)]...)
	}
	if err != nil && err != io.EOF && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// explain adds what a bare transport error means: the attempt timeout ran
// out (and not the caller's context), or the server closed the connection.
func (c *Client) explain(ctx, actx context.Context, err error) error {
	switch {
	case ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer within the %s attempt timeout: %w", c.attemptTimeout, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("connection closed before an answer: %w", err)
	}
	return err
}

// unwrapURLError drops the *url.Error around a transport error: its text
// repeats the full URL, and the method and route are added by the caller.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// jitter draws from the jitter source.
func (c *Client) jitter() float64 {
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return c.rand()
}

// plural renders "1 attempt" or "3 attempts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
