package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shipped are the Kubernetes examples the checks run on.
var shipped = []string{
	"../../deploy/kubernetes/configmap.yaml",
	"../../deploy/kubernetes/deployment.yaml",
	"../../deploy/kubernetes/secret.example.yaml",
	"../../deploy/kubernetes/rbac.yaml",
}

func TestShippedKubernetesExamplesPass(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir()
	args := append([]string{"k8s", "-extract", dir}, shipped...)
	if got := run(args, &stdout, &stderr); got != 0 {
		t.Fatalf("run(k8s) = %d, want 0; stderr:\n%s", got, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "subscriptions.yaml")); err != nil {
		t.Errorf("ConfigMap data was not extracted: %v", err)
	}
}

func TestKubernetesCheckRejectsWeakenedDeployment(t *testing.T) {
	const deployment, rbac = 1, 3 // indexes into shipped
	tests := []struct {
		name     string
		file     int
		old, new string
		want     string
	}{
		{
			name: "config mounted with subPath",
			old:  "              mountPath: /etc/linq-sync\n",
			new:  "              mountPath: /etc/linq-sync\n              subPath: subscriptions.yaml\n",
			want: "uses subPath",
		},
		{
			name: "writable root filesystem",
			old:  "            readOnlyRootFilesystem: true\n            privileged: false\n",
			new:  "            readOnlyRootFilesystem: false\n            privileged: false\n",
			want: "readOnlyRootFilesystem is false, want true",
		},
		{
			name: "readiness probe on the liveness path",
			old:  "              path: /readyz\n",
			new:  "              path: /healthz\n",
			want: "readinessProbe.httpGet.path is /healthz, want /readyz",
		},
		{
			name: "metrics only on loopback",
			old:  "--listen=0.0.0.0:9464",
			new:  "--listen=127.0.0.1:9464",
			want: "--listen is 127.0.0.1:9464, want 0.0.0.0:9464",
		},
		{
			name: "no token file",
			old:  "            - --token-file=/var/run/secrets/linq-sync/token\n",
			new:  "",
			want: "args lack --token-file",
		},
		{
			name: "scrape annotation dropped",
			old:  "        prometheus.io/scrape: \"true\"\n",
			new:  "",
			want: "annotation prometheus.io/scrape is , want true",
		},
		{
			name: "a misspelt field",
			old:  "      serviceAccountName: linq-sync\n",
			new:  "      serviceAcountName: linq-sync\n",
			want: `deployment.yaml:48: strict decoding error: unknown field "spec.template.spec.serviceAcountName"`,
		},
		{
			name: "replicas without leader election",
			old:  "            - --leader-elect\n",
			new:  "",
			want: "3 replicas without --leader-elect",
		},
		{
			name: "app Secret not optional",
			old:  "            secretName: linq-sync-my-app-line-1\n            optional: true\n",
			new:  "            secretName: linq-sync-my-app-line-1\n            optional: false\n",
			want: "Secret volume webhook-my-app-line-1 is not optional",
		},
		{
			name: "a subscription's Secret not mounted",
			old:  "            secretName: linq-sync-my-app-messages\n",
			new:  "            secretName: linq-sync-other\n",
			want: "no app container mounts the Secret linq-sync-my-app-messages of subscription my-app-messages",
		},
		{
			name: "token mounted into every container",
			old:  "      automountServiceAccountToken: false\n",
			new:  "      automountServiceAccountToken: true\n",
			want: "automountServiceAccountToken is not false",
		},
		{
			name: "Role grants delete",
			file: rbac,
			old:  "    verbs: [get, list, create, update, patch]\n",
			new:  "    verbs: [get, list, create, update, patch, delete]\n",
			want: "Role linq-sync grants delete on /secrets, which linq-sync does not need",
		},
		{
			name: "Role lacks lease update",
			file: rbac,
			old:  "    verbs: [get, create, update]\n",
			new:  "    verbs: [get, create]\n",
			want: "Role linq-sync lacks update on coordination.k8s.io/leases",
		},
		{
			name: "binding to another role",
			file: rbac,
			old:  "  kind: Role\n  name: linq-sync\n",
			new:  "  kind: Role\n  name: admin\n",
			want: "RoleBinding linq-sync refers to Role admin, want Role linq-sync",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.file == 0 {
				tt.file = deployment
			}
			orig, err := os.ReadFile(shipped[tt.file])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(orig, []byte(tt.old)) {
				t.Fatalf("%s no longer contains %q; update the test", shipped[tt.file], tt.old)
			}
			files := slices.Clone(shipped)
			files[tt.file] = filepath.Join(t.TempDir(), filepath.Base(shipped[tt.file]))
			if err := os.WriteFile(files[tt.file], bytes.Replace(orig, []byte(tt.old), []byte(tt.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			got := run(append([]string{"k8s"}, files...), &stdout, &stderr)
			if got != 1 {
				t.Errorf("run(k8s) = %d, want 1", got)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestYAMLCheckRejectsDuplicateKeysAndBadSyntax(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"duplicate key", "a: 1\na: 2\n", "already defined"},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", "document 1"},
		{"scalar document", "just text\n", "not a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "x.yaml")
			if err := os.WriteFile(f, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if got := run([]string{"yaml", f}, &stdout, &stderr); got != 1 {
				t.Errorf("run(yaml) = %d, want 1", got)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.want)
			}
		})
	}
}
