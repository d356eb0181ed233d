// Package kubestore is the secrets.Store that keeps signing secrets in
// Kubernetes Secrets (--secrets kubernetes:NAMESPACE), so that custody
// survives any pod and the application mounts the Secrets it verifies with.
//
// Each file entry NAME has one Secret, PREFIX+NAME (PREFIX defaults to
// "linq-sync-"), of type Opaque, labelled app.kubernetes.io/managed-by:
// linq-sync and linq-sync/name: NAME, holding
//
//	data.signing_secret           the signing secret, as the app reads it
//	data.subscription_id          the subscription it belongs to
//	data.target_url               that subscription's URL
//	data.previous_signing_secret  during a rotation, the secret it replaced
//	annotations:
//	  linq-sync/record            the secrets.Record, fingerprint included
//	  linq-sync/pending           the intent of a create in flight (the journal)
//	  linq-sync/previous-record   the record of previous_signing_secret
//
// A secret kept because its subscription still exists after the name moved
// on (secrets.KeepArchive) goes to a Secret of its own, PREFIX+NAME.ID,
// labelled linq-sync/kept: archive. The intent is written to the object
// before the create call it guards, and the apiserver acknowledges a write
// only once etcd has it, so the journal survives the pod. Updates are
// retried with a fresh read when they conflict; a Secret of the name that
// lacks the managed-by label is never written to.
//
// It needs, in NAMESPACE, secrets get, list, create, update and patch: the
// Role in deploy/kubernetes/rbac.yaml. It never deletes a Secret.
package kubestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"

	"github.com/linq-sync/linq-sync/internal/kube"
	"github.com/linq-sync/linq-sync/internal/secrets"
)

// Scheme is the --secrets URI scheme of this store.
const Scheme = "kubernetes"

// DefaultPrefix starts the name of every Secret the store writes.
const DefaultPrefix = "linq-sync-"

// Labels and annotations of the Secrets.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedBy           = "linq-sync"
	LabelName           = "linq-sync/name"
	LabelKept           = "linq-sync/kept"
	AnnotationRecord    = "linq-sync/record"
	AnnotationPending   = "linq-sync/pending"
	AnnotationPrevious  = "linq-sync/previous-record"
	KeySecret           = "signing_secret"
	KeySubscriptionID   = "subscription_id"
	KeyTargetURL        = "target_url"
	KeyPreviousSecret   = "previous_signing_secret"
	keptArchive         = "archive"
	probeNameSuffix     = "probe"
	managedBySelector   = LabelManagedBy + "=" + ManagedBy
	unmanagedSecretHint = "it was not created by linq-sync; rename the subscription, choose another --secrets-prefix, or add the label " + LabelManagedBy + "=" + ManagedBy + " to hand it over"
)

// Store keeps secrets in the Secrets of one namespace.
type Store struct {
	client    *kube.Client
	namespace string
	prefix    string
	readOnly  bool
	mu        sync.Mutex
}

var _ secrets.Store = (*Store)(nil)

// New returns a store writing to namespace through client. An empty prefix
// means DefaultPrefix. It makes no API call.
func New(client *kube.Client, namespace, prefix string, opts secrets.OpenOptions) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, fmt.Errorf("--secrets kubernetes:%s: namespace: %s", namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(prefix + "a"); len(errs) > 0 {
		return nil, fmt.Errorf("--secrets-prefix %q: not the start of a Secret name: %s", prefix, strings.Join(errs, "; "))
	}
	return &Store{client: client, namespace: namespace, prefix: prefix, readOnly: opts.ReadOnly}, nil
}

// Options are what Register needs besides the URI: the flags that locate
// the cluster and name the Secrets.
type Options struct {
	// Kubeconfig is the --kubeconfig flag (empty: in-cluster, else KUBECONFIG).
	Kubeconfig string
	// Prefix is the --secrets-prefix flag (empty: DefaultPrefix).
	Prefix string
}

// Register makes --secrets kubernetes:NAMESPACE open this store with opts.
// The client configuration is loaded only when such a store is opened.
func Register(opts Options) {
	secrets.Register(Scheme, func(_ context.Context, namespace string, o secrets.OpenOptions) (secrets.Store, error) {
		cfg, err := kube.Config(opts.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--secrets kubernetes:%s: %w", namespace, err)
		}
		c, err := kube.NewClient(cfg)
		if err != nil {
			return nil, err
		}
		return New(c, namespace, opts.Prefix, o)
	})
}

// String names the store.
func (s *Store) String() string { return Scheme + ":" + s.namespace }

// SecretName returns the name of the Secret holding name's secret.
func (s *Store) SecretName(name string) string { return s.prefix + name }

// checkName refuses names that cannot be part of a Secret name. File entry
// names are [a-z0-9][a-z0-9_-]*; Secret names allow no underscore.
func (s *Store) checkName(name string) error {
	if err := secrets.CheckName(name); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(s.SecretName(name)); len(errs) > 0 {
		return fmt.Errorf("name %q cannot be kept in a Kubernetes Secret (%s): %s", name, s.SecretName(name), strings.Join(errs, "; "))
	}
	return nil
}

