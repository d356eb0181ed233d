package linq_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// waits records the client's waits instead of waiting, and advances a fake
// clock by them.
type waits struct {
	mu  sync.Mutex
	d   []time.Duration
	now time.Time
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	w.now = w.now.Add(d)
	return ctx.Err()
}

func (w *waits) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *waits) recorded() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.d)
}

// fake is a fake API served on 127.0.0.1 with a client pointed at it.
type fake struct {
	srv   *fakeapi.Server
	c     *linq.Client
	waits *waits
	url   string
}

// startFake serves fakeapi.New(opts) and returns a client with recorded
// waits, jitter fixed at 0.5, and a fresh connection per attempt.
func startFake(t *testing.T, opts fakeapi.Options, copts ...linq.Option) *fake {
	t.Helper()
	w := &waits{now: time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = w.clock
	}
	srv := fakeapi.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	token := opts.Token
	if token == "" {
		token = fakeapi.DefaultToken
	}
	return &fake{srv: srv, waits: w, url: ts.URL, c: newClient(t, ts.URL+fakeapi.PartnerPrefix, token, w, copts...)}
}

func newClient(t *testing.T, url, token string, w *waits, copts ...linq.Option) *linq.Client {
	t.Helper()
	opts := append([]linq.Option{
		linq.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}),
		linq.WithSleep(w.sleep),
		linq.WithClock(w.clock),
		linq.WithRand(func() float64 { return 0.5 }),
		linq.WithAttemptTimeout(2 * time.Second),
	}, copts...)
	c, err := linq.NewClient(url, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	listKey   = "GET " + fakeapi.RouteSubscriptions
	createKey = "POST " + fakeapi.RouteSubscriptions
	updateKey = "PUT " + fakeapi.RouteSubscription
	deleteKey = "DELETE " + fakeapi.RouteSubscription
)

var seeded = []fakeapi.Subscription{
	{ID: "11111111-1111-4111-8111-111111111111", TargetURL: "https://hooks.example.com/crm", SubscribedEvents: []string{"message.received", "message.delivered"}, IsActive: true},
	{ID: "22222222-2222-4222-8222-222222222222", TargetURL: "https://hooks.example.com/ops?line=1", SubscribedEvents: []string{"call.ended"}, IsActive: false, PhoneNumbers: []string{"+15551234567"}},
}

