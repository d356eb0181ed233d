package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteStoresSecretWithMode0600AndNoTempFiles(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write("crm-events", "whsec_abc"); err != nil {
		t.Fatal(err)
	}
	if err := d.Write("crm-events", "whsec_def"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(d.Path("crm-events"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "whsec_def\n" {
		t.Errorf("content = %q, want the latest secret", got)
	}
	fi, err := os.Stat(d.Path("crm-events"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %v, want 0600", mode)
	}
	entries, _ := os.ReadDir(d.path)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the secret file", len(entries))
	}
}

func TestOpenRefusesUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes anywhere; a file in the way is unwritable for everyone.
		p := filepath.Join(t.TempDir(), "file")
		os.WriteFile(p, nil, 0o600)
		if _, err := Open(p); err == nil {
			t.Fatal("Open on a regular file succeeded")
		}
		return
	}
	p := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(p, 0o500)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Open = %v, want not writable", err)
	}
}

func TestWriteRejectsPathNames(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "..", "a/b", `a\b`} {
		if err := d.Write(name, "x"); err == nil {
			t.Errorf("Write(%q) succeeded", name)
		}
	}
}
