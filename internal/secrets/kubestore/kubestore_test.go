package kubestore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/linq-sync/linq-sync/internal/kube"
	"github.com/linq-sync/linq-sync/internal/kubetest"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

var ctx = context.Background()

// env is a namespace with the shipped Role applied, a store that runs as
// its ServiceAccount (exactly the Role's permissions), and an admin client
// to look at what the store wrote.
type env struct {
	srv   *kubetest.Server
	ns    string
	cfg   *rest.Config
	store *Store
	admin kubernetes.Interface
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	srv.ApplyFile(t, ns, "../../../deploy/kubernetes/rbac.yaml")
	e := &env{srv: srv, ns: ns, cfg: srv.ServiceAccountConfig(t, ns, "linq-sync"), admin: srv.Client(t, kubetest.Admin)}
	e.store = e.open(t, e.cfg, secrets.OpenOptions{})
	return e
}

func (e *env) open(t *testing.T, cfg *rest.Config, opts secrets.OpenOptions) *Store {
	t.Helper()
	c, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c, e.ns, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) get(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	s, err := e.admin.CoreV1().Secrets(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Secret %s: %v", name, err)
	}
	return s
}

func rec(name, id string) secrets.Record {
	return secrets.Record{Name: name, SubscriptionID: id, TargetURL: "https://example.com/" + name, CreatedAt: time.Unix(1700000000, 0).UTC()}
}

func TestIntentIsWrittenBeforeTheCreateAndPutCompletesIt(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Probe(ctx); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	in := secrets.Intent{Name: "crm", TargetURL: "https://example.com/crm", At: time.Unix(1700000000, 0).UTC()}
	if err := e.store.Intend(ctx, in); err != nil {
		t.Fatalf("Intend: %v", err)
	}
	sec := e.get(t, "linq-sync-crm")
	if sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", sec.Type)
	}
	if sec.Labels[LabelManagedBy] != "linq-sync" || sec.Labels[LabelName] != "crm" {
		t.Errorf("labels = %v, want managed-by linq-sync and linq-sync/name crm", sec.Labels)
	}
	var got secrets.Intent
	if err := json.Unmarshal([]byte(sec.Annotations[AnnotationPending]), &got); err != nil || got != in {
		t.Errorf("pending annotation = %q (%v), want %+v", sec.Annotations[AnnotationPending], err, in)
	}
	if len(sec.Data) != 0 {
		t.Errorf("data before Put = %v, want none", sec.Data)
	}
	es, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if es["crm"].Pending == nil || es["crm"].Held != nil {
		t.Errorf("Load after Intend = %+v, want pending and nothing held", es["crm"])
	}

	if err := e.store.Put(ctx, rec("crm", "sub-1"), "whsec_one", secrets.KeepNone); err != nil {
		t.Fatalf("Put: %v", err)
	}
	sec = e.get(t, "linq-sync-crm")
	for k, want := range map[string]string{KeySecret: "whsec_one", KeySubscriptionID: "sub-1", KeyTargetURL: "https://example.com/crm"} {
		if string(sec.Data[k]) != want {
			t.Errorf("data.%s = %q, want %q", k, sec.Data[k], want)
		}
	}
	if _, ok := sec.Annotations[AnnotationPending]; ok {
		t.Error("Put left the intent in place")
	}
	es, _ = e.store.Load(ctx)
	c := es["crm"]
	if c.Held == nil || c.Held.SubscriptionID != "sub-1" || !c.Verified || c.Pending != nil {
		t.Errorf("Load after Put = %+v, want sub-1 held and verified, nothing pending", c)
	}
	if c.Held != nil && c.Held.Fingerprint != secrets.Fingerprint("whsec_one") {
		t.Errorf("record fingerprint = %q, want the secret's", c.Held.Fingerprint)
	}
	if s, err := e.store.Secret(ctx, "crm"); err != nil || s != "whsec_one" {
		t.Errorf("Secret = %q, %v; want whsec_one", s, err)
	}
}