func TestAgainstFakeAPIEveryCallWorks(t *testing.T) {
	modes := []struct {
		name string
		opts fakeapi.Options
	}{
		{"phone numbers null", fakeapi.Options{EmptyPhoneNumbers: fakeapi.EmptyPhoneNumbersNull}},
		{"phone numbers empty array", fakeapi.Options{EmptyPhoneNumbers: fakeapi.EmptyPhoneNumbersArray}},
		{"phone numbers omitted, no environment_id", fakeapi.Options{EmptyPhoneNumbers: fakeapi.EmptyPhoneNumbersOmit, OmitEnvironmentID: true}},
		{"phone numbers echoed, unknown fields rejected", fakeapi.Options{EmptyPhoneNumbers: fakeapi.EmptyPhoneNumbersEcho, RejectUnknownFields: true}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := startFake(t, m.opts)
			f.srv.Seed(seeded...)
			ctx := context.Background()

			subs, err := f.c.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != 2 || subs[0].ID != seeded[0].ID || subs[1].ID != seeded[1].ID {
				t.Fatalf("List() = %+v; want the seeded pair", subs)
			}
			if len(subs[0].PhoneNumbers) != 0 || !reflect.DeepEqual(subs[1].PhoneNumbers, seeded[1].PhoneNumbers) {
				t.Errorf("phone numbers = %v, %v", subs[0].PhoneNumbers, subs[1].PhoneNumbers)
			}

			events, err := f.c.EventTypes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(events, fakeapi.DefaultEventTypes) {
				t.Errorf("EventTypes() = %v", events)
			}

			created, err := f.c.Create(ctx, linq.CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.sent"}, PhoneNumbers: []string{"+447700900123"}})
			if err != nil {
				t.Fatal(err)
			}
			secret, _ := f.srv.Secret(created.ID)
			if created.SigningSecret.Reveal() != secret || secret == "" || !created.IsActive {
				t.Errorf("Create() = %+v with secret %q; server issued %q", created.Subscription, created.SigningSecret.Reveal(), secret)
			}

			got, err := f.c.Get(ctx, created.ID)
			if err != nil || got.TargetURL != "https://hooks.example.com/new" {
				t.Errorf("Get() = %+v, %v", got, err)
			}

			inactive, none := false, []string{}
			updated, err := f.c.Update(ctx, created.ID, linq.UpdateParams{IsActive: &inactive, PhoneNumbers: &none})
			if err != nil {
				t.Fatal(err)
			}
			if updated.IsActive || len(updated.PhoneNumbers) != 0 || !reflect.DeepEqual(updated.SubscribedEvents, []string{"message.sent"}) {
				t.Errorf("Update() = %+v; want inactive, unfiltered, events kept", updated)
			}

			if err := f.c.Delete(ctx, seeded[0].ID); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.srv.Get(seeded[0].ID); ok {
				t.Error("the deleted subscription still exists")
			}
			if err := f.c.Delete(ctx, seeded[0].ID); !errors.Is(err, linq.ErrNotFound) {
				t.Errorf("second Delete() = %v; want ErrNotFound", err)
			}
			if _, err := f.c.Get(ctx, seeded[0].ID); !errors.Is(err, linq.ErrNotFound) {
				t.Errorf("Get() of a deleted subscription = %v; want ErrNotFound", err)
			}
			if got := f.srv.Len(); got != 2 {
				t.Errorf("server holds %d subscriptions, want 2", got)
			}
			if n := len(f.waits.recorded()); n != 0 {
				t.Errorf("the client waited %d times without faults", n)
			}
		})
	}
}

func TestAgainstFakeAPIRefusalsAreNotRetried(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong token", func(t *testing.T) {
		f := startFake(t, fakeapi.Options{Token: "right-token"})
		c := newClient(t, f.url, "wrong-token", f.waits)
		_, err := c.List(ctx)
		if !errors.Is(err, linq.ErrUnauthorized) || !strings.Contains(err.Error(), "check the API token") {
			t.Errorf("List() = %v; want ErrUnauthorized telling to check the token", err)
		}
		if strings.Contains(err.Error(), "wrong-token") {
			t.Errorf("error quotes the token: %v", err)
		}
		if n := f.srv.Count(listKey); n != 1 {
			t.Errorf("%d list calls, want 1", n)
		}
	})
	t.Run("read-only token writes", func(t *testing.T) {
		f := startFake(t, fakeapi.Options{ReadOnlyToken: "ro-token"})
		c := newClient(t, f.url, "ro-token", f.waits)
		_, err := c.Create(ctx, linq.CreateParams{TargetURL: "https://h.example/", SubscribedEvents: []string{"message.sent"}})
		if !errors.Is(err, linq.ErrForbidden) || linq.IsAmbiguous(err) {
			t.Errorf("Create() = %v; want ErrForbidden, not ambiguous", err)
		}
		if n := f.srv.Count(createKey); n != 1 {
			t.Errorf("%d create calls, want 1", n)
		}
	})
	t.Run("invalid phone number", func(t *testing.T) {
		f := startFake(t, fakeapi.Options{})
		_, err := f.c.Create(ctx, linq.CreateParams{TargetURL: "https://h.example/", SubscribedEvents: []string{"message.sent"}, PhoneNumbers: []string{"555"}})
		var apiErr *linq.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != fakeapi.CodePhoneNumber || linq.IsAmbiguous(err) {
			t.Errorf("Create() = %v; want 400/1002, not ambiguous", err)
		}
	})
	t.Run("duplicate target url", func(t *testing.T) {
		f := startFake(t, fakeapi.Options{})
		f.srv.Seed(seeded...)
		_, err := f.c.Create(ctx, linq.CreateParams{TargetURL: seeded[0].TargetURL, SubscribedEvents: []string{"message.sent"}})
		if !errors.Is(err, linq.ErrConflict) || !linq.IsAmbiguous(err) {
			t.Errorf("Create() = %v; want ErrConflict and ambiguous (the caller re-lists)", err)
		}
		if n := f.srv.Count(createKey); n != 1 {
			t.Errorf("%d create calls, want 1", n)
		}
	})
}

