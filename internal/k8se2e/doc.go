// Package k8se2e proves the Kubernetes deployment end to end: several real
// linq-sync processes, each running `run --leader-elect --secrets
// kubernetes:NS` as a ServiceAccount bound to exactly the shipped Role,
// against a real kube-apiserver and etcd (internal/kubetest) and one
// in-process fake Linq API on loopback. It checks that one replica writes,
// that the others make no API call, that a replica killed with SIGKILL is
// replaced and its lost secrets are reported and rotated by the next
// leader, and that a token without the Role is told what it lacks.
//
// It holds only tests. Without the kube binaries they skip, except in CI,
// where they fail (kubetest decides).
package k8se2e
