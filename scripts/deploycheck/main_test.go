package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shipped are the Kubernetes examples the checks run on.
var shipped = []string{
	"../../deploy/kubernetes/configmap.yaml",
	"../../deploy/kubernetes/deployment.yaml",
	"../../deploy/kubernetes/secret.example.yaml",
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
	orig, err := os.ReadFile("../../deploy/kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tt.old)) {
				t.Fatalf("deployment.yaml no longer contains %q; update the test", tt.old)
			}
			dir := t.TempDir()
			bad := filepath.Join(dir, "deployment.yaml")
			if err := os.WriteFile(bad, bytes.Replace(orig, []byte(tt.old), []byte(tt.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			got := run([]string{"k8s", shipped[0], bad, shipped[2]}, &stdout, &stderr)
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
