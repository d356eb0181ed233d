// Package kube loads the Kubernetes client configuration linq-sync uses when
// it keeps secrets in Kubernetes or elects a leader through a Lease. It is the
// only place that decides where credentials come from; it makes no API calls.
package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service account
// credentials and namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// userAgent identifies linq-sync's requests in the apiserver's audit log.
const userAgent = "linq-sync"

// Client-side rate limits. client-go's defaults (5 a second, bursts of 10)
// made each create of the kubernetes: store, which reads and writes its
// Secret twice, wait on the limiter: 20 creates took 14 s. These still
// bound what one process can ask of the apiserver.
const (
	clientQPS   = 50
	clientBurst = 100
)

// Config returns the client configuration to use. An explicit kubeconfig path
// (the --kubeconfig flag) wins; otherwise the pod's in-cluster service account
// is used when linq-sync runs in a pod; otherwise the kubeconfig files named by
// KUBECONFIG, or ~/.kube/config, as kubectl reads them.
func Config(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			if clientcmd.IsEmptyConfig(err) {
				return nil, errors.New("no Kubernetes configuration: not in a pod, and neither --kubeconfig nor KUBECONFIG nor ~/.kube/config gives one")
			}
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	}
	cfg.UserAgent = userAgent
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = clientQPS, clientBurst
	}
	return cfg, nil
}

// ExplainForbidden adds, to a Forbidden error (which already names the verb,
// the resource and the namespace), where the permissions it lacks are
// granted. Other errors, nil included, are returned as they are.
func ExplainForbidden(err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w (the Role in deploy/kubernetes/rbac.yaml grants what linq-sync needs)", err)
	}
	return err
}

// PodNamespace returns the namespace of the pod linq-sync runs in, read from
// the service account mount under dir (ServiceAccountDir in a pod). Outside a
// pod it returns an error that tells the user which flag to set instead.
func PodNamespace(dir, flag string) (string, error) {
	b, err := os.ReadFile(dir + "/namespace")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("not running in a pod (no %s/namespace): set %s", dir, flag)
		}
		return "", fmt.Errorf("read the pod's namespace: %w", err)
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return "", fmt.Errorf("%s/namespace is empty: set %s", dir, flag)
	}
	return ns, nil
}
