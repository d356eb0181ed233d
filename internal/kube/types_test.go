package kube

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jsonFields lists the JSON field names of a struct type, inline ones
// expanded.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func TestTypesHaveEveryFieldOfTheAPITypes(t *testing.T) {
	// An update sends back the whole object: a field these types lacked
	// would be dropped from the user's Secret or Lease. This fails when a
	// newer k8s.io/api adds one.
	for _, tc := range []struct {
		name       string
		ours, want reflect.Type
	}{
		{"Secret", reflect.TypeFor[Secret](), reflect.TypeFor[corev1.Secret]()},
		{"SecretList", reflect.TypeFor[SecretList](), reflect.TypeFor[corev1.SecretList]()},
		{"Lease", reflect.TypeFor[Lease](), reflect.TypeFor[coordinationv1.Lease]()},
		{"LeaseSpec", reflect.TypeFor[LeaseSpec](), reflect.TypeFor[coordinationv1.LeaseSpec]()},
	} {
		if got, want := jsonFields(tc.ours), jsonFields(tc.want); !slices.Equal(got, want) {
			t.Errorf("%s: JSON fields %v, want k8s.io/api's %v", tc.name, got, want)
		}
	}
}

func TestTypesRoundTripTheAPITypes(t *testing.T) {
	now := metav1.NewMicroTime(time.Date(2026, 12, 2, 1, 2, 3, 456789000, time.UTC))
	yes, holder, strategy := true, "me", "OldestEmulationVersion"
	d, n := int32(15), int32(3)
	meta := metav1.ObjectMeta{Name: "n", Namespace: "ns", ResourceVersion: "7", Labels: map[string]string{"a": "b"},
		Annotations: map[string]string{"c": "d"}, UID: "u", Finalizers: []string{"f"}}
	roundTrip := func(name string, in, ours any) {
		t.Helper()
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, ours); err != nil {
			t.Fatal(err)
		}
		b2, err := json.Marshal(ours)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(b2) {
			t.Errorf("%s: k8s.io/api's JSON read and written again changed:\n%s\n%s", name, b, b2)
		}
	}
	roundTrip("Secret", &corev1.Secret{ObjectMeta: meta, Immutable: &yes, Data: map[string][]byte{"k": []byte("v")},
		StringData: map[string]string{"s": "t"}, Type: corev1.SecretTypeOpaque}, &Secret{})
	roundTrip("Lease", &coordinationv1.Lease{ObjectMeta: meta, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder,
		LeaseDurationSeconds: &d, AcquireTime: &now, RenewTime: &now, LeaseTransitions: &n,
		Strategy: (*coordinationv1.CoordinatedLeaseStrategy)(&strategy), PreferredHolder: &holder}}, &Lease{})
}

func TestDeepCopySharesNothing(t *testing.T) {
	yes := true
	s := &Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}}, Immutable: &yes,
		Data: map[string][]byte{"k": []byte("v")}, StringData: map[string]string{"s": "t"}}
	c := s.DeepCopy()
	c.Labels["a"], c.Data["k"][0], *c.Immutable, c.StringData["s"] = "x", 'x', false, "x"
	if s.Labels["a"] != "b" || string(s.Data["k"]) != "v" || !*s.Immutable || s.StringData["s"] != "t" {
		t.Errorf("changing the copy changed the Secret: %+v", s)
	}
	h := "me"
	l := &Lease{Spec: LeaseSpec{HolderIdentity: &h}}
	lc := l.DeepCopy()
	*lc.Spec.HolderIdentity = "other"
	if *l.Spec.HolderIdentity != "me" {
		t.Error("changing the copy changed the Lease")
	}
}
