package diff

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// SecretState is who holds a managed subscription's signing secret.
type SecretState string

const (
	// SecretHeld: the store holds the secret of exactly this subscription.
	SecretHeld SecretState = "held"
	// SecretLost: this subscription was created here (the journal or a
	// record says so) and its secret is not held: deliveries to it cannot
	// be verified, and the only cure is a rotation.
	SecretLost SecretState = "lost"
	// SecretUnknown: nothing says where the secret is, as for a
	// subscription adopted with export. Never alarmed about.
	SecretUnknown SecretState = "unknown"
)

// Why a secret is lost, as the plan finds it; label-shaped, for metrics.
const (
	// LostInterrupted: a create was journalled and its secret never stored
	// (a kill, a crash, a lost answer).
	LostInterrupted = "interrupted"
	// LostMismatch: the store's record names another subscription, or the
	// stored secret does not match its record.
	LostMismatch = "mismatch"
)

// Held is what the secret store says about one name; diff takes it as
// plain data so that planning stays pure.
type Held struct {
	// SubscriptionID is the subscription the stored record names; empty
	// when there is no record.
	SubscriptionID string
	// Verified: the stored secret matches its record.
	Verified bool
	// Legacy: a secret stored with no record (by an older linq-sync).
	Legacy bool
	// PendingSince is when a journalled create of this name started and
	// was never marked done; zero when none is pending.
	PendingSince time.Time
}

// Custody is the state of one managed subscription's secret.
type Custody struct {
	Name  string
	ID    string
	State SecretState
	// Reason is LostInterrupted or LostMismatch for a lost secret.
	Reason string
	// Detail says, for people, what was found.
	Detail string
}

// AssessCustody returns the custody of each matched entry (name and the
// remote id it matched), sorted by name. An entry is lost when the store
// holds a record of another subscription or a secret that does not match
// its record, or when a create of it was journalled and never completed;
// held when the record names this subscription and the secret matches (or
// an older linq-sync stored a secret with no record); unknown otherwise.
func AssessCustody(matched []Match, held map[string]Held) []Custody {
	out := make([]Custody, 0, len(matched))
	for _, m := range matched {
		c := Custody{Name: m.Name, ID: m.ID, State: SecretUnknown}
		h, ok := held[m.Name]
		switch {
		case !ok:
		case h.SubscriptionID == m.ID && h.Verified:
			c.State = SecretHeld
		case h.SubscriptionID == m.ID:
			c.State, c.Reason = SecretLost, LostMismatch
			c.Detail = "the stored secret is missing or does not match its record"
		case !h.PendingSince.IsZero():
			c.State, c.Reason = SecretLost, LostInterrupted
			c.Detail = fmt.Sprintf("a create started at %s and its secret was never stored", h.PendingSince.UTC().Format(time.RFC3339))
		case h.SubscriptionID != "":
			c.State, c.Reason = SecretLost, LostMismatch
			c.Detail = fmt.Sprintf("the stored secret belongs to subscription %s, not this one", h.SubscriptionID)
		case h.Legacy:
			c.State = SecretHeld
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Custody) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Match is a file entry matched to a remote subscription. Desired and
// Current point into Compute's inputs, which are never changed.
type Match struct {
	Name    string
	ID      string
	Desired *config.Subscription
	Current *linq.Subscription
}

// ActionRotate replaces a subscription with a new one at the same URL, so
// that a fresh signing secret is held: delete, then create, then store.
// It counts as a delete for the safety rails.
const ActionRotate Action = "rotate"

// Rotate returns p with the matched entries named in names replaced: each
// one's update (if any) gives way to a rotation, which creates the entry
// as declared. Names that p did not match are returned as unknown, in the
// order given, so the caller can refuse them.
func Rotate(p Plan, names []string) (Plan, []string) {
	byName := make(map[string]Match, len(p.Matched))
	for _, m := range p.Matched {
		byName[m.Name] = m
	}
	want := map[string]bool{}
	var unknown []string
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			unknown = append(unknown, n)
			continue
		}
		want[n] = true
	}
	if len(want) == 0 {
		return p, unknown
	}
	out := p
	out.Changes = make([]Change, 0, len(p.Changes)+len(want))
	updated := map[string]bool{} // rotated entries that were not in sync
	for _, c := range p.Changes {
		if c.Action == ActionUpdate && want[c.Name] {
			updated[c.Name] = true
			continue
		}
		out.Changes = append(out.Changes, c)
	}
	inSync := 0
	for _, m := range p.Matched {
		if !want[m.Name] {
			continue
		}
		if !updated[m.Name] {
			inSync++
		}
		c := newCreate(m.Desired)
		c.Action, c.ID, c.Current = ActionRotate, m.ID, cloneRemote(m.Current)
		out.Changes = append(out.Changes, c)
	}
	out.InSync -= inSync
	slices.SortStableFunc(out.Changes, compareChanges)
	return out, unknown
}

// Lost returns the custody entries whose secret is lost.
func Lost(cs []Custody) []Custody {
	var out []Custody
	for _, c := range cs {
		if c.State == SecretLost {
			out = append(out, c)
		}
	}
	return out
}

// Deferred is a move held back: an entry with verify_before_move whose new
// target_url has not answered a signed probe as verified. Nothing moves
// until it does; the plan says why.
type Deferred struct {
	Name, ID string
	From, To string
	Reason   string
}

// DeferMove returns p with the target_url change of name's update held
// back for reason. The update's other fields still apply; an update that
// only moved is dropped. p is not changed.
func DeferMove(p Plan, name, reason string) Plan {
	out := p
	out.Changes = make([]Change, 0, len(p.Changes))
	for _, c := range p.Changes {
		if c.Action != ActionUpdate || c.Name != name || c.Update.TargetURL == nil {
			out.Changes = append(out.Changes, c)
			continue
		}
		from := ""
		if c.Current != nil {
			from = c.Current.TargetURL
		}
		out.Deferred = append(slices.Clone(p.Deferred), Deferred{Name: name, ID: c.ID, From: from, To: *c.Update.TargetURL, Reason: reason})
		c.Update.TargetURL = nil
		c.TargetURL = from
		c.Fields = slices.DeleteFunc(slices.Clone(c.Fields), func(f FieldChange) bool { return f.Field == "target_url" })
		if len(c.Fields) > 0 {
			out.Changes = append(out.Changes, c)
		}
	}
	return out
}

// Moves returns the updates of p that change a target_url, for entries
// that ask for verify_before_move.
func Moves(p Plan) []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Action == ActionUpdate && c.Update.TargetURL != nil && c.Desired != nil && c.Desired.VerifyBeforeMove {
			out = append(out, c)
		}
	}
	return out
}