// Probe proves, with a dry-run create that the apiserver authorizes and
// validates but does not store, that a Secret of ProbeSize bytes can be
// created in the namespace.
func (s *Store) Probe(ctx context.Context) error {
	if s.readOnly {
		return secrets.ErrReadOnly
	}
	sec := s.newSecret(probeNameSuffix)
	sec.Data = map[string][]byte{KeySecret: make([]byte, secrets.ProbeSize)}
	_, err := s.client.Secrets(s.namespace).Create(ctx, sec, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s cannot take a secret: %w", s, kube.ExplainForbidden(err))
	}
	return nil
}

// Intend writes the intent into the name's Secret, creating the Secret
// when there is none. It returns once the apiserver has stored it.
func (s *Store) Intend(ctx context.Context, in secrets.Intent) error {
	if s.readOnly {
		return secrets.ErrReadOnly
	}
	if err := s.checkName(in.Name); err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.modify(ctx, in.Name, true, func(sec *kube.Secret) (bool, error) {
		sec.Annotations[AnnotationPending] = string(b)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("record the create of %q before making it: %w", in.Name, err)
	}
	return nil
}

// Abandon clears the intent of name. The Secret stays, possibly empty: the
// store has no permission to delete, and an empty managed Secret holds nothing.
func (s *Store) Abandon(ctx context.Context, name string) error {
	if s.readOnly {
		return secrets.ErrReadOnly
	}
	if err := s.checkName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.modify(ctx, name, false, func(sec *kube.Secret) (bool, error) {
		if _, ok := sec.Annotations[AnnotationPending]; !ok {
			return false, nil
		}
		delete(sec.Annotations, AnnotationPending)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("clear the intent of %q: %w", name, err)
	}
	return nil
}

// Put stores secret and its record in the name's Secret and clears the
// intent, in one update. A secret the Secret holds for another subscription
// is kept as previous_signing_secret (KeepPrevious) or in an archive Secret
// written first (KeepArchive), or replaced (KeepNone).
func (s *Store) Put(ctx context.Context, rec secrets.Record, secret string, keep secrets.Keep) error {
	if s.readOnly {
		return secrets.ErrReadOnly
	}
	if err := s.checkName(rec.Name); err != nil {
		return err
	}
	if secret == "" {
		return fmt.Errorf("store secret of %q: empty secret", rec.Name)
	}
	rec.Fingerprint = secrets.Fingerprint(secret)
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.modify(ctx, rec.Name, true, func(sec *kube.Secret) (bool, error) {
		old, hasOld := record(sec)
		if hasOld && old.SubscriptionID != "" && old.SubscriptionID != rec.SubscriptionID && len(sec.Data[KeySecret]) > 0 {
			switch keep {
			case secrets.KeepPrevious:
				prev, err := json.Marshal(old)
				if err != nil {
					return false, err
				}
				sec.Data[KeyPreviousSecret] = sec.Data[KeySecret]
				sec.Annotations[AnnotationPrevious] = string(prev)
			case secrets.KeepArchive:
				if err := s.archive(ctx, rec.Name, old, sec.Data[KeySecret]); err != nil {
					return false, err
				}
			}
		}
		sec.Data[KeySecret] = []byte(secret)
		sec.Data[KeySubscriptionID] = []byte(rec.SubscriptionID)
		sec.Data[KeyTargetURL] = []byte(rec.TargetURL)
		sec.Annotations[AnnotationRecord] = string(recJSON)
		delete(sec.Annotations, AnnotationPending)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("store the secret of %q: %w", rec.Name, err)
	}
	return nil
}

// archive writes old's secret to the Secret PREFIX+NAME.ID.
func (s *Store) archive(ctx context.Context, name string, old secrets.Record, secret []byte) error {
	id := strings.ToLower(old.SubscriptionID)
	as := name + "." + id
	if errs := validation.IsDNS1123Subdomain(s.SecretName(as)); len(errs) > 0 {
		return fmt.Errorf("keep the secret of %q: subscription id %q cannot be part of a Secret name: %s", name, old.SubscriptionID, strings.Join(errs, "; "))
	}
	old.Name = as
	b, err := json.Marshal(old)
	if err != nil {
		return err
	}
	err = s.modify(ctx, as, true, func(sec *kube.Secret) (bool, error) {
		sec.Labels[LabelName] = name
		sec.Labels[LabelKept] = keptArchive
		sec.Data[KeySecret] = secret
		sec.Data[KeySubscriptionID] = []byte(old.SubscriptionID)
		sec.Data[KeyTargetURL] = []byte(old.TargetURL)
		sec.Annotations[AnnotationRecord] = string(b)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("keep the secret of %q as Secret %s: %w", name, s.SecretName(as), err)
	}
	return nil
}

// Load lists the store's Secrets. Kept (archived) secrets, Secrets of other
// prefixes and Secrets that hold nothing are not entries.
func (s *Store) Load(ctx context.Context) (map[string]secrets.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]secrets.Entry{}
	opts := metav1.ListOptions{LabelSelector: managedBySelector + "," + LabelKept + "!=" + keptArchive}
	for {
		list, err := s.client.Secrets(s.namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list the Secrets of %s: %w", s, kube.ExplainForbidden(err))
		}
		for i := range list.Items {
			sec := &list.Items[i]
			name := sec.Labels[LabelName]
			if name == "" || sec.Name != s.SecretName(name) {
				continue // another prefix's, or not one of ours
			}
			e, err := entry(sec, name)
			if err != nil {
				return nil, err
			}
			if e.Held != nil || e.Pending != nil || e.Legacy {
				out[name] = e
			}
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

// Secret returns the signing secret held for name.
func (s *Store) Secret(ctx context.Context, name string) (string, error) {
	if err := s.checkName(name); err != nil {
		return "", err
	}
	sec, err := s.client.Secrets(s.namespace).Get(ctx, s.SecretName(name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("secret of %q: %w", name, secrets.ErrNotHeld)
	}
	if err != nil {
		return "", fmt.Errorf("read the Secret of %q: %w", name, kube.ExplainForbidden(err))
	}
	if !managed(sec) {
		return "", s.unmanaged(sec.Name)
	}
	v := sec.Data[KeySecret]
	if len(v) == 0 {
		return "", fmt.Errorf("secret of %q: %w", name, secrets.ErrNotHeld)
	}
	return string(v), nil
}

// entry reads what a Secret holds.
func entry(sec *kube.Secret, name string) (secrets.Entry, error) {
	e := secrets.Entry{Name: name}
	if p, ok := sec.Annotations[AnnotationPending]; ok {
		var in secrets.Intent
		if err := json.Unmarshal([]byte(p), &in); err != nil {
			return e, fmt.Errorf("Secret %s: annotation %s is not an intent (%v)", sec.Name, AnnotationPending, err)
		}
		e.Pending = &in
	}
	rec, ok := record(sec)
	secret := sec.Data[KeySecret]
	switch {
	case ok && rec.SubscriptionID != "":
		e.Held = &rec
		e.Verified = len(secret) > 0 && secrets.Fingerprint(string(secret)) == rec.Fingerprint
	case len(secret) > 0:
		e.Legacy = true
	}
	return e, nil
}

// record returns the record annotation; ok is false when there is none or
// it does not parse (then the secret counts as unverified, never trusted).
func record(sec *kube.Secret) (secrets.Record, bool) {
	var r secrets.Record
	v, ok := sec.Annotations[AnnotationRecord]
	if !ok || json.Unmarshal([]byte(v), &r) != nil {
		return secrets.Record{}, false
	}
	return r, true
}

func managed(sec *kube.Secret) bool { return sec.Labels[LabelManagedBy] == ManagedBy }

func (s *Store) unmanaged(secretName string) error {
	return fmt.Errorf("Secret %s/%s exists without the label %s=%s; not overwriting it: %s", s.namespace, secretName, LabelManagedBy, ManagedBy, unmanagedSecretHint)
}

// newSecret returns an empty managed Secret for name.
func (s *Store) newSecret(name string) *kube.Secret {
	base := name
	if i := strings.IndexByte(name, '.'); i >= 0 {
		base = name[:i]
	}
	return &kube.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.SecretName(name),
			Namespace:   s.namespace,
			Labels:      map[string]string{LabelManagedBy: ManagedBy, LabelName: base},
			Annotations: map[string]string{},
		},
		Type: kube.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
}

// modify applies change to a fresh read of the name's Secret and writes it
// back, retrying with a fresh read when the write conflicts (someone else
// wrote in between). When the Secret does not exist it is created if create
// is set, and otherwise there is nothing to do. change returns false when
// nothing needs writing.
func (s *Store) modify(ctx context.Context, name string, create bool, change func(*kube.Secret) (bool, error)) error {
	api := s.client.Secrets(s.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sec, err := api.Get(ctx, s.SecretName(name), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if !create {
				return nil
			}
			sec = s.newSecret(name)
			if _, err := change(sec); err != nil {
				return err
			}
			_, err = api.Create(ctx, sec, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Created in between: read it afresh, as for a conflict.
				return apierrors.NewConflict(kube.CoreV1.WithResource("secrets").GroupResource(), sec.Name, err)
			}
			return err
		case err != nil:
			return err
		}
		if !managed(sec) {
			return s.unmanaged(sec.Name)
		}
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		if write, err := change(sec); err != nil || !write {
			return err
		}
		_, err = api.Update(ctx, sec, metav1.UpdateOptions{})
		return err
	})
	return kube.ExplainForbidden(err)
}
