package main

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/linq-sync/linq-sync/internal/kube/manifest"
)

// decodeTyped decodes every file into typed Kubernetes objects, strictly, as
// the apiserver would read them: an unknown field or kind is a problem.
func decodeTyped(files []string) ([]manifest.Manifest, []string) {
	var out []manifest.Manifest
	var problems []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		ms, err := manifest.Decode(f, b)
		if err != nil {
			problems = append(problems, strings.Split(err.Error(), "\n")...)
			continue
		}
		out = append(out, ms...)
	}
	return out, problems
}

// leastPrivilege is exactly what the Role may grant: verbs by API group and resource.
var leastPrivilege = map[string][]string{
	"/secrets":                   {"create", "get", "list", "patch", "update"},
	"coordination.k8s.io/leases": {"create", "get", "update"},
}

// saMountPath is where client-go's in-cluster configuration reads the token.
const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// checkTyped asserts, on the typed objects, what a sidecar keeping its secrets in
// Kubernetes Secrets needs: one writer among the replicas, the shipped Role and
// nothing more, the service account token for the linq-sync container only, and
// the app mounting each subscription's Secret as an optional volume.
func checkTyped(ms []manifest.Manifest) []string {
	c := &checker{}
	var (
		deploy  *appsv1.Deployment
		sa      *corev1.ServiceAccount
		role    *rbacv1.Role
		binding *rbacv1.RoleBinding
		cm      *corev1.ConfigMap
		where   = map[any]string{}
	)
	for _, m := range ms {
		at := m.File + ":" + strconv.Itoa(m.Line)
		switch o := m.Object.(type) {
		case *appsv1.Deployment:
			deploy = o
		case *corev1.ServiceAccount:
			sa = o
		case *rbacv1.Role:
			role = o
		case *rbacv1.RoleBinding:
			binding = o
		case *corev1.ConfigMap:
			cm = o
		case *corev1.PersistentVolumeClaim:
			c.fail(at, "PersistentVolumeClaim %s: the signing secrets live in Secrets; no volume is needed", o.Name)
		case *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
			c.fail(at, "%T: linq-sync needs nothing cluster-wide", o)
		}
		where[m.Object] = at
	}
	if deploy == nil || sa == nil || role == nil || binding == nil || cm == nil {
		c.fail("deploy/kubernetes", "want a Deployment, ServiceAccount, Role, RoleBinding and ConfigMap")
		return c.problems
	}

	checkRole(c, where[role], role)
	rb := where[binding]
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name || binding.RoleRef.APIGroup != rbacv1.GroupName {
		c.fail(rb, "RoleBinding %s refers to %s %s, want Role %s", binding.Name, binding.RoleRef.Kind, binding.RoleRef.Name, role.Name)
	}
	if !slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool {
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa.Name && (s.Namespace == "" || s.Namespace == binding.Namespace)
	}) {
		c.fail(rb, "RoleBinding %s does not bind the ServiceAccount %s", binding.Name, sa.Name)
	}
	if len(binding.Subjects) != 1 {
		c.fail(rb, "RoleBinding %s has %d subjects, want only the ServiceAccount", binding.Name, len(binding.Subjects))
	}

	dw := where[deploy] + ": Deployment " + deploy.Name
	pod := deploy.Spec.Template.Spec
	var sidecar *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "linq-sync" {
			sidecar = &pod.Containers[i]
		}
	}
	if sidecar == nil {
		c.fail(dw, "no container named linq-sync")
		return c.problems
	}
	args := map[string]string{}
	for _, a := range sidecar.Args {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	store, ok := strings.CutPrefix(args["--secrets"], "kubernetes:")
	if !ok {
		return c.problems // a --secrets-dir sidecar; checkDeployment covers it
	}
	if store == "" {
		c.fail(dw, "--secrets=kubernetes: names no namespace")
	}
	replicas := int32(1)
	if deploy.Spec.Replicas != nil {
		replicas = *deploy.Spec.Replicas
	}
	if _, elect := args["--leader-elect"]; replicas > 1 && !elect {
		c.fail(dw, "%d replicas without --leader-elect: every replica would write", replicas)
	}
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			c.fail(dw, "volume %s is a PersistentVolumeClaim; Secrets hold the signing secrets", v.Name)
		}
	}
	if pod.ServiceAccountName != sa.Name {
		c.fail(dw, "serviceAccountName is %q, want %q", pod.ServiceAccountName, sa.Name)
	}
	env := map[string]string{}
	for _, e := range sidecar.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	c.expect(dw, "linq-sync env POD_NAME", env["POD_NAME"], "metadata.name")
	if strings.Contains(args["--secrets"], "$(POD_NAMESPACE)") {
		c.expect(dw, "linq-sync env POD_NAMESPACE", env["POD_NAMESPACE"], "metadata.namespace")
	}

	// The service account token: in the linq-sync container only.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		c.fail(dw, "automountServiceAccountToken is not false: every container would get linq-sync's token")
	}
	tokenVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Projected != nil && slices.ContainsFunc(v.Projected.Sources, func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil }) {
			tokenVolumes[v.Name] = true
		}
	}
	for _, ct := range pod.Containers {
		for _, vm := range ct.VolumeMounts {
			if !tokenVolumes[vm.Name] {
				continue
			}
			if ct.Name != sidecar.Name {
				c.fail(dw, "container %s mounts the service account token; only linq-sync needs it", ct.Name)
			} else if vm.MountPath != saMountPath {
				c.fail(dw, "the token is mounted at %s, want %s (where client-go looks)", vm.MountPath, saMountPath)
			}
		}
	}
	if !slices.ContainsFunc(sidecar.VolumeMounts, func(vm corev1.VolumeMount) bool { return tokenVolumes[vm.Name] }) {
		c.fail(dw, "the linq-sync container does not mount a service account token")
	}

	// Each subscription's Secret, mounted optional by an app container.
	prefix := "linq-sync-"
	if p, ok := args["--secrets-prefix"]; ok {
		prefix = p
	}
	names, err := subscriptionNames(cm.Data["subscriptions.yaml"])
	if err != nil {
		c.fail(where[cm], "ConfigMap %s: subscriptions.yaml: %v", cm.Name, err)
	}
	secretVolumes := map[string]*corev1.SecretVolumeSource{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret
		}
	}
	for _, name := range names {
		want := prefix + name
		found := false
		for _, ct := range pod.Containers {
			if ct.Name == sidecar.Name {
				continue
			}
			for _, vm := range ct.VolumeMounts {
				if s := secretVolumes[vm.Name]; s != nil && s.SecretName == want {
					found = true
					if s.Optional == nil || !*s.Optional {
						c.fail(dw, "Secret volume %s is not optional: pods would not start before linq-sync creates it", vm.Name)
					}
				}
			}
		}
		if !found {
			c.fail(dw, "no app container mounts the Secret %s of subscription %s", want, name)
		}
	}
	return c.problems
}