func TestAgainstFakeAPIFaults(t *testing.T) {
	newSub := linq.CreateParams{TargetURL: "https://hooks.example.com/new", SubscribedEvents: []string{"message.sent"}}
	tests := []struct {
		name  string
		fault fakeapi.Fault
		// call runs the client call under test and returns its error.
		call func(ctx context.Context, c *linq.Client) error
		// check asserts the outcome.
		check func(t *testing.T, f *fake, err error)
	}{
		{
			name:  "list retried through two 500s",
			fault: fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: "GET", Route: fakeapi.RouteSubscriptions, Times: 2},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				wantCount(t, f, listKey, 3)
			},
		},
		{
			name:  "list retried through an HTML 502",
			fault: fakeapi.Fault{Kind: fakeapi.FaultHTML, Method: "GET", Route: fakeapi.RouteSubscriptions, Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				wantCount(t, f, listKey, 2)
			},
		},
		{
			name:  "list retried through a truncated answer",
			fault: fakeapi.Fault{Kind: fakeapi.FaultTruncate, Method: "GET", Route: fakeapi.RouteSubscriptions, Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				wantCount(t, f, listKey, 2)
			},
		},
		{
			name:  "list gives up after five HTML 502s",
			fault: fakeapi.Fault{Kind: fakeapi.FaultHTML, Method: "GET", Route: fakeapi.RouteSubscriptions},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				if !errors.Is(err, linq.ErrServer) || !strings.Contains(err.Error(), "giving up after 5 attempts") ||
					!strings.Contains(err.Error(), `content type "text/html"`) {
					t.Errorf("List() = %v; want giving up after 5 attempts on an HTML page", err)
				}
				wantCount(t, f, listKey, 5)
			},
		},
		{
			name:  "list with wrong types is an error, not retried",
			fault: fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Method: "GET", Route: fakeapi.RouteSubscriptions},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				if !errors.Is(err, linq.ErrMalformedResponse) {
					t.Errorf("List() = %v; want ErrMalformedResponse", err)
				}
				wantCount(t, f, listKey, 1)
			},
		},
		{
			name:  "list 200 carrying an error envelope is an error",
			fault: fakeapi.Fault{Kind: fakeapi.FaultEnvelope200, Method: "GET", Route: fakeapi.RouteSubscriptions},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				if !errors.Is(err, linq.ErrMalformedResponse) || !strings.Contains(err.Error(), "error envelope") {
					t.Errorf("List() = %v; want a malformed answer naming the envelope", err)
				}
			},
		},
		{
			name:  "create waits out a 429 per Retry-After",
			fault: fakeapi.Fault{Kind: fakeapi.FaultRateLimit, Method: "POST", Times: 1, RetryAfter: 3 * time.Second},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.Create(ctx, newSub); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				wantCount(t, f, createKey, 2)
				if got := f.waits.recorded(); !reflect.DeepEqual(got, []time.Duration{3 * time.Second}) {
					t.Errorf("waits = %v, want [3s]", got)
				}
				if f.srv.Len() != 3 {
					t.Errorf("server holds %d subscriptions, want 3", f.srv.Len())
				}
			},
		},
		{
			name:  "create waits out a 429 per HTTP-date Retry-After",
			fault: fakeapi.Fault{Kind: fakeapi.FaultRateLimit, Method: "POST", Times: 1, RetryAfter: 5 * time.Second, RetryAfterHTTPDate: true},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.Create(ctx, newSub); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				if got := f.waits.recorded(); len(got) != 1 || got[0] < 5*time.Second || got[0] > 6*time.Second {
					t.Errorf("waits = %v, want one of 5s to 6s", got)
				}
			},
		},
		{
			name:  "create that committed before a 500 is ambiguous and not retried",
			fault: fakeapi.Fault{Kind: fakeapi.FaultErrorAfter, Method: "POST", Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.Create(ctx, newSub); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantAmbiguous(t, err)
				wantCount(t, f, createKey, 1)
				if lost := f.srv.LostSecrets(); len(lost) != 1 {
					t.Errorf("lost secrets = %v, want one", lost)
				}
			},
		},
		{
			name:  "create whose connection drops before it is handled is still ambiguous",
			fault: fakeapi.Fault{Kind: fakeapi.FaultDropBefore, Method: "POST", Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.Create(ctx, newSub); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantAmbiguous(t, err)
				wantCount(t, f, createKey, 1)
				if f.srv.Len() != 2 {
					t.Errorf("server holds %d subscriptions, want 2", f.srv.Len())
				}
			},
		},
		{
			name:  "create whose answer is truncated is ambiguous",
			fault: fakeapi.Fault{Kind: fakeapi.FaultTruncate, Method: "POST", Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { _, err := c.Create(ctx, newSub); return err },
			check: func(t *testing.T, f *fake, err error) {
				wantAmbiguous(t, err)
				if strings.Contains(err.Error(), "whsec_") {
					t.Errorf("error quotes the secret: %v", err)
				}
				if f.srv.Len() != 3 {
					t.Errorf("server holds %d subscriptions, want 3 (committed)", f.srv.Len())
				}
			},
		},
		{
			name:  "delete whose answer was dropped after commit succeeds on the 404 retry",
			fault: fakeapi.Fault{Kind: fakeapi.FaultDropAfter, Method: "DELETE", Times: 1},
			call:  func(ctx context.Context, c *linq.Client) error { return c.Delete(ctx, seeded[0].ID) },
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				wantCount(t, f, deleteKey, 2)
				if _, ok := f.srv.Get(seeded[0].ID); ok {
					t.Error("subscription still exists")
				}
			},
		},
		{
			name:  "update retried after a slow attempt times out",
			fault: fakeapi.Fault{Kind: fakeapi.FaultLatency, Method: "PUT", Times: 1, Delay: 5 * time.Second},
			call: func(ctx context.Context, c *linq.Client) error {
				active := true
				_, err := c.Update(ctx, seeded[1].ID, linq.UpdateParams{IsActive: &active})
				return err
			},
			check: func(t *testing.T, f *fake, err error) {
				wantNoErr(t, err)
				if got, _ := f.srv.Get(seeded[1].ID); !got.IsActive {
					t.Error("update not applied")
				}
			},
		},
		{
			name: "x-should-retry false stops retries of a 503",
			fault: fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: "GET", Route: fakeapi.RouteSubscriptions, Status: 503,
				Header: http.Header{"X-Should-Retry": {"false"}}},
			call: func(ctx context.Context, c *linq.Client) error { _, err := c.List(ctx); return err },
			check: func(t *testing.T, f *fake, err error) {
				if !errors.Is(err, linq.ErrServer) {
					t.Errorf("List() = %v; want ErrServer", err)
				}
				wantCount(t, f, listKey, 1)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, fakeapi.Options{Seed: 7}, linq.WithAttemptTimeout(300*time.Millisecond))
			f.srv.Seed(seeded...)
			f.srv.AddFault(tt.fault)
			err := tt.call(context.Background(), f.c)
			t.Logf("error: %v", err)
			tt.check(t, f, err)
		})
	}
}

func wantNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantAmbiguous(t *testing.T, err error) {
	t.Helper()
	if !linq.IsAmbiguous(err) {
		t.Fatalf("error %v is not ambiguous", err)
	}
}

func wantCount(t *testing.T, f *fake, key string, want int) {
	t.Helper()
	if got := f.srv.Count(key); got != want {
		t.Errorf("%s called %d times, want %d", key, got, want)
	}
}
