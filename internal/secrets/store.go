// Package secrets keeps custody of signing secrets: the one value the API
// hands over once, in the answer to a create. A Store holds, per file entry
// name, the secret and a record of which subscription it belongs to, and a
// journal of creates in flight, so that a create whose secret was never
// stored (a kill, a full disk, a lost answer) is seen by the next plan
// instead of being lost in silence.
//
// Stores never log, print or put a secret's value in an error. The value
// leaves a store only through Secret, for the probes that prove a receiver
// holds it, and (for the exec store) on the program's standard input.
package secrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Record says which subscription a held secret belongs to.
type Record struct {
	Name           string    `json:"name"`
	SubscriptionID string    `json:"subscription_id"`
	TargetURL      string    `json:"target_url"`
	CreatedAt      time.Time `json:"created_at"`
	// Fingerprint is "sha256:" and the hex SHA-256 of the secret, so that
	// a stored secret can be checked against its record without showing it.
	Fingerprint string `json:"fingerprint"`
	// PreviousSubscriptionID is the subscription a rotation replaced.
	PreviousSubscriptionID string `json:"previous_subscription_id,omitempty"`
}

// Intent is a create about to be made: written durably before the call,
// cleared when its secret is stored or the create is known not to have
// happened.
type Intent struct {
	Name      string    `json:"name"`
	TargetURL string    `json:"target_url"`
	At        time.Time `json:"at"`
	// Replaces is the subscription a rotation deletes before this create.
	Replaces string `json:"replaces,omitempty"`
}

// Entry is what a store holds for one name.
type Entry struct {
	Name string
	// Held is the record of the secret held, nil when none is.
	Held *Record
	// Verified reports whether the stored secret matches Held's
	// fingerprint (always true for stores that cannot read secrets back).
	Verified bool
	// Legacy is a secret stored by an older linq-sync, with no record of
	// its subscription.
	Legacy bool
	// Pending is a create started and never marked done.
	Pending *Intent
}

// Keep says what Put does with a secret the name already holds for
// another subscription.
type Keep int

const (
	// KeepNone replaces it: its subscription no longer exists.
	KeepNone Keep = iota
	// KeepPrevious keeps it as the name's previous secret, for a
	// rotation: a receiver can accept both while it switches.
	KeepPrevious
	// KeepArchive keeps it under the name and its subscription id, because
	// that subscription still exists and may still deliver with it.
	KeepArchive
)

// Store keeps signing secrets and the journal of creates. Implementations
// are safe for concurrent use. Their errors never contain a secret.
type Store interface {
	// String names the store for messages ("dir:/var/lib/linq-sync").
	String() string
	// Probe proves, without keeping anything, that the store can take a
	// secret of real size now. It is called before the first create.
	Probe(ctx context.Context) error
	// Intend records in durable storage that a create is about to be
	// made. It returns only once the record would survive a crash.
	Intend(ctx context.Context, in Intent) error
	// Put stores secret for rec.Name with its record and clears the
	// name's intent. keep says what happens to a secret the name already
	// holds for another subscription.
	Put(ctx context.Context, rec Record, secret string, keep Keep) error
	// Abandon clears the intent of name: its create is known not to have
	// made a subscription.
	Abandon(ctx context.Context, name string) error
	// Load returns what the store holds, by name.
	Load(ctx context.Context) (map[string]Entry, error)
	// Secret returns the secret held for name, or ErrNotReadable for
	// stores that cannot give secrets back.
	Secret(ctx context.Context, name string) (string, error)
}

// ErrNotReadable is returned by Secret for stores that hand secrets on and
// cannot read them back (the exec store).
var ErrNotReadable = errors.New("this store cannot read secrets back")

// ErrNotHeld is returned by Secret when no secret is held for the name.
var ErrNotHeld = errors.New("no secret held")

// Fingerprint returns the fingerprint a Record keeps of secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ProbeSize is the size of the probe a store writes before the first
// create: larger than any signing secret and its record together.
const ProbeSize = 4096

// CheckName refuses names that are not one safe path segment; file entry
// names are validated to be so already, this guards the stores.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid secret name %q", name)
	}
	return nil
}

// Opener opens a store from the part of a --secrets URI after its scheme.
type Opener func(ctx context.Context, arg string, opts OpenOptions) (Store, error)

// OpenOptions are what stores may need besides their URI.
type OpenOptions struct {
	// StateDir holds the journal of stores that keep no files of their
	// own (exec).
	StateDir string
	// Warn receives non-fatal findings (a directory tightened to 0700).
	Warn func(msg string, args ...any)
	// Logger receives what stores report as they work (an exec program's
	// standard error); nil discards.
	Logger *slog.Logger
	// ReadOnly opens the store only to read what it holds, as plan does:
	// nothing is created, tightened or repaired, and writes fail.
	ReadOnly bool
}

// ErrReadOnly is returned by the writes of a store opened ReadOnly.
var ErrReadOnly = errors.New("secret store opened read-only")

var openers = map[string]Opener{
	"dir":  openDirURI,
	"exec": openExecURI,
}

// Register adds a store scheme; packages that bring heavy dependencies
// (kubernetes) register themselves, so that the stores here need none.
func Register(scheme string, o Opener) { openers[scheme] = o }

// Schemes lists the registered schemes, for help texts and completion.
func Schemes() []string {
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open opens the store a --secrets URI names: SCHEME:ARG.
func Open(ctx context.Context, uri string, opts OpenOptions) (Store, error) {
	scheme, arg, ok := strings.Cut(uri, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("--secrets %q: want SCHEME:ARGUMENT, one of %s", uri, strings.Join(Schemes(), ", "))
	}
	o, found := openers[scheme]
	if !found {
		return nil, fmt.Errorf("--secrets %q: unknown store %q; known: %s", uri, scheme, strings.Join(Schemes(), ", "))
	}
	return o(ctx, arg, opts)
}