// checkRole asserts the Role grants exactly leastPrivilege.
func checkRole(c *checker, where string, role *rbacv1.Role) {
	got := map[string][]string{}
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			c.fail(where, "Role %s: rule %v narrows by name or URL; the checks expect plain rules", role.Name, r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := g + "/" + res
				got[k] = append(got[k], r.Verbs...)
			}
		}
	}
	for k, verbs := range got {
		slices.Sort(verbs)
		verbs = slices.Compact(verbs)
		want, ok := leastPrivilege[k]
		if !ok {
			c.fail(where, "Role %s grants %v on %s, which linq-sync does not need", role.Name, verbs, k)
			continue
		}
		for _, v := range verbs {
			if !slices.Contains(want, v) {
				c.fail(where, "Role %s grants %s on %s, which linq-sync does not need", role.Name, v, k)
			}
		}
		for _, v := range want {
			if !slices.Contains(verbs, v) {
				c.fail(where, "Role %s lacks %s on %s", role.Name, v, k)
			}
		}
	}
	for k := range leastPrivilege {
		if _, ok := got[k]; !ok {
			c.fail(where, "Role %s grants nothing on %s", role.Name, k)
		}
	}
}

// subscriptionNames returns the names in a subscriptions file.
func subscriptionNames(file string) ([]string, error) {
	var f struct {
		Subscriptions []struct {
			Name string `yaml:"name"`
		} `yaml:"subscriptions"`
	}
	if err := yaml.Unmarshal([]byte(file), &f); err != nil {
		return nil, err
	}
	var names []string
	for _, s := range f.Subscriptions {
		names = append(names, s.Name)
	}
	return names, nil
}
