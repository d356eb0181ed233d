// Package secrets stores signing secrets received from the API: one file
// per subscription, mode 0600, written atomically so that a reader never
// sees half a secret. It never logs or returns a secret's value in errors.
package secrets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a directory of secret files named <name>.secret.
type Dir struct{ path string }

// Open returns the secret directory at path, creating it with mode 0700
// when missing, and checks that files can be created in it, so that no
// secret is ever received with nowhere to put it.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("no secrets directory given")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("secrets directory: %w", err)
	}
	f, err := os.CreateTemp(path, ".write-check-*")
	if err != nil {
		return nil, fmt.Errorf("secrets directory %q is not writable: %w", path, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return nil, fmt.Errorf("secrets directory %q: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// Path returns the file a subscription's secret is stored in.
func (d *Dir) Path(name string) string {
	return filepath.Join(d.path, name+".secret")
}

// Write stores value as the secret of the subscription called name,
// atomically (temporary file, fsync, rename, fsync of the directory) and
// with mode 0600. An existing secret of that name is replaced.
func (d *Dir) Write(name, value string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("write secret: invalid name %q", name)
	}
	f, err := os.CreateTemp(d.path, "."+name+".secret.tmp-*")
	if err != nil {
		return fmt.Errorf("write secret for %q: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write secret for %q: %w", name, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write secret for %q: %w", name, err)
	}
	if err := os.Rename(tmp, d.Path(name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write secret for %q: %w", name, err)
	}
	if dir, err := os.Open(d.path); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