func TestAbandonClearsTheIntent(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Intend(ctx, secrets.Intent{Name: "gone", TargetURL: "https://x"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Abandon(ctx, "gone"); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	if _, ok := e.get(t, "linq-sync-gone").Annotations[AnnotationPending]; ok {
		t.Error("Abandon left the intent")
	}
	es, _ := e.store.Load(ctx)
	if _, ok := es["gone"]; ok {
		t.Errorf("an abandoned intent with no secret is an entry: %+v", es["gone"])
	}
	// Abandoning what was never intended is not an error and creates nothing.
	if err := e.store.Abandon(ctx, "never"); err != nil {
		t.Errorf("Abandon(never): %v", err)
	}
	if _, err := e.admin.CoreV1().Secrets(e.ns).Get(ctx, "linq-sync-never", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Abandon(never) created a Secret: %v", err)
	}
}

func TestRotationKeepsThePreviousSecretInTheSameObject(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Put(ctx, rec("crm", "sub-1"), "whsec_old", secrets.KeepNone); err != nil {
		t.Fatal(err)
	}
	r := rec("crm", "sub-2")
	r.PreviousSubscriptionID = "sub-1"
	if err := e.store.Put(ctx, r, "whsec_new", secrets.KeepPrevious); err != nil {
		t.Fatal(err)
	}
	sec := e.get(t, "linq-sync-crm")
	if string(sec.Data[KeySecret]) != "whsec_new" || string(sec.Data[KeyPreviousSecret]) != "whsec_old" {
		t.Errorf("data = signing %q previous %q, want whsec_new and whsec_old", sec.Data[KeySecret], sec.Data[KeyPreviousSecret])
	}
	if !strings.Contains(sec.Annotations[AnnotationPrevious], `"sub-1"`) {
		t.Errorf("previous record = %q, want it to name sub-1", sec.Annotations[AnnotationPrevious])
	}
	es, _ := e.store.Load(ctx)
	if h := es["crm"].Held; h == nil || h.SubscriptionID != "sub-2" || h.PreviousSubscriptionID != "sub-1" || !es["crm"].Verified {
		t.Errorf("Load = %+v, want sub-2 held, verified, replacing sub-1", es["crm"])
	}
}

func TestArchiveKeepsALiveSubscriptionsSecretInItsOwnSecret(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Put(ctx, rec("crm", "sub-1"), "whsec_old", secrets.KeepNone); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put(ctx, rec("crm", "sub-2"), "whsec_new", secrets.KeepArchive); err != nil {
		t.Fatal(err)
	}
	kept := e.get(t, "linq-sync-crm.sub-1")
	if string(kept.Data[KeySecret]) != "whsec_old" || kept.Labels[LabelKept] != "archive" || kept.Labels[LabelName] != "crm" {
		t.Errorf("archive Secret: data %q labels %v, want the old secret, kept=archive, name crm", kept.Data[KeySecret], kept.Labels)
	}
	if s, _ := e.store.Secret(ctx, "crm"); s != "whsec_new" {
		t.Errorf("Secret(crm) = %q, want whsec_new", s)
	}
	es, _ := e.store.Load(ctx)
	if len(es) != 1 {
		t.Errorf("Load = %v, want only crm (kept secrets are not entries)", es)
	}
}

func TestASecretWithoutTheManagedByLabelIsNeverOverwritten(t *testing.T) {
	e := newEnv(t)
	theirs := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "linq-sync-crm"},
		Data:       map[string][]byte{"signing_secret": []byte("theirs")},
	}
	if _, err := e.admin.CoreV1().Secrets(e.ns).Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op   string
		call func() error
	}{
		{"Intend", func() error { return e.store.Intend(ctx, secrets.Intent{Name: "crm", TargetURL: "https://x"}) }},
		{"Put", func() error { return e.store.Put(ctx, rec("crm", "sub-1"), "whsec_mine", secrets.KeepNone) }},
		{"Abandon", func() error { return e.store.Abandon(ctx, "crm") }},
	} {
		err := tc.call()
		want := "Secret " + e.ns + "/linq-sync-crm exists without the label app.kubernetes.io/managed-by=linq-sync; not overwriting it"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.op, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "whsec_mine") {
			t.Errorf("%s: the error shows the secret: %v", tc.op, err)
		}
	}
	got := e.get(t, "linq-sync-crm")
	if string(got.Data["signing_secret"]) != "theirs" || len(got.Annotations) != 0 {
		t.Errorf("the unmanaged Secret changed: data %q annotations %v", got.Data["signing_secret"], got.Annotations)
	}
	if es, _ := e.store.Load(ctx); len(es) != 0 {
		t.Errorf("Load lists an unmanaged Secret: %v", es)
	}
}

