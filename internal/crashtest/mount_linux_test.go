package crashtest

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs with opts on a new temporary directory and
// unmounts it at cleanup. Where mounting is not permitted the test is
// skipped, except in CI (CI=true), where it fails.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs (%s): %v; CI runs these cases as root", opts, err)
		}
		t.Skipf("cannot mount a tmpfs here (%v): run as root to test full, read-only and quota-limited stores", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// remountReadOnly makes the tmpfs at dir read-only, retrying while a file
// is open for writing (EBUSY).
func remountReadOnly(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, "")
		if err == nil {
			return
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			t.Fatalf("remount %s read-only: %v", dir, err)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
