package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var ctx = context.Background()

func openDir(t *testing.T) *Dir {
	t.Helper()
	d, err := OpenDir(filepath.Join(t.TempDir(), "secrets"), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func rec(name, id string) Record {
	return Record{Name: name, SubscriptionID: id, TargetURL: "https://example.com/" + name, CreatedAt: time.Unix(1700000000, 0).UTC()}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestDirPutWritesExactlyTheSecretAndItsRecord(t *testing.T) {
	d := openDir(t)
	if err := d.Put(ctx, rec("crm", "sub-1"), "whsec_abc", KeepNone); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Path("crm"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "whsec_abc" {
		t.Errorf("NAME.secret = %q, want exactly the secret", got)
	}
	for _, f := range []string{"crm.secret", "crm.json"} {
		fi, err := os.Stat(filepath.Join(d.path, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, fi.Mode().Perm())
		}
	}
	var m map[string]any
	b, _ := os.ReadFile(filepath.Join(d.path, "crm.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["subscription_id"] != "sub-1" || m["fingerprint"] != Fingerprint("whsec_abc") || m["target_url"] != "https://example.com/crm" {
		t.Errorf("record = %v", m)
	}
	if strings.Contains(string(b), "whsec_abc") {
		t.Error("the record holds the secret itself")
	}
	if got, want := files(t, d.path), []string{"crm.json", "crm.secret"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v (no temporary files left)", got, want)
	}
	es, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := es["crm"]
	if e.Held == nil || e.Held.SubscriptionID != "sub-1" || !e.Verified || e.Pending != nil {
		t.Errorf("entry = %+v, want held, verified, nothing pending", e)
	}
	if s, err := d.Secret(ctx, "crm"); err != nil || s != "whsec_abc" {
		t.Errorf("Secret = %q, %v", s, err)
	}
}

func TestDirIntentStaysPendingUntilPutAndAbandonClearsIt(t *testing.T) {
	d := openDir(t)
	in := Intent{Name: "crm", TargetURL: "https://example.com/crm", At: time.Now().UTC()}
	if err := d.Intend(ctx, in); err != nil {
		t.Fatal(err)
	}
	es, _ := d.Load(ctx)
	if e := es["crm"]; e.Pending == nil || e.Held != nil {
		t.Fatalf("after Intend: %+v, want pending and nothing held", e)
	}
	// A kill here leaves the intent: a fresh open still sees it.
	d2, err := OpenDir(d.path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ = d2.Load(ctx)
	if es["crm"].Pending == nil {
		t.Fatal("the intent did not survive a reopen")
	}
	if err := d2.Put(ctx, rec("crm", "sub-1"), "whsec_a", KeepNone); err != nil {
		t.Fatal(err)
	}
	es, _ = d2.Load(ctx)
	if e := es["crm"]; e.Pending != nil || e.Held == nil {
		t.Errorf("after Put: %+v, want held and nothing pending", e)
	}
	if err := d2.Intend(ctx, Intent{Name: "other", TargetURL: "https://example.com/o"}); err != nil {
		t.Fatal(err)
	}
	if err := d2.Abandon(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	es, _ = d2.Load(ctx)
	if _, ok := es["other"]; ok {
		t.Errorf("an abandoned intent with no secret left an entry: %+v", es["other"])
	}
}

func TestDirNeverOverwritesTheSecretOfALiveSubscription(t *testing.T) {
	d := openDir(t)
	if err := d.Put(ctx, rec("crm", "sub-1"), "whsec_old", KeepNone); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, rec("crm", "sub-2"), "whsec_new", KeepArchive); err != nil {
		t.Fatal(err)
	}
	kept, err := os.ReadFile(filepath.Join(d.path, "crm.sub-1.secret"))
	if err != nil || string(kept) != "whsec_old" {
		t.Fatalf("crm.sub-1.secret = %q, %v; want the old secret kept", kept, err)
	}
	if s, _ := d.Secret(ctx, "crm"); s != "whsec_new" {
		t.Errorf("crm.secret = %q, want the new one", s)
	}
	es, _ := d.Load(ctx)
	if len(es) != 1 {
		t.Errorf("Load = %v, want only crm (kept secrets are not entries)", es)
	}
}

func TestDirRotationKeepsThePreviousSecret(t *testing.T) {
	d := openDir(t)
	d.Put(ctx, rec("crm", "sub-1"), "whsec_old", KeepNone)
	r := rec("crm", "sub-2")
	r.PreviousSubscriptionID = "sub-1"
	if err := d.Put(ctx, r, "whsec_new", KeepPrevious); err != nil {
		t.Fatal(err)
	}
	prev, err := os.ReadFile(filepath.Join(d.path, "crm.previous.secret"))
	if err != nil || string(prev) != "whsec_old" {
		t.Fatalf("crm.previous.secret = %q, %v", prev, err)
	}
	b, _ := os.ReadFile(filepath.Join(d.path, "crm.previous.json"))
	if !strings.Contains(string(b), `"sub-1"`) {
		t.Errorf("previous record = %s, want it to name sub-1", b)
	}
}

func TestDirLoadReportsASecretThatDoesNotMatchItsRecord(t *testing.T) {
	d := openDir(t)
	d.Put(ctx, rec("crm", "sub-1"), "whsec_a", KeepNone)
	os.Remove(d.Path("crm"))
	d.Put(ctx, rec("web", "sub-2"), "whsec_b", KeepNone)
	os.WriteFile(d.Path("web"), []byte("whsec_tampered"), 0o600)
	os.WriteFile(d.Path("legacy"), []byte("whsec_c\n"), 0o600)
	es, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := es["crm"]; e.Held == nil || e.Verified {
		t.Errorf("crm (secret file gone) = %+v, want held record, not verified", e)
	}
	if e := es["web"]; e.Verified {
		t.Errorf("web (changed file) = %+v, want not verified", e)
	}
	if e := es["legacy"]; !e.Legacy || e.Held != nil {
		t.Errorf("legacy = %+v, want a legacy secret", e)
	}
	if s, _ := d.Secret(ctx, "legacy"); s != "whsec_c" {
		t.Errorf("legacy secret = %q, want the newline trimmed", s)
	}
}

func TestOpenDirRecoversACompleteTemporarySecretAndRemovesTheRest(t *testing.T) {
	d := openDir(t)
	d.Put(ctx, rec("crm", "sub-1"), "whsec_a", KeepNone)
	// A kill between the record's write and the secret's rename: the
	// record names the new secret, which only a temporary file holds.
	if err := d.writeMeta("crm", meta{Record: Record{Name: "crm", SubscriptionID: "sub-2", Fingerprint: Fingerprint("whsec_b")}}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.path, ".crm.secret.tmp-123"), []byte("whsec_b"), 0o600)
	os.WriteFile(filepath.Join(d.path, ".web.secret.tmp-456"), []byte("whsec_half"), 0o600)
	os.WriteFile(filepath.Join(d.path, ".crm.json.tmp-789"), []byte("{"), 0o600)
	d2, err := OpenDir(d.path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := d2.Secret(ctx, "crm"); s != "whsec_b" {
		t.Errorf("crm.secret = %q, want the recovered secret", s)
	}
	if got, want := files(t, d.path), []string{"crm.json", "crm.secret"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestOpenDirTightensADirectoryOpenToOthers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s")
	os.Mkdir(p, 0o777)
	os.Chmod(p, 0o777)
	var warned []string
	if _, err := OpenDir(p, OpenOptions{Warn: func(msg string, _ ...any) { warned = append(warned, msg) }}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %v, want 0700", fi.Mode().Perm())
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "tightened") {
		t.Errorf("warnings = %q, want one saying it was tightened", warned)
	}
}

func TestStoresRefuseNamesThatAreNotOneSafeSegment(t *testing.T) {
	d := openDir(t)
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, ".hidden"} {
		if err := d.Put(ctx, rec(name, "x"), "whsec_a", KeepNone); err == nil {
			t.Errorf("Put(%q) succeeded", name)
		}
		if err := d.Intend(ctx, Intent{Name: name}); err == nil {
			t.Errorf("Intend(%q) succeeded", name)
		}
	}
}

func TestOpenParsesStoreURIs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	s, err := Open(ctx, "dir:"+dir, OpenOptions{})
	if err != nil || s.String() != "dir:"+dir {
		t.Fatalf("Open(dir:) = %v, %v", s, err)
	}
	for uri, want := range map[string]string{
		"":                      "want SCHEME:ARGUMENT",
		"dir:":                  "want SCHEME:ARGUMENT",
		"vault:x":               `unknown store "vault"`,
		"exec:true":             "needs --state-dir",
		"exec:/no/such/program": "no such file",
	} {
		_, err := Open(ctx, uri, OpenOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", uri, err, want)
		}
	}
}

func TestSecretOfAnUnknownNameIsNotHeld(t *testing.T) {
	d := openDir(t)
	if _, err := d.Secret(ctx, "nope"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Secret = %v, want ErrNotHeld", err)
	}
}
