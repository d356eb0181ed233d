package chaos

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/apply"
	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/reconcile"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// malformedDoc wants a create, an update and (policy sync) a delete
// against malformedRemote, so that any misreading of the list would show
// up as a write.
const malformedDoc = `version: 1
policy: sync
subscriptions:
  - name: changed
    target_url: https://hooks.example.com/existing
    subscribed_events: [message.read]
  - name: fresh
    target_url: https://hooks.example.com/fresh
    subscribed_events: [message.sent]
`

const nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// existingItem is the existing subscription as the API lists it.
const existingItem = `{"id":"` + existingID + `","target_url":"https://hooks.example.com/existing","subscribed_events":["message.sent"],"is_active":true}`

func malformedRemote(f *fakeapi.Server) {
	seedExisting(f)
	f.Seed(fakeapi.Subscription{ID: idC, TargetURL: "https://hooks.example.com/stale", SubscribedEvents: []string{"call.ended"}, IsActive: true})
}

// TestMalformedAnswersCauseNoWrites serves damaged answers to the list
// call: Reconcile must fail with an error that says what was wrong, and the
// fake must see no write at all.
func TestMalformedAnswersCauseNoWrites(t *testing.T) {
	cfg, diags := config.Parse("subscriptions.yaml", []byte(malformedDoc))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tests := []struct {
		name  string
		fault fakeapi.Fault
		// want are substrings of the error; malformed says whether it is
		// ErrMalformedResponse (a success status with a body that cannot
		// be read) rather than a retried failure.
		want      []string
		malformed bool
	}{
		{
			name:      "HTML error page with status 200",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultHTML, Status: 200, Body: []byte(nginx502)},
			want:      []string{"list subscriptions", "200 OK", `content type "text/html"`, "502 Bad Gateway", "not JSON"},
			malformed: true,
		},
		{
			name:  "HTML error page with status 502",
			fault: fakeapi.Fault{Kind: fakeapi.FaultHTML},
			want:  []string{"giving up after 4 attempts", "502", "answer without an error envelope", `content type "text/html"`},
		},
		{
			name:      "truncated JSON in a whole answer",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[{"id":"` + existingID + `","target_url":"https://hooks.exa`)},
			want:      []string{"truncated JSON"},
			malformed: true,
		},
		{
			name:  "connection closed mid-answer",
			fault: fakeapi.Fault{Kind: fakeapi.FaultTruncate},
			want:  []string{"giving up after 4 attempts", "answer cut short"},
		},
		{
			name:      "fields of the wrong types",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON},
			want:      []string{"subscriptions[0]", "where a string was expected"},
			malformed: true,
		},
		{
			name:      "subscriptions is not an array",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":{"id":"` + existingID + `"}}`)},
			want:      []string{`"subscriptions" is an object, not an array`},
			malformed: true,
		},
		{
			name:      "no subscriptions field",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"data":[]}`)},
			want:      []string{`no "subscriptions" field`},
			malformed: true,
		},
		{
			name:      "an array instead of an object",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`[]`)},
			want:      []string{"body is an array, not an object"},
			malformed: true,
		},
		{
			name:      "empty body",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(" ")},
			want:      []string{"empty body"},
			malformed: true,
		},
		{
			name:      "200 with an error envelope",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultEnvelope200},
			want:      []string{"error envelope", "status 500, code 3006", "Internal server error"},
			malformed: true,
		},
		{
			name:      "200 with success false",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"success":false,"subscriptions":[]}`)},
			want:      []string{"error envelope", "success is false"},
			malformed: true,
		},
		{
			name:      "a subscription without target_url",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[{"id":"` + existingID + `","subscribed_events":["message.sent"],"is_active":true}]}`)},
			want:      []string{"subscriptions[0]", existingID, "no target_url"},
			malformed: true,
		},
		{
			name: "a repeated id",
			fault: fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` +
				`{"id":"` + existingID + `","target_url":"https://hooks.example.com/a","subscribed_events":[],"is_active":true},` +
				`{"id":"` + existingID + `","target_url":"https://hooks.example.com/b","subscribed_events":[],"is_active":true}]}`)},
			want:      []string{"subscriptions[1]", "repeats subscriptions[0]"},
			malformed: true,
		},
		{
			name:      "subscriptions is null",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":null}`)},
			want:      []string{`"subscriptions" is null, not an array`},
			malformed: true,
		},
		{
			name:      "subscriptions key twice",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `],"subscriptions":[]}`)},
			want:      []string{`key "subscriptions" appears twice`},
			malformed: true,
		},
		{
			name:      "has_more true",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `],"has_more":true}`)},
			want:      []string{`"has_more" = true`, "one page of several"},
			malformed: true,
		},
		{
			name:      "a next link",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `],"next":"/v3/webhook-subscriptions?page=2"}`)},
			want:      []string{`"next"`, "one page of several"},
			malformed: true,
		},
		{
			name:      "a cursor",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"cursor":"c2","subscriptions":[` + existingItem + `]}`)},
			want:      []string{`"cursor"`, "one page of several"},
			malformed: true,
		},
		{
			name:      "a next_cursor",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `],"next_cursor":"c2"}`)},
			want:      []string{`"next_cursor"`, "one page of several"},
			malformed: true,
		},
		{
			name:      "a next_page",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `],"next_page":2}`)},
			want:      []string{`"next_page"`, "one page of several"},
			malformed: true,
		},
		{
			name:      "an id that is a path traversal",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[` + existingItem + `,{"id":"..","target_url":"https://hooks.example.com/x","subscribed_events":[],"is_active":true}]}`)},
			want:      []string{"subscriptions[1]", `".."`, "not a path segment"},
			malformed: true,
		},
		{
			name:      "a timestamp that is not one",
			fault:     fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[{"id":"` + existingID + `","target_url":"https://hooks.example.com/a","subscribed_events":[],"is_active":true,"created_at":"yesterday"}]}`)},
			want:      []string{"created_at", "not RFC 3339"},
			malformed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rig := newBudgetRig(t, fakeapi.Options{}, token)
			malformedRemote(rig.fake)
			f := tc.fault
			f.Method, f.Route = "GET", fakeapi.RouteSubscriptions
			rig.fake.AddFault(f)
			sd, err := secrets.OpenDir(t.TempDir(), secrets.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := reconcile.New(rig.client, reconcile.Options{Rails: diff.Rails{MaxDeletes: 10}, Apply: apply.Options{Secrets: sd}})

			_, err = r.Reconcile(context.Background(), cfg, false)
			if err == nil {
				t.Fatal("Reconcile succeeded on a damaged list answer")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if got := errors.Is(err, linq.ErrMalformedResponse); got != tc.malformed {
				t.Errorf("errors.Is(err, ErrMalformedResponse) = %t, want %t", got, tc.malformed)
			}
			if strings.Contains(err.Error(), token) {
				t.Error("the error quotes the API token")
			}
			if got := rig.fake.Writes(); got != 0 {
				t.Errorf("the fake saw %d writes, want 0", got)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestMalformedRelistCausesNoSecondCreate: after a create fails in doubt,
// apply re-lists before trying again. When that answer is damaged, it must
// not try again (it cannot know whether the first attempt committed).
func TestMalformedRelistCausesNoSecondCreate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fakeapi.Fault
	}{
		{"HTML page with status 200", fakeapi.Fault{Kind: fakeapi.FaultHTML, Status: 200, Body: []byte(nginx502)}},
		{"wrong types", fakeapi.Fault{Kind: fakeapi.FaultBadJSON}},
		{"200 with an error envelope", fakeapi.Fault{Kind: fakeapi.FaultEnvelope200}},
		{"truncated JSON", fakeapi.Fault{Kind: fakeapi.FaultBadJSON, Body: []byte(`{"subscriptions":[{"id":"x"`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fault
			c := fixedCase(`version: 1
subscriptions:
  - name: fresh
    target_url: https://hooks.example.com/fresh
    subscribed_events: [message.sent]
`)
			f.Method, f.Route = "GET", fakeapi.RouteSubscriptions
			var w *world
			w = newWorld(t, c, func(h http.Handler) http.Handler {
				return armOnce(h, "POST", fakeapi.RouteSubscriptions, func() { w.fake.AddFault(f) })
			})
			w.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Method: "POST", Route: fakeapi.RouteSubscriptions, Times: 1})
			rep, err := w.replica("a").r.Reconcile(context.Background(), w.cfg, false)
			if err == nil || len(rep.Result.Failures) != 1 {
				t.Fatalf("Reconcile: %v, failures %+v; want the create to fail", err, rep.Result.Failures)
			}
			if ferr := rep.Result.Failures[0].Err; !errors.Is(ferr, linq.ErrMalformedResponse) || !strings.Contains(ferr.Error(), "re-list") {
				t.Errorf("failure %q does not say that the re-list answer was malformed", ferr)
			}
			if got := w.fake.Writes(); got != 1 {
				t.Errorf("the fake saw %d writes, want 1 (the create in doubt, never repeated)", got)
			}
		})
	}
}

// TestReconcileErrorsNameTheFailedCallOnce: an error says which call failed
// once; "list subscriptions: list subscriptions: ..." reads as two
// failures.
func TestReconcileErrorsNameTheFailedCallOnce(t *testing.T) {
	cfg, diags := config.Parse("subscriptions.yaml", []byte(malformedDoc))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, tc := range []struct {
		name, token, call string
		fault             fakeapi.Fault
	}{
		{"list answer malformed", token, "list subscriptions", fakeapi.Fault{Kind: fakeapi.FaultEnvelope200, Method: "GET", Route: fakeapi.RouteSubscriptions}},
		{"event types refused", "wrong-token", "list event types", fakeapi.Fault{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := newBudgetRig(t, fakeapi.Options{}, tc.token)
			if tc.fault.Kind != 0 {
				rig.fake.AddFault(tc.fault)
			}
			sd, err := secrets.OpenDir(t.TempDir(), secrets.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = reconcile.New(rig.client, reconcile.Options{Apply: apply.Options{Secrets: sd}}).Reconcile(context.Background(), cfg, false)
			if err == nil {
				t.Fatal("Reconcile succeeded")
			}
			if n := strings.Count(err.Error(), tc.call+":"); n != 1 {
				t.Errorf("error %q names %q %d times, want once", err, tc.call, n)
			}
		})
	}
}
