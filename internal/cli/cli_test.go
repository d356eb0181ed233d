package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line with the given environment variables.
func run(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code := Main(context.Background(), env, args)
	return result{code, out.String(), errb.String()}
}

// account is a fake API over HTTP and the variables that point at it.
func account(t *testing.T, opts fakeapi.Options, subs ...fakeapi.Subscription) (*fakeapi.Server, map[string]string) {
	t.Helper()
	opts.Token = "s3cret-token"
	fake := fakeapi.New(opts)
	fake.Seed(subs...)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, map[string]string{"LINQ_API_V3_BASE_URL": srv.URL, "LINQ_API_V3_API_KEY": "s3cret-token"}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "subscriptions.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoSubs = `version: 1
subscriptions:
  - name: crm
    target_url: https://hooks.example.com/crm
    subscribed_events: [message.received, message.delivered]
  - name: billing
    target_url: https://hooks.example.com/billing
    subscribed_events: [message.sent]
    is_active: false
`

func TestValidateExitCodesAndPositions(t *testing.T) {
	good := writeFile(t, twoSubs)
	if r := run(t, nil, "validate", "-f", good); r.code != ExitOK || !strings.Contains(r.stdout, "valid: 2 subscription(s)") {
		t.Errorf("valid file: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	bad := writeFile(t, "version: 1\nsubscriptions:\n  - name: crm\n    target_url: http://hooks.example.com/crm\n    subscribed_events: [message.received]\n    phone_numbers: [\"555\"]\n")
	r := run(t, nil, "validate", "--file", bad)
	if r.code != ExitError {
		t.Fatalf("invalid file: code %d, want 1", r.code)
	}
	for _, want := range []string{bad + ":4:17: subscriptions[0].target_url", bad + ":6:21: subscriptions[0].phone_numbers[0]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	gh := run(t, nil, "validate", "-f", bad, "-o", "github")
	if gh.code != ExitError || !strings.Contains(gh.stdout, "::error file="+bad+",line=4,col=17::") {
		t.Errorf("github output: code %d\n%s", gh.code, gh.stdout)
	}
}

func TestValidateTakesFileFromEnvironment(t *testing.T) {
	p := writeFile(t, twoSubs)
	if r := run(t, map[string]string{"LINQ_SYNC_FILE": p}, "validate"); r.code != ExitOK {
		t.Errorf("code %d, stderr %s", r.code, r.stderr)
	}
}

func TestPlanExitCodes(t *testing.T) {
	file := writeFile(t, twoSubs)
	fake, vars := account(t, fakeapi.Options{})
	r := run(t, vars, "plan", "-f", file)
	if r.code != ExitPending {
		t.Fatalf("plan with drift: code %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "+ create") || fake.Writes() != 0 {
		t.Errorf("plan output %q, writes %d", r.stdout, fake.Writes())
	}
	if got := fake.Calls()["GET "+fakeapi.RouteSubscriptions]; got != 1 {
		t.Errorf("plan made %d list calls, want 1", got)
	}
	secrets := t.TempDir()
	if a := run(t, vars, "apply", "-f", file, "--secrets-dir", secrets); a.code != ExitOK {
		t.Fatalf("apply: code %d\n%s%s", a.code, a.stdout, a.stderr)
	}
	if r := run(t, vars, "plan", "-f", file); r.code != ExitOK || !strings.Contains(r.stdout, "No changes") && !strings.Contains(r.stdout, "0 to create, 0 to update, 0 to delete") {
		t.Errorf("plan after apply: code %d\n%s", r.code, r.stdout)
	}
	j := run(t, vars, "plan", "-f", file, "-o", "json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil || j.code != ExitOK {
		t.Errorf("plan -o json: code %d, %v\n%s", j.code, err, j.stdout)
	}
}

func TestPlanWithMissingPinnedIDExitsOne(t *testing.T) {
	_, vars := account(t, fakeapi.Options{})
	file := writeFile(t, "version: 1\nsubscriptions:\n  - name: crm\n    id: 6f1c2b1e-0000-4000-8000-000000000000\n    target_url: https://hooks.example.com/crm\n    subscribed_events: [message.received]\n")
	if r := run(t, vars, "plan", "-f", file); r.code != ExitError {
		t.Errorf("code %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPlanOfflineAgainstOldFileNeedsNoToken(t *testing.T) {
	old := writeFile(t, twoSubs)
	next := writeFile(t, strings.Replace(twoSubs, "message.sent]", "message.sent, message.failed]", 1))
	r := run(t, nil, "plan", "--offline", "--against", old, "-f", next, "-o", "markdown")
	if r.code != ExitPending {
		t.Fatalf("code %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "<!-- linq-sync-plan -->") || !strings.Contains(r.stdout, "message.failed") {
		t.Errorf("markdown plan:\n%s", r.stdout)
	}
}

func TestAPICommandsWithoutTokenFailWithHint(t *testing.T) {
	file := writeFile(t, twoSubs)
	r := run(t, map[string]string{"LINQ_API_V3_BASE_URL": "http://127.0.0.1:1"}, "plan", "-f", file)
	if r.code != ExitError || !strings.Contains(r.stderr, "LINQ_API_V3_API_KEY") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

func TestWrongTokenSaysToCheckTheToken(t *testing.T) {
	file := writeFile(t, twoSubs)
	_, vars := account(t, fakeapi.Options{})
	vars["LINQ_API_V3_API_KEY"] = "wrong-token-value"
	r := run(t, vars, "plan", "-f", file)
	if r.code != ExitError || !strings.Contains(r.stderr, "check the API token") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "wrong-token-value") {
		t.Errorf("output leaks the token")
	}
}

func TestTokenFromSystemdCredentialsDirectory(t *testing.T) {
	file := writeFile(t, twoSubs)
	_, vars := account(t, fakeapi.Options{})
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "linq-token"), []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(vars, "LINQ_API_V3_API_KEY")
	vars["CREDENTIALS_DIRECTORY"] = creds
	if r := run(t, vars, "plan", "-f", file); r.code != ExitPending {
		t.Errorf("code %d, want 2\n%s", r.code, r.stderr)
	}
	tf := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tf, []byte("s3cret-token\n"), 0o600)
	delete(vars, "CREDENTIALS_DIRECTORY")
	if r := run(t, vars, "plan", "-f", file, "--token-file", tf); r.code != ExitPending {
		t.Errorf("--token-file: code %d, want 2\n%s", r.code, r.stderr)
	}
}

func TestApplyWithoutSecretsDirRefusesBeforeWriting(t *testing.T) {
	file := writeFile(t, twoSubs)
	fake, vars := account(t, fakeapi.Options{})
	r := run(t, vars, "apply", "-f", file)
	if r.code != ExitError || !strings.Contains(r.stderr, "--secrets-dir") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
	if fake.Writes() != 0 {
		t.Errorf("writes = %d, want 0", fake.Writes())
	}
}

func TestApplyOutputNeverShowsSecretsOrToken(t *testing.T) {
	file := writeFile(t, twoSubs)
	fake, vars := account(t, fakeapi.Options{})
	secrets := t.TempDir()
	r := run(t, vars, "apply", "-f", file, "--secrets-dir", secrets, "--log-level", "debug", "--log-format", "json")
	if r.code != ExitOK {
		t.Fatalf("code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	if strings.Contains(all, "whsec_") || strings.Contains(all, "s3cret-token") {
		t.Errorf("output leaks a secret or the token:\n%s", all)
	}
	for _, s := range fake.Snapshot() {
		sec, ok := fake.Secret(s.ID)
		if ok && strings.Contains(all, sec) {
			t.Errorf("output holds the signing secret of %s", s.ID)
		}
	}
}

func TestExportOutputIsAcceptedUnchangedAndInSync(t *testing.T) {
	_, vars := account(t, fakeapi.Options{},
		fakeapi.Subscription{TargetURL: "https://hooks.example.com/crm?version=2026-02-03", SubscribedEvents: []string{"message.received", "message.sent"}, IsActive: true, PhoneNumbers: []string{"+15551234567"}},
		fakeapi.Subscription{TargetURL: "https://hooks.example.com/crm?version=2026-05-01", SubscribedEvents: []string{"call.ended"}, IsActive: false},
	)
	r := run(t, vars, "export")
	if r.code != ExitOK {
		t.Fatalf("export: code %d\n%s", r.code, r.stderr)
	}
	file := writeFile(t, r.stdout)
	if v := run(t, nil, "validate", "-f", file); v.code != ExitOK {
		t.Fatalf("validate of export: code %d\n%s\n%s", v.code, v.stderr, r.stdout)
	}
	if p := run(t, vars, "plan", "-f", file); p.code != ExitOK {
		t.Errorf("plan of export: code %d, want 0 (in sync)\n%s", p.code, p.stdout)
	}
	if ok, _ := regexp.MatchString(`(?m)^\s+id: `, r.stdout); !ok {
		t.Errorf("export pins no ids:\n%s", r.stdout)
	}
}

func TestUnknownEventTypeIsAnErrorOnline(t *testing.T) {
	file := writeFile(t, strings.Replace(twoSubs, "message.sent]", "poll.created]", 1))
	_, vars := account(t, fakeapi.Options{EventTypes: append([]string{"poll.created"}, fakeapi.DefaultEventTypes...)})
	if r := run(t, vars, "plan", "-f", file); r.code != ExitPending {
		t.Errorf("event the API knows: code %d, want 2\n%s", r.code, r.stderr)
	}
	_, vars2 := account(t, fakeapi.Options{})
	r := run(t, vars2, "plan", "-f", file)
	if r.code != ExitError || !strings.Contains(r.stderr, "poll.created") {
		t.Errorf("event the API does not know: code %d\n%s", r.code, r.stderr)
	}
}

func TestDemoConvergesAndEndsClean(t *testing.T) {
	r := run(t, nil, "demo")
	if r.code != ExitOK {
		t.Fatalf("demo: code %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"+ create", "~ update", "? unmanaged", "0 to create, 0 to update, 0 to delete", "[exit 2;", "[exit 0;"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "whsec_") {
		t.Errorf("demo output shows a signing secret")
	}
}

func TestUnknownCommandAndBadFlags(t *testing.T) {
	if r := run(t, nil, "frobnicate"); r.code != ExitError || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %+v", r)
	}
	if r := run(t, nil, "plan", "-o", "yaml"); r.code != ExitError {
		t.Errorf("bad -o: %+v", r)
	}
	if r := run(t, nil, "version"); r.code != ExitOK || !strings.HasPrefix(r.stdout, "linq-sync ") {
		t.Errorf("version: %+v", r)
	}
}

func TestTokenFileLargerThan64KiBIsRefusedBeforeAnyCall(t *testing.T) {
	file := writeFile(t, twoSubs)
	fake, vars := account(t, fakeapi.Options{})
	delete(vars, "LINQ_API_V3_API_KEY")
	dir := t.TempDir()
	for _, tt := range []struct {
		name   string
		size   int
		refuse bool
	}{
		{"at the limit", 64 << 10, false},
		{"one byte over", 64<<10 + 1, true},
		{"a megabyte", 1 << 20, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake.ResetCalls()
			tf := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			body := []byte("s3cret-token\n")
			body = append(body, bytes.Repeat([]byte("\n"), tt.size-len(body))...)
			if err := os.WriteFile(tf, body, 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, vars, "plan", "-f", file, "--token-file", tf)
			if !tt.refuse {
				if r.code != ExitPending {
					t.Fatalf("code %d, want 2\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code != ExitError || !strings.Contains(r.stderr, "larger than 64 KiB") || !strings.Contains(r.stderr, tf) {
				t.Errorf("code %d, stderr %q; want a refusal naming the file and the 64 KiB limit", r.code, r.stderr)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("%d requests reached the API; want none", n)
			}
		})
	}
}
