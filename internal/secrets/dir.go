package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Dir is a directory of secret files. For each name it holds
//
//	NAME.secret           exactly the signing secret, as apps read it
//	NAME.json             its record, and the intent of a create in flight
//	NAME.previous.secret  the secret a rotation replaced (and .json)
//	NAME.ID.secret        a secret kept because its subscription ID still
//	                      exists after the name moved on (and .json)
//
// Every file is mode 0600, written atomically and durably: a temporary file
// in the same directory, fsync, rename, fsync of the directory. Names have
// no dots (the config allows none), so these files cannot collide.
type Dir struct {
	journal
	mu       sync.Mutex
	readOnly bool
}

// journal is a directory of NAME.json records and intents. The dir store
// keeps it beside the secrets; the exec store in its state directory.
type journal struct{ path string }

// meta is the content of NAME.json.
type meta struct {
	Record
	Pending *Intent `json:"pending,omitempty"`
}

const tmpMark = ".tmp-"

// OpenDir opens the secret directory at path, creating it with mode 0700
// when missing. A directory that others can read or write is tightened to
// 0700 when this process owns it (and warned about either way). Temporary
// files left by a crash are resolved: one that holds the secret its record
// names is moved into place, the rest are removed.
func OpenDir(path string, opts OpenOptions) (*Dir, error) {
	if path == "" {
		return nil, errors.New("no secrets directory given")
	}
	if opts.ReadOnly {
		return openDirReadOnly(path, opts)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("secrets directory: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("secrets directory %q is not a directory", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		warn := opts.Warn
		if warn == nil {
			warn = func(string, ...any) {}
		}
		if owned(fi) {
			if err := os.Chmod(path, 0o700); err != nil {
				return nil, fmt.Errorf("secrets directory %q has mode %04o and could not be tightened: %w", path, perm, err)
			}
			warn("secrets directory was open to other users; tightened to 0700", "dir", path, "was", fmt.Sprintf("%04o", perm))
		} else {
			warn("secrets directory is open to other users and owned by someone else; not changing it", "dir", path, "mode", fmt.Sprintf("%04o", perm))
		}
	}
	d := &Dir{journal: journal{path: path}}
	if err := d.recover(); err != nil {
		return nil, err
	}
	return d, nil
}

// openDirReadOnly opens path to read: a missing directory holds nothing,
// and one open to others is only warned about.
func openDirReadOnly(path string, opts OpenOptions) (*Dir, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("secrets directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("secrets directory %q is not a directory", path)
	case fi.Mode().Perm()&0o077 != 0 && opts.Warn != nil:
		opts.Warn("secrets directory is open to other users; apply and run tighten it to 0700", "dir", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return &Dir{journal: journal{path: path}, readOnly: true}, nil
}

func openDirURI(_ context.Context, arg string, opts OpenOptions) (Store, error) {
	return OpenDir(arg, opts)
}

// String names the store.
func (d *Dir) String() string { return "dir:" + d.path }

// Path returns the file a name's secret is stored in.
func (d *Dir) Path(name string) string { return filepath.Join(d.path, name+".secret") }

func (j journal) metaPath(name string) string { return filepath.Join(j.path, name+".json") }

// Probe writes, fsyncs and removes a file of ProbeSize bytes, so that a
// full or read-only filesystem is found before any create, not after.
func (d *Dir) Probe(context.Context) error {
	if d.readOnly {
		return ErrReadOnly
	}
	f, err := os.CreateTemp(d.path, ".probe"+tmpMark+"*")
	if err != nil {
		return fmt.Errorf("secrets directory %q cannot take a secret: %w", d.path, err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(bytes.Repeat([]byte{'x'}, ProbeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Remove(name)
	}
	if err != nil {
		return fmt.Errorf("secrets directory %q cannot take a secret: %w", d.path, err)
	}
	return nil
}

// Intend records in NAME.json that a create is about to be made, keeping
// the record of any secret the name holds.
func (d *Dir) Intend(_ context.Context, in Intent) error {
	if d.readOnly {
		return ErrReadOnly
	}
	if err := CheckName(in.Name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, _, err := d.readMeta(in.Name)
	if err != nil {
		return err
	}
	m.Pending = &in
	if err := d.writeMeta(in.Name, m); err != nil {
		return fmt.Errorf("record the create of %q before making it: %w", in.Name, err)
	}
	return nil
}

// Abandon clears the intent in NAME.json, removing the file when it then
// holds nothing.
func (d *Dir) Abandon(_ context.Context, name string) error {
	if d.readOnly {
		return ErrReadOnly
	}
	if err := CheckName(name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok, err := d.readMeta(name)
	if err != nil || !ok || m.Pending == nil {
		return err
	}
	m.Pending = nil
	if m.SubscriptionID == "" {
		return d.remove(d.metaPath(name))
	}
	return d.writeMeta(name, m)
}

// Put stores secret in NAME.secret and its record in NAME.json. The
// record is written first, so that a crash between the two leaves a record
// whose fingerprint the file does not match: a loss the next plan sees,
// never a secret silently attributed to the wrong subscription.
func (d *Dir) Put(_ context.Context, rec Record, secret string, keep Keep) error {
	if d.readOnly {
		return ErrReadOnly
	}
	if err := CheckName(rec.Name); err != nil {
		return err
	}
	if secret == "" {
		return fmt.Errorf("store secret of %q: empty secret", rec.Name)
	}
	rec.Fingerprint = Fingerprint(secret)
	d.mu.Lock()
	defer d.mu.Unlock()
	old, ok, err := d.readMeta(rec.Name)
	if err != nil {
		return err
	}
	if ok && old.SubscriptionID != "" && old.SubscriptionID != rec.SubscriptionID && keep != KeepNone {
		suffix := ".previous"
		if keep == KeepArchive {
			if err := CheckName(old.SubscriptionID); err != nil {
				return fmt.Errorf("keep the secret of %q: subscription id: %w", rec.Name, err)
			}
			suffix = "." + old.SubscriptionID
		}
		if err := d.keepAs(rec.Name, rec.Name+suffix, old); err != nil {
			return err
		}
	}
	if err := d.writeMeta(rec.Name, meta{Record: rec}); err != nil {
		return fmt.Errorf("store the record of %q: %w", rec.Name, err)
	}
	if err := writeFile(d.path, rec.Name+".secret", []byte(secret)); err != nil {
		return fmt.Errorf("store the secret of %q: %w", rec.Name, err)
	}
	return nil
}

// keepAs copies the secret and record of name to the files of as.
func (d *Dir) keepAs(name, as string, m meta) error {
	b, err := os.ReadFile(d.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing to keep: the record already names a lost secret
	}
	if err != nil {
		return fmt.Errorf("keep the secret of %q: %w", name, err)
	}
	m.Pending = nil
	m.Name = as
	if err := writeFile(d.path, as+".secret", b); err != nil {
		return fmt.Errorf("keep the secret of %q as %s.secret: %w", name, as, err)
	}
	if err := d.writeMeta(as, m); err != nil {
		return fmt.Errorf("keep the record of %q as %s.json: %w", name, as, err)
	}
	return nil
}

// Load reads every NAME.json and NAME.secret of the directory. Kept
// secrets (previous and archived) are not entries of their own.
func (d *Dir) Load(context.Context) (map[string]Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	des, err := os.ReadDir(d.path)
	if d.readOnly && errors.Is(err, fs.ErrNotExist) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets directory: %w", err)
	}
	out := map[string]Entry{}
	for _, de := range des {
		n := de.Name()
		var name string
		switch {
		case strings.HasPrefix(n, "."):
			continue
		case strings.HasSuffix(n, ".json"):
			name = strings.TrimSuffix(n, ".json")
		case strings.HasSuffix(n, ".secret"):
			name = strings.TrimSuffix(n, ".secret")
		default:
			continue
		}
		if strings.Contains(name, ".") || CheckName(name) != nil {
			continue
		}
		if _, done := out[name]; done {
			continue
		}
		e, err := d.entry(name)
		if err != nil {
			return nil, err
		}
		out[name] = e
	}
	return out, nil
}

func (d *Dir) entry(name string) (Entry, error) {
	e := Entry{Name: name}
	m, ok, err := d.readMeta(name)
	if err != nil {
		return e, err
	}
	secret, err := os.ReadFile(d.Path(name))
	hasSecret := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return e, fmt.Errorf("read secret of %q: %w", name, err)
	}
	e.Pending = m.Pending
	switch {
	case ok && m.SubscriptionID != "":
		rec := m.Record
		e.Held = &rec
		e.Verified = hasSecret && Fingerprint(string(secret)) == m.Fingerprint
		// A secret left complete in a temporary file by a kill between
		// its fsync and its rename is not verified here: apps read
		// NAME.secret, which does not hold it until the next apply or
		// run moves it into place (recover) and the plan then finds it.
	case hasSecret:
		e.Legacy = true
	}
	return e, nil
}

// Secret returns the secret in NAME.secret. Files written by older
// versions end in a newline, which is not part of the secret.
func (d *Dir) Secret(_ context.Context, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	b, err := os.ReadFile(d.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("secret of %q: %w", name, ErrNotHeld)
	}
	if err != nil {
		return "", fmt.Errorf("read secret of %q: %w", name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// readMeta reads NAME.json; ok is false when there is none.
func (j journal) readMeta(name string) (meta, bool, error) {
	var m meta
	b, err := os.ReadFile(j.metaPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read record of %q: %w", name, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("%s: not a secret record (%v); move it away to continue", j.metaPath(name), err)
	}
	return m, true, nil
}

func (j journal) writeMeta(name string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(j.path, name+".json", append(b, '\n'))
}

func (j journal) remove(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(j.path)
}

// recover resolves the temporary files a crash left behind: a secret whose
// fingerprint its record names, and which the secret file does not hold
// yet, is moved into place; every other temporary file is removed.
func (d *Dir) recover() error {
	des, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("read secrets directory: %w", err)
	}
	for _, de := range des {
		n := de.Name()
		if !strings.HasPrefix(n, ".") || !strings.Contains(n, tmpMark) || !de.Type().IsRegular() {
			continue
		}
		tmp := filepath.Join(d.path, n)
		final, _, _ := strings.Cut(strings.TrimPrefix(n, "."), tmpMark)
		if name, ok := strings.CutSuffix(final, ".secret"); ok && CheckName(name) == nil && !strings.Contains(name, ".") {
			if m, ok, err := d.readMeta(name); err == nil && ok && m.Fingerprint != "" {
				cur, _ := os.ReadFile(d.Path(name))
				if b, err := os.ReadFile(tmp); err == nil && Fingerprint(string(b)) == m.Fingerprint && Fingerprint(string(cur)) != m.Fingerprint {
					if err := os.Rename(tmp, d.Path(name)); err == nil {
						continue
					}
				}
			}
		}
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale temporary file: %w", err)
		}
	}
	return syncDir(d.path)
}

// writeFile writes data to dir/name atomically and durably, mode 0600.
func writeFile(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+tmpMark+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
