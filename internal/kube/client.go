package kube

import (
	"context"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Client reads and writes the only two kinds of object linq-sync uses:
// core/v1 Secrets (the kubernetes: secret store) and coordination.k8s.io/v1
// Leases (leader election).
//
// It is client-go's REST client, with client-go's configuration, transport,
// authentication, retries and error types, over a scheme that knows just
// these kinds (types.go). client-go's clientset registers every built-in API type at
// start, and its leaderelection package links the informers of every API
// group: together they made the binary four times larger and cost every
// command, Kubernetes or not, about 17 MiB of resident memory.
type Client struct {
	core, coordination *rest.RESTClient
}

// scheme holds the kinds Client reads and writes, and the meta/v1 kinds the
// apiserver answers with (Status) or takes as query parameters (the options).
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
	params = runtime.NewParameterCodec(scheme)
)

func init() {
	scheme.AddKnownTypes(CoreV1, &Secret{}, &SecretList{})
	metav1.AddToGroupVersion(scheme, CoreV1)
	scheme.AddKnownTypes(CoordinationV1, &Lease{})
	metav1.AddToGroupVersion(scheme, CoordinationV1)
}

// NewClient returns a Client for cfg. Its two REST clients share one HTTP
// client and one rate limiter, as a clientset's groups do.
func NewClient(cfg *rest.Config) (*Client, error) {
	c := rest.CopyConfig(cfg)
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	core, err := restClient(c, hc, "/api", CoreV1)
	if err != nil {
		return nil, err
	}
	coordination, err := restClient(c, hc, "/apis", CoordinationV1)
	if err != nil {
		return nil, err
	}
	return &Client{core: core, coordination: coordination}, nil
}

func restClient(base *rest.Config, hc *http.Client, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(base)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = codecs.WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", gv, err)
	}
	return rc, nil
}

// Secrets returns the Secrets of namespace.
func (c *Client) Secrets(namespace string) Secrets {
	return Secrets{objects[*Secret]{c.core, namespace, "secrets", func() *Secret { return &Secret{} }}}
}

// Leases returns the Leases of namespace.
func (c *Client) Leases(namespace string) Leases {
	return Leases{objects[*Lease]{c.coordination, namespace, "leases", func() *Lease { return &Lease{} }}}
}

// Secrets gets, lists, creates and updates the Secrets of one namespace.
// The methods have the signatures of client-go's typed client.
type Secrets struct{ objects[*Secret] }

// List lists the Secrets that opts select.
func (s Secrets) List(ctx context.Context, opts metav1.ListOptions) (*SecretList, error) {
	out := &SecretList{}
	err := s.rc.Get().Namespace(s.namespace).Resource(s.resource).VersionedParams(&opts, params).Do(ctx).Into(out)
	return out, err
}

// Leases gets, creates and updates the Leases of one namespace.
type Leases struct{ objects[*Lease] }

// objects are the namespaced objects of one resource.
type objects[T runtime.Object] struct {
	rc        *rest.RESTClient
	namespace string
	resource  string
	new       func() T
}

// Get reads the object called name.
func (o objects[T]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out := o.new()
	err := o.rc.Get().Namespace(o.namespace).Resource(o.resource).Name(name).VersionedParams(&opts, params).Do(ctx).Into(out)
	return out, err
}

// Create creates obj and returns it as the apiserver stored it.
func (o objects[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := o.new()
	err := o.rc.Post().Namespace(o.namespace).Resource(o.resource).VersionedParams(&opts, params).Body(obj).Do(ctx).Into(out)
	return out, err
}

// Update replaces the object named in obj's metadata; the apiserver refuses
// it with a Conflict when obj's resourceVersion is no longer current.
func (o objects[T]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	out := o.new()
	name, err := nameOf(obj)
	if err != nil {
		return out, err
	}
	err = o.rc.Put().Namespace(o.namespace).Resource(o.resource).Name(name).VersionedParams(&opts, params).Body(obj).Do(ctx).Into(out)
	return out, err
}

func nameOf(obj runtime.Object) (string, error) {
	m, ok := obj.(metav1.Object)
	if !ok || m.GetName() == "" {
		return "", fmt.Errorf("update %T: no name", obj)
	}
	return m.GetName(), nil
}
