package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/linq-sync/linq-sync/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// outsidePod clears what would make Config pick the in-cluster configuration
// or a real user's kubeconfig.
func outsidePod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
}

func TestConfigReadsTheKubeconfigFlagOrKUBECONFIG(t *testing.T) {
	srv := kubetest.Shared(t)
	path := kubetest.WriteKubeconfig(t, srv.Config(kubetest.Admin))
	for _, tc := range []struct {
		name, flag, env string
	}{
		{"flag", path, ""},
		{"KUBECONFIG", "", path},
		// The flag wins over KUBECONFIG, which here names no file.
		{"flag over KUBECONFIG", path, filepath.Join(t.TempDir(), "absent")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outsidePod(t)
			t.Setenv("KUBECONFIG", tc.env)
			cfg, err := Config(tc.flag)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if cfg.Host != srv.URL || cfg.UserAgent != "linq-sync" {
				t.Errorf("Config: host %q user agent %q, want %q and linq-sync", cfg.Host, cfg.UserAgent, srv.URL)
			}
			if cfg.QPS != clientQPS || cfg.Burst != clientBurst {
				t.Errorf("Config: QPS %v burst %d, want %v and %d (client-go's defaults throttle the store's creates)", cfg.QPS, cfg.Burst, clientQPS, clientBurst)
			}
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Secrets("default").List(context.Background(), metav1.ListOptions{}); err != nil {
				t.Errorf("list the Secrets of default with the loaded config: %v", err)
			}
		})
	}
}

func TestConfigWithoutAnySourceSaysWhatToSet(t *testing.T) {
	outsidePod(t)
	_, err := Config("")
	if err == nil || !strings.Contains(err.Error(), "--kubeconfig") || !strings.Contains(err.Error(), "KUBECONFIG") {
		t.Fatalf("Config: err = %v, want one naming --kubeconfig and KUBECONFIG", err)
	}
}

func TestConfigNamesAMissingKubeconfigFile(t *testing.T) {
	outsidePod(t)
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := Config(missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Config(%q): err = %v, want one naming the file", missing, err)
	}
}

func TestConfigInClusterNeedsTheServiceAccountToken(t *testing.T) {
	// In a pod (KUBERNETES_SERVICE_HOST set) without the mounted token, the
	// in-cluster configuration fails and says so rather than falling back.
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	if _, err := os.Stat(ServiceAccountDir + "/token"); err == nil {
		t.Skip("this machine has a service account token mounted")
	}
	_, err := Config("")
	if err == nil || !strings.Contains(err.Error(), "in-cluster") {
		t.Fatalf("Config: err = %v, want an in-cluster configuration error", err)
	}
}

func TestPodNamespace(t *testing.T) {
	dir := t.TempDir()
	if _, err := PodNamespace(dir, "--leader-elect-namespace"); err == nil || !strings.Contains(err.Error(), "set --leader-elect-namespace") {
		t.Errorf("without the file: err = %v, want one asking for --leader-elect-namespace", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "namespace"), []byte("apps\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := PodNamespace(dir, "--leader-elect-namespace")
	if err != nil || got != "apps" {
		t.Errorf("PodNamespace = %q, %v; want apps", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "namespace"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := PodNamespace(dir, "--x"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: err = %v, want one saying it is empty", err)
	}
}