// raceTransport lets another writer update the Secret just before the
// store's first update reaches the apiserver, so that update conflicts.
type raceTransport struct {
	rt     http.RoundTripper
	before func()
	fired  atomic.Bool
	puts   atomic.Int32
}

func (r *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/secrets/") {
		r.puts.Add(1)
		if r.fired.CompareAndSwap(false, true) {
			r.before()
		}
	}
	return r.rt.RoundTrip(req)
}

func TestAConflictingUpdateIsRetriedWithAFreshRead(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Intend(ctx, secrets.Intent{Name: "crm", TargetURL: "https://x"}); err != nil {
		t.Fatal(err)
	}
	race := &raceTransport{before: func() {
		// Someone else (kubectl annotate, say) writes the Secret in between.
		sec := e.get(t, "linq-sync-crm")
		sec.Annotations["example.com/owner"] = "team-a"
		if _, err := e.admin.CoreV1().Secrets(e.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			t.Errorf("concurrent update: %v", err)
		}
	}}
	cfg := rest.CopyConfig(e.cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { race.rt = rt; return race }
	s := e.open(t, cfg, secrets.OpenOptions{})
	if err := s.Put(ctx, rec("crm", "sub-1"), "whsec_one", secrets.KeepNone); err != nil {
		t.Fatalf("Put after a conflict: %v", err)
	}
	if n := race.puts.Load(); n != 2 {
		t.Errorf("%d updates sent, want 2 (one conflicting, one after a fresh read)", n)
	}
	sec := e.get(t, "linq-sync-crm")
	if string(sec.Data[KeySecret]) != "whsec_one" || sec.Annotations["example.com/owner"] != "team-a" {
		t.Errorf("after the retry: secret %q, owner annotation %q; want both writes kept", sec.Data[KeySecret], sec.Annotations["example.com/owner"])
	}
}

func TestLoadIgnoresOtherPrefixesAndReportsAMismatch(t *testing.T) {
	e := newEnv(t)
	c, _ := kube.NewClient(e.cfg)
	other, err := New(c, e.ns, "other-", secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Put(ctx, rec("crm", "sub-9"), "whsec_other", secrets.KeepNone); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Put(ctx, rec("crm", "sub-1"), "whsec_one", secrets.KeepNone); err != nil {
		t.Fatal(err)
	}
	// The secret is changed behind the store's back: its record no longer matches.
	sec := e.get(t, "linq-sync-crm")
	sec.Data[KeySecret] = []byte("tampered")
	if _, err := e.admin.CoreV1().Secrets(e.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	es, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es["crm"].Held == nil || es["crm"].Held.SubscriptionID != "sub-1" {
		t.Fatalf("Load = %+v, want only this prefix's crm, holding sub-1", es)
	}
	if es["crm"].Verified {
		t.Error("a secret that does not match its record's fingerprint is reported verified")
	}
}

func TestWithoutTheRoleErrorsNameTheMissingPermission(t *testing.T) {
	e := newEnv(t)
	s := e.open(t, e.srv.Config(kubetest.Limited), secrets.OpenOptions{})
	for _, tc := range []struct {
		op, want string
		call     func() error
	}{
		{"Probe", `cannot create resource "secrets"`, func() error { return s.Probe(ctx) }},
		{"Intend", `cannot get resource "secrets"`, func() error { return s.Intend(ctx, secrets.Intent{Name: "crm"}) }},
		{"Load", `cannot list resource "secrets"`, func() error { _, err := s.Load(ctx); return err }},
	} {
		err := tc.call()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "deploy/kubernetes/rbac.yaml") {
			t.Errorf("%s: err = %v, want Forbidden naming %q and the shipped Role", tc.op, err, tc.want)
		}
	}
}

func TestReadOnlyRefusesWritesAndStillLoads(t *testing.T) {
	e := newEnv(t)
	if err := e.store.Put(ctx, rec("crm", "sub-1"), "whsec_one", secrets.KeepNone); err != nil {
		t.Fatal(err)
	}
	ro := e.open(t, e.cfg, secrets.OpenOptions{ReadOnly: true})
	for name, err := range map[string]error{
		"Probe":   ro.Probe(ctx),
		"Intend":  ro.Intend(ctx, secrets.Intent{Name: "crm"}),
		"Put":     ro.Put(ctx, rec("crm", "sub-2"), "x", secrets.KeepNone),
		"Abandon": ro.Abandon(ctx, "crm"),
	} {
		if !errors.Is(err, secrets.ErrReadOnly) {
			t.Errorf("%s on a read-only store: err = %v, want ErrReadOnly", name, err)
		}
	}
	es, err := ro.Load(ctx)
	if err != nil || es["crm"].Held == nil {
		t.Errorf("read-only Load = %v, %v; want crm held", es, err)
	}
}

func TestNamesAndNamespacesThatCannotBeSecretNamesAreRefused(t *testing.T) {
	// No API call is made: a client for an address nobody serves will do.
	c, err := kube.NewClient(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(c, "Bad_NS", "", secrets.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "kubernetes:Bad_NS") {
		t.Errorf("New with namespace Bad_NS: err = %v, want one naming it", err)
	}
	if _, err := New(c, "apps", "Linq_", secrets.OpenOptions{}); err == nil || !strings.Contains(err.Error(), `--secrets-prefix "Linq_"`) {
		t.Errorf("New with prefix Linq_: err = %v, want one naming it", err)
	}
	s, err := New(c, "apps", "", secrets.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "kubernetes:apps" {
		t.Errorf("String = %q, want kubernetes:apps", got)
	}
	for _, name := range []string{"my_app", "../x", ""} {
		if err := s.Intend(ctx, secrets.Intent{Name: name}); err == nil {
			t.Errorf("Intend(%q): no error", name)
		}
	}
	if err := s.Intend(ctx, secrets.Intent{Name: "my_app"}); err == nil || !strings.Contains(err.Error(), "linq-sync-my_app") {
		t.Errorf("Intend(my_app): err = %v, want one naming the Secret name it would need", err)
	}
}

func TestRegisterOpensTheStoreFromItsURI(t *testing.T) {
	e := newEnv(t)
	// A kubeconfig naming the test server, as --kubeconfig would.
	kc := kubetest.WriteKubeconfig(t, e.cfg)
	Register(Options{Kubeconfig: kc, Prefix: "app-"})
	st, err := secrets.Open(ctx, "kubernetes:"+e.ns, secrets.OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := st.Put(ctx, rec("crm", "sub-1"), "whsec_one", secrets.KeepNone); err != nil {
		t.Fatalf("Put through the registered store: %v", err)
	}
	if got := e.get(t, "app-crm"); string(got.Data[KeySecret]) != "whsec_one" {
		t.Errorf("app-crm holds %q, want whsec_one", got.Data[KeySecret])
	}
}
