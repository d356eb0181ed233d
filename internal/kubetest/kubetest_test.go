package kubetest

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestAdminMayWriteAndLimitedIsForbidden(t *testing.T) {
	srv := Shared(t)
	ns := srv.Namespace(t)
	ctx := context.Background()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}
	if _, err := srv.Client(t, Admin).CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin create secret: %v", err)
	}
	got, err := srv.Client(t, Admin).CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admin get secret: %v", err)
	}
	if string(got.Data["k"]) != "v" {
		t.Errorf("secret data k = %q, want %q", got.Data["k"], "v")
	}
	_, err = srv.Client(t, Limited).CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("limited get secret: err = %v, want Forbidden", err)
	}
}

func TestSharedReturnsOneServer(t *testing.T) {
	if a, b := Shared(t), Shared(t); a != b {
		t.Errorf("Shared returned two servers: %s and %s", a.URL, b.URL)
	}
}

func TestNamespacesAreDistinctAndValid(t *testing.T) {
	srv := Shared(t)
	a, b := srv.Namespace(t), srv.Namespace(t)
	if a == b {
		t.Errorf("two calls returned the same namespace %q", a)
	}
}

func TestDNSLabel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"TestFoo/Bar_baz", 40, "testfoo-bar-baz"},
		{"abcdef", 3, "abc"},
		{"/x/", 10, "x"},
	} {
		if got := dnsLabel(tc.in, tc.max); got != tc.want {
			t.Errorf("dnsLabel(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
