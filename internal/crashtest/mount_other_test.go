//go:build !linux

package crashtest

import "testing"

func mountTmpfs(t *testing.T, _ string) string {
	t.Skip("tmpfs mounts are Linux only")
	return ""
}

func remountReadOnly(t *testing.T, _ string) { t.Skip("tmpfs mounts are Linux only") }
