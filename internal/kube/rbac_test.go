package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/linq-sync/linq-sync/internal/kubetest"
)

// applyShippedRBAC creates deploy/kubernetes/rbac.yaml's objects in ns, as
// `kubectl apply -n ns -f rbac.yaml` would, and returns a client that
// authenticates as the ServiceAccount it creates, the way the pod does. It
// is client-go's full clientset, not Client, so that the test can also try
// the verbs linq-sync never uses and the Role must refuse.
func applyShippedRBAC(t *testing.T, srv *kubetest.Server, ns string) kubernetes.Interface {
	t.Helper()
	srv.ApplyFile(t, ns, "../../deploy/kubernetes/rbac.yaml")
	c, err := kubernetes.NewForConfig(srv.ServiceAccountConfig(t, ns, "linq-sync"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShippedRoleAllowsWhatLinqSyncDoesAndNoMore(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	c := applyShippedRBAC(t, srv, ns)
	ctx := context.Background()

	// Secrets: create, get, list by label, update, patch.
	secrets := c.CoreV1().Secrets(ns)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "linq-sync-a", Labels: map[string]string{"app.kubernetes.io/managed-by": "linq-sync"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"signing_secret": []byte("one")},
	}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Secret: %v", err)
	}
	got, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Secret: %v", err)
	}
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=linq-sync"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list Secrets by label: %d items, %v; want 1", len(list.Items), err)
	}
	got.Data["signing_secret"] = []byte("two")
	if _, err := secrets.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update Secret: %v", err)
	}
	patch := []byte(`{"metadata":{"annotations":{"linq-sync/journal":"{}"}}}`)
	if _, err := secrets.Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch Secret: %v", err)
	}

	// Leases: create, get, update (what leader election does).
	leases := c.CoordinationV1().Leases(ns)
	id := "me"
	l, err := leases.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "linq-sync"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: ptr(int32(15))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Lease: %v", err)
	}
	if l, err = leases.Get(ctx, l.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("get Lease: %v", err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update Lease: %v", err)
	}

	// And no more: no delete, no watch, nothing in another namespace.
	for _, tc := range []struct {
		what string
		call func() error
		want string
	}{
		{"delete Secret", func() error { return secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}) }, `cannot delete resource "secrets"`},
		{"watch Secrets", func() error {
			w, err := secrets.Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}, `cannot watch resource "secrets"`},
		{"list Leases", func() error { _, err := leases.List(ctx, metav1.ListOptions{}); return err }, `cannot list resource "leases"`},
		{"get Secret elsewhere", func() error {
			_, err := c.CoreV1().Secrets("default").Get(ctx, "x", metav1.GetOptions{})
			return err
		}, `cannot get resource "secrets" in API group "" in the namespace "default"`},
	} {
		err := tc.call()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want Forbidden containing %q", tc.what, err, tc.want)
		}
	}
}

func TestWithoutTheRoleTheErrorNamesTheMissingPermission(t *testing.T) {
	srv := kubetest.Shared(t)
	ns := srv.Namespace(t)
	c := srv.Client(t, kubetest.Limited) // authenticated, bound to nothing
	ctx := context.Background()
	_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "linq-sync-a"}}, metav1.CreateOptions{})
	want := `User "limited" cannot create resource "secrets" in API group "" in the namespace "` + ns + `"`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("create Secret: err = %v, want Forbidden containing %q", err, want)
	}
	_, err = c.CoordinationV1().Leases(ns).Get(ctx, "linq-sync", metav1.GetOptions{})
	want = `User "limited" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "` + ns + `"`
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("get Lease: err = %v, want Forbidden containing %q", err, want)
	}
}

func ptr[T any](v T) *T { return &v }
