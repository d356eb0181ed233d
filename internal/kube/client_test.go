package kube

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/linq-sync/linq-sync/internal/kubetest"
)

func newTestClient(t *testing.T, srv *kubetest.Server, user string) *Client {
	t.Helper()
	c, err := NewClient(srv.Config(user))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientSecretsRoundTrip(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	secrets := newTestClient(t, srv, kubetest.Admin).Secrets(ns)
	ctx := context.Background()

	if _, err := secrets.Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get a missing Secret: err = %v, want NotFound", err)
	}
	mk := func(name, label string) *Secret {
		return &Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": label}},
			Type:       SecretTypeOpaque,
			Data:       map[string][]byte{"k": []byte(name)},
		}
	}
	// A dry run is answered but not stored.
	if _, err := secrets.Create(ctx, mk("dry", "x"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if _, err := secrets.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a dry-run create: err = %v, want NotFound", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := secrets.Create(ctx, mk(n, "mine"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	if _, err := secrets.Create(ctx, mk("other", "theirs"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, mk("a", "mine"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create a again: err = %v, want AlreadyExists", err)
	}

	// Listing by label, a page at a time.
	var names []string
	opts := metav1.ListOptions{LabelSelector: "app=mine", Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than Secrets")
		}
		list, err := secrets.List(ctx, opts)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, s := range list.Items {
			names = append(names, s.Name+"="+string(s.Data["k"]))
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if got, want := len(names), 3; got != want || names[0] != "a=a" || names[2] != "c=c" {
		t.Errorf("listed %v, want a, b and c with their data", names)
	}

	// An update based on a stale read is refused.
	first, err := secrets.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := first.DeepCopy()
	first.Data["k"] = []byte("new")
	updated, err := secrets.Update(ctx, first, metav1.UpdateOptions{})
	if err != nil || string(updated.Data["k"]) != "new" || updated.ResourceVersion == stale.ResourceVersion {
		t.Fatalf("update: %v (data %q, resourceVersion %s → %s)", err, updated.Data["k"], stale.ResourceVersion, updated.ResourceVersion)
	}
	stale.Data["k"] = []byte("lost")
	if _, err := secrets.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update from a stale read: err = %v, want Conflict", err)
	}
	if _, err := secrets.Update(ctx, &Secret{}, metav1.UpdateOptions{}); err == nil {
		t.Error("update of a Secret without a name: no error")
	}
}

func TestClientLeasesRoundTrip(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	leases := newTestClient(t, srv, kubetest.Admin).Leases(ns)
	ctx := context.Background()
	id := "me"
	l, err := leases.Create(ctx, &Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "l"},
		Spec:       LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: ptr(int32(15))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Lease: %v", err)
	}
	other := "other"
	l.Spec.HolderIdentity = &other
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update Lease: %v", err)
	}
	got, err := leases.Get(ctx, "l", metav1.GetOptions{})
	if err != nil || got.Spec.HolderIdentity == nil || *got.Spec.HolderIdentity != "other" || *got.Spec.LeaseDurationSeconds != 15 {
		t.Fatalf("get Lease: %+v, %v; want holder other, 15 s", got.Spec, err)
	}
}

func TestClientErrorsAreTheAPIServersStatus(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	c := newTestClient(t, srv, kubetest.Limited)
	_, err := c.Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list without permission: err = %v, want Forbidden", err)
	}
	_, err = c.Leases(ns).Get(context.Background(), "x", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("get a Lease without permission: err = %v, want Forbidden", err)
	}
}
