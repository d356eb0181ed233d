package manifest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestDecodeReturnsTypedObjectsWithTheirLines(t *testing.T) {
	in := `# a comment-only document
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: a
---
# the role
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: r
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get]
`
	ms, err := Decode("x.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d objects, want 2", len(ms))
	}
	if sa, ok := ms[0].Object.(*corev1.ServiceAccount); !ok || sa.Name != "a" || ms[0].Line != 3 {
		t.Errorf("first object = %T %v at line %d, want ServiceAccount a at line 3", ms[0].Object, ms[0].Object, ms[0].Line)
	}
	if r, ok := ms[1].Object.(*rbacv1.Role); !ok || r.Rules[0].Verbs[0] != "get" || ms[1].Line != 9 {
		t.Errorf("second object = %T at line %d, want a Role at line 9", ms[1].Object, ms[1].Line)
	}
}

func TestDecodeRejectsWhatTheAPIServerWould(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown field", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringDta:\n  a: b\n", `x.yaml:5: strict decoding error: unknown field "stringDta"`},
		{"duplicate field", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  name: t\n", `x.yaml:1:`},
		{"unknown kind", "apiVersion: v1\nkind: Sekret\nmetadata:\n  name: s\n", `x.yaml:1: no kind "Sekret"`},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: three\n", `x.yaml:1:`},
		{"second document", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: b\nbogus: 1\n", `x.yaml:10: strict decoding error: unknown field "bogus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("x.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
