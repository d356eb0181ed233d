package kube

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The two kinds Client reads and writes, field for field as the apiserver
// serves them in JSON (core/v1 Secret, coordination.k8s.io/v1 Lease), so
// that an update never drops a field it did not set.
//
// They are declared here rather than taken from k8s.io/api because that
// module's core/v1 package registers every core type (Pod, Node, ...) at
// start: it would link about 3.5 MB of methods and tables that linq-sync
// never calls, and page much of it in for every command.

var (
	// CoreV1 is the group and version of Secrets.
	CoreV1 = schema.GroupVersion{Version: "v1"}
	// CoordinationV1 is the group and version of Leases.
	CoordinationV1 = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
)

// SecretTypeOpaque is the type of a Secret holding arbitrary data.
const SecretTypeOpaque = "Opaque"

// Secret is a core/v1 Secret.
type Secret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Immutable         *bool             `json:"immutable,omitempty"`
	Data              map[string][]byte `json:"data,omitempty"`
	StringData        map[string]string `json:"stringData,omitempty"`
	Type              string            `json:"type,omitempty"`
}

// SecretList is a page of a list of Secrets.
type SecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Secret `json:"items"`
}

// Lease is a coordination.k8s.io/v1 Lease.
type Lease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              LeaseSpec `json:"spec,omitempty"`
}

// LeaseSpec is the record of a Lease.
type LeaseSpec struct {
	HolderIdentity       *string           `json:"holderIdentity,omitempty"`
	LeaseDurationSeconds *int32            `json:"leaseDurationSeconds,omitempty"`
	AcquireTime          *metav1.MicroTime `json:"acquireTime,omitempty"`
	RenewTime            *metav1.MicroTime `json:"renewTime,omitempty"`
	LeaseTransitions     *int32            `json:"leaseTransitions,omitempty"`
	Strategy             *string           `json:"strategy,omitempty"`
	PreferredHolder      *string           `json:"preferredHolder,omitempty"`
}

// DeepCopy returns a copy of s sharing no memory with it.
func (s *Secret) DeepCopy() *Secret {
	out := *s
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Immutable = clonePtr(s.Immutable)
	if s.Data != nil {
		out.Data = make(map[string][]byte, len(s.Data))
		for k, v := range s.Data {
			out.Data[k] = append([]byte(nil), v...)
		}
	}
	out.StringData = maps.Clone(s.StringData)
	return &out
}

// DeepCopyObject makes Secret a runtime.Object.
func (s *Secret) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// DeepCopyObject makes SecretList a runtime.Object.
func (l *SecretList) DeepCopyObject() runtime.Object {
	out := *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Secret, len(l.Items))
		for i := range l.Items {
			out.Items[i] = *l.Items[i].DeepCopy()
		}
	}
	return &out
}

// DeepCopy returns a copy of l sharing no memory with it.
func (l *Lease) DeepCopy() *Lease {
	out := *l
	l.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	s := l.Spec
	out.Spec = LeaseSpec{
		HolderIdentity:       clonePtr(s.HolderIdentity),
		LeaseDurationSeconds: clonePtr(s.LeaseDurationSeconds),
		AcquireTime:          clonePtr(s.AcquireTime),
		RenewTime:            clonePtr(s.RenewTime),
		LeaseTransitions:     clonePtr(s.LeaseTransitions),
		Strategy:             clonePtr(s.Strategy),
		PreferredHolder:      clonePtr(s.PreferredHolder),
	}
	return &out
}

// DeepCopyObject makes Lease a runtime.Object.
func (l *Lease) DeepCopyObject() runtime.Object { return l.DeepCopy() }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
