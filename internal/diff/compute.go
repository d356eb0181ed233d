package diff

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// Options tune Compute.
type Options struct {
	// AllEnvironments brings remote subscriptions of non-production
	// environments (non-nil EnvironmentID) into scope. Without it they are
	// never matched, updated or deleted, only counted in Plan.OutOfScope.
	AllEnvironments bool
}

// maxCandidates bounds how many predecessor candidates a note names.
const maxCandidates = 3

// remoteRef is one remote subscription during matching.
type remoteRef struct {
	// url and id are sub's, kept here for a cache-friendly sort.
	url, id string
	sub     *linq.Subscription // points into the caller's slice; read only
	inScope bool
	// claimedBy is the name of the entry that matched it; pinned says
	// whether that entry matched it by id.
	claimedBy string
	claimed   bool
	pinned    bool
}

// pinnedMissingFunc words the entry error for a pinned id that is not in
// the remote state; it depends on where that state came from (the account,
// or an old version of the file).
type pinnedMissingFunc func(id string) string

func pinnedMissingOnline(id string) string {
	return fmt.Sprintf("pinned id %q does not exist in the account; fix the id, or remove \"id:\" to create a new subscription", id)
}

// otherEnvironment explains why a subscription of another environment
// cannot be matched.
func otherEnvironment(r *linq.Subscription) string {
	return fmt.Sprintf("subscription %q belongs to environment %q, which this plan does not manage; pass --all-environments to manage it", r.ID, *r.EnvironmentID)
}

// Compute returns the plan that turns remote into desired. It neither
// modifies nor retains its inputs: the plan's Desired and Current are
// copies. The same inputs, in any order, give the same plan.
func Compute(desired []config.Subscription, remote []linq.Subscription, opts Options) Plan {
	return compute(desired, remote, opts, pinnedMissingOnline)
}

func compute(desired []config.Subscription, remote []linq.Subscription, opts Options, pinnedMissing pinnedMissingFunc) Plan {
	var p Plan

	// Remote subscriptions, sorted once by (target_url, id): this is the
	// order of deletes and unmanaged, and makes every later choice
	// independent of the input order.
	refs := make([]remoteRef, 0, len(remote))
	for i := range remote {
		r := &remote[i]
		in := opts.AllEnvironments || r.EnvironmentID == nil
		if !in {
			p.OutOfScope++
		}
		refs = append(refs, remoteRef{url: r.TargetURL, id: r.ID, sub: r, inScope: in})
	}
	slices.SortFunc(refs, func(a, b remoteRef) int {
		if c := strings.Compare(a.url, b.url); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	// byID and byURL index refs; refs with one URL are adjacent, so byURL
	// holds the first and sameURL the rest.
	byID := make(map[string]int, len(refs))
	byURL := make(map[string]int, len(refs))
	for i := range refs {
		if _, dup := byID[refs[i].id]; !dup {
			byID[refs[i].id] = i
		}
		if i == 0 || refs[i-1].url != refs[i].url {
			byURL[refs[i].url] = i
		}
	}
	sameURL := func(url string) []int {
		first, ok := byURL[url]
		if !ok {
			return nil
		}
		var out []int
		for i := first; i < len(refs) && refs[i].url == url; i++ {
			out = append(out, i)
		}
		return out
	}

	// Entries, sorted once by name: the order of creates, updates and
	// errors, and of who wins when two entries claim one subscription.
	order := make([]*config.Subscription, len(desired))
	for i := range desired {
		order[i] = &desired[i]
	}
	slices.SortStableFunc(order, func(a, b *config.Subscription) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.TargetURL, b.TargetURL)
	})

	var creates, updates []Change
	fail := func(d *config.Subscription, format string, args ...any) {
		p.Errors = append(p.Errors, EntryError{Name: d.Name, Pos: d.Pos, Message: fmt.Sprintf(format, args...)})
	}
	match := func(d *config.Subscription, i int, pinned bool) {
		refs[i].claimed, refs[i].claimedBy, refs[i].pinned = true, d.Name, pinned
		c, same := compare(d, refs[i].sub)
		if same {
			p.InSync++
			return
		}
		updates = append(updates, c)
	}

	// Pinned entries first, so that an id always wins over a URL.
	for _, d := range order {
		if d.ID == "" {
			continue
		}
		i, ok := byID[d.ID]
		switch {
		case !ok:
			fail(d, "%s", pinnedMissing(d.ID))
		case !refs[i].inScope:
			fail(d, "%s", otherEnvironment(refs[i].sub))
		case refs[i].claimed:
			fail(d, "id %q is also pinned by entry %q", d.ID, refs[i].claimedBy)
		default:
			match(d, i, true)
		}
	}
	var unplaced []*config.Subscription
	for _, d := range order {
		if d.ID != "" {
			continue
		}
		cands := sameURL(d.TargetURL)
		if len(cands) == 0 {
			unplaced = append(unplaced, d)
			continue
		}
		if i, ok := findRef(refs, cands, func(r *remoteRef) bool { return r.claimed && r.pinned }); ok {
			fail(d, "target_url is that of subscription %q, which entry %q pins by id; give this entry another target_url, or remove it", refs[i].sub.ID, refs[i].claimedBy)
			continue
		}
		if i, ok := findRef(refs, cands, func(r *remoteRef) bool { return r.inScope && !r.claimed }); ok {
			match(d, i, false)
			continue
		}
		if i, ok := findRef(refs, cands, func(r *remoteRef) bool { return r.claimed }); ok {
			fail(d, "target_url is also declared by entry %q", refs[i].claimedBy)
			continue
		}
		fail(d, "target_url matches a subscription of another environment: %s", otherEnvironment(refs[cands[0]].sub))
	}

	// What is left on each side: creates, and unmatched in-scope remotes.
	var free []int
	for i := range refs {
		if refs[i].inScope && !refs[i].claimed {
			free = append(free, i)
		}
	}
	// A create may really be the URL change of an unmatched subscription
	// (same events, or same URL but for the query). Both sides are bucketed
	// by those keys, so that finding the look-alikes stays linear even when
	// many subscriptions share an event set.
	var olds, news likeness
	for _, i := range free {
		olds.add(i, refs[i].sub.SubscribedEvents, refs[i].sub.TargetURL)
	}
	for k, d := range unplaced {
		news.add(k, d.SubscribedEvents, d.TargetURL)
	}
	creates = make([]Change, 0, len(unplaced))
	for _, d := range unplaced {
		c := newCreate(d)
		if head, total := olds.lookup(d.SubscribedEvents, d.TargetURL); total > 0 {
			c.Notes = append(c.Notes, predecessorNote(refs, head, total))
		}
		creates = append(creates, c)
	}

	// An update that moves to a URL an unmatched subscription still holds
	// can succeed only once that one is gone (target_url is unique).
	for k := range updates {
		u := updates[k].Update.TargetURL
		if u == nil {
			continue
		}
		for _, i := range sameURL(*u) {
			if refs[i].inScope && !refs[i].claimed {
				updates[k].Notes = append(updates[k].Notes, fmt.Sprintf("unmatched subscription %s already has this target_url, which must be unique: the update succeeds only once %s is deleted (policy sync does that)", refs[i].sub.ID, refs[i].sub.ID))
			}
		}
	}
	updates = p.refuseSwaps(updates)
	slices.SortStableFunc(updates, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(p.Errors, func(a, b EntryError) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Message, b.Message))
	})

	p.Changes = make([]Change, 0, len(creates)+len(updates)+len(free))
	p.Changes = append(p.Changes, creates...)
	p.Changes = append(p.Changes, updates...)
	for _, i := range free {
		r := refs[i]
		c := Change{Action: ActionUnmanaged, ID: r.sub.ID, TargetURL: r.sub.TargetURL, Current: cloneRemote(r.sub)}
		if head, total := news.lookup(r.sub.SubscribedEvents, r.sub.TargetURL); total > 0 {
			names := make([]string, len(head))
			for k, j := range head {
				names[k] = unplaced[j].Name
			}
			c.Notes = append(c.Notes, successorNote(r.sub.ID, names, total))
		}
		p.Changes = append(p.Changes, c)
	}
	if len(p.Changes) == 0 {
		p.Changes = nil
	}
	return p
}

// findRef returns the first of cands whose ref satisfies ok.
func findRef(refs []remoteRef, cands []int, ok func(*remoteRef) bool) (int, bool) {
	for _, i := range cands {
		if ok(&refs[i]) {
			return i, true
		}
	}
	return 0, false
}

// compare returns the update that turns r into d, and whether they are
// already the same.
func compare(d *config.Subscription, r *linq.Subscription) (Change, bool) {
	var (
		fields []FieldChange
		up     linq.UpdateParams
	)
	if d.TargetURL != r.TargetURL {
		u := d.TargetURL
		up.TargetURL = &u
		fields = append(fields, FieldChange{Field: "target_url", Old: r.TargetURL, New: d.TargetURL})
	}
	if !sameSet(d.SubscribedEvents, r.SubscribedEvents) {
		fc := setChange("subscribed_events", r.SubscribedEvents, d.SubscribedEvents)
		up.SubscribedEvents = slices.Clone(fc.New.([]string))
		fields = append(fields, fc)
	}
	if !sameSet(d.PhoneNumbers, r.PhoneNumbers) {
		fc := setChange("phone_numbers", r.PhoneNumbers, d.PhoneNumbers)
		pn := slices.Clone(fc.New.([]string))
		if pn == nil {
			pn = []string{}
		}
		up.PhoneNumbers = &pn
		fields = append(fields, fc)
	}
	if d.IsActive != r.IsActive {
		a := d.IsActive
		up.IsActive = &a
		fields = append(fields, FieldChange{Field: "is_active", Old: r.IsActive, New: d.IsActive})
	}
	if len(fields) == 0 {
		return Change{}, true
	}
	c := Change{
		Action:    ActionUpdate,
		Name:      d.Name,
		ID:        r.ID,
		TargetURL: d.TargetURL,
		Desired:   cloneDesired(d),
		Current:   cloneRemote(r),
		Fields:    fields,
		Update:    up,
	}
	return c, false
}

// newCreate returns the create of d, with the follow-up update that
// deactivates it when d is inactive.
func newCreate(d *config.Subscription) Change {
	c := Change{
		Action:    ActionCreate,
		Name:      d.Name,
		TargetURL: d.TargetURL,
		Desired:   cloneDesired(d),
		Create: linq.CreateParams{
			TargetURL:        d.TargetURL,
			SubscribedEvents: sortedSet(d.SubscribedEvents),
		},
	}
	if pn := sortedSet(d.PhoneNumbers); len(pn) > 0 {
		c.Create.PhoneNumbers = pn
	}
	if !d.IsActive {
		inactive := false
		c.Update = linq.UpdateParams{IsActive: &inactive}
	}
	return c
}

// sortedSet returns a sorted copy of s without duplicates, never nil.
func sortedSet(s []string) []string {
	out := make([]string, len(s))
	copy(out, s)
	slices.Sort(out)
	return slices.Compact(out)
}

// isSortedSet reports whether s is strictly increasing.
func isSortedSet(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b hold the same strings, ignoring order and
// duplicates; nil and empty are equal.
func sameSet(a, b []string) bool {
	if slices.Equal(a, b) && isSortedSet(a) {
		return true // the common case, without allocating
	}
	return slices.Equal(sortedSet(a), sortedSet(b))
}

// setKey is a map key for the set s.
func setKey(s []string) string {
	if isSortedSet(s) {
		return strings.Join(s, "\x00")
	}
	return strings.Join(sortedSet(s), "\x00")
}

// setChange describes the change of a set-valued field from old to new.
func setChange(field string, old, new []string) FieldChange {
	o, n := sortedSet(old), sortedSet(new)
	return FieldChange{
		Field:   field,
		Old:     o,
		New:     n,
		Added:   minus(n, o),
		Removed: minus(o, n),
	}
}

// minus returns the elements of sorted set a that are not in sorted set b,
// or nil when there are none.
func minus(a, b []string) []string {
	var out []string
	j := 0
	for _, s := range a {
		for j < len(b) && b[j] < s {
			j++
		}
		if j < len(b) && b[j] == s {
			continue
		}
		out = append(out, s)
	}
	return out
}

// baseURL returns scheme://host/path of u, without query or fragment.
func baseURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.EscapedPath(), true
}

// predecessorNote explains that a create may really be a URL change of one
// of the unmatched subscriptions cands.
func predecessorNote(refs []remoteRef, cands []int, total int) string {
	var b strings.Builder
	b.WriteString("no subscription has this target_url, so it will be created; without an id a changed URL cannot be told from a new endpoint, and ")
	if total == 1 {
		s := refs[cands[0]].sub
		fmt.Fprintf(&b, "subscription %s (%s) looks like its predecessor: if it is, %s to update it in place", s.ID, s.TargetURL, pinHint(s.ID))
		return b.String()
	}
	b.WriteString("these subscriptions look like its predecessor: ")
	for k, i := range cands {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", refs[i].sub.ID, refs[i].sub.TargetURL)
	}
	if total > len(cands) {
		fmt.Fprintf(&b, " and %d more", total-len(cands))
	}
	b.WriteString("; if one is, pin its id with \"id:\" to update it in place")
	return b.String()
}

// successorNote tells, on an unmatched subscription, which created entries
// may be meant to replace it.
func successorNote(id string, names []string, total int) string {
	more := ""
	if total > len(names) {
		more = fmt.Sprintf(" and %d more", total-len(names))
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("may be the predecessor of new entry %s%s; if so, %s in that entry to update it in place", strings.Join(q, ", "), more, pinHint(id))
}

// pinHint tells how to pin id; an offline plan's made-up ids cannot be
// pinned, so it points at where the real one is found.
func pinHint(id string) string {
	if strings.HasPrefix(id, SyntheticIDPrefix) {
		return "pin its id (linq-sync export shows it)"
	}
	return fmt.Sprintf("pin \"id: %s\"", id)
}

// likeness buckets subscriptions by the two signs that one may be the
// other under a new URL: the same event set, or the same scheme, host and
// path. Items are added in ascending order.
type likeness struct {
	byEvents map[string][]int
	byBase   map[string][]int
	byBoth   map[string]int
}

func (l *likeness) add(item int, events []string, rawURL string) {
	if l.byEvents == nil {
		l.byEvents, l.byBase, l.byBoth = map[string][]int{}, map[string][]int{}, map[string]int{}
	}
	ek := setKey(events)
	l.byEvents[ek] = append(l.byEvents[ek], item)
	if b, ok := baseURL(rawURL); ok {
		l.byBase[b] = append(l.byBase[b], item)
		l.byBoth[ek+"\x01"+b]++
	}
}

// lookup returns the first maxCandidates items alike to the given events
// and URL, in ascending order, and how many there are in all. An item with
// the identical URL cannot be there: it would have matched.
func (l *likeness) lookup(events []string, rawURL string) (head []int, total int) {
	if l.byEvents == nil {
		return nil, 0
	}
	ek := setKey(events)
	a := l.byEvents[ek]
	var b []int
	if base, ok := baseURL(rawURL); ok {
		b = l.byBase[base]
		total -= l.byBoth[ek+"\x01"+base]
	}
	total += len(a) + len(b)
	for len(head) < maxCandidates && (len(a) > 0 || len(b) > 0) {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0] < b[0]):
			head, a = append(head, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			head, b = append(head, b[0]), b[1:]
		default: // in both
			head, a, b = append(head, a[0]), a[1:], b[1:]
		}
	}
	return head, total
}

// cloneDesired returns a deep copy of d.
func cloneDesired(d *config.Subscription) *config.Subscription {
	c := *d
	c.SubscribedEvents = slices.Clone(d.SubscribedEvents)
	c.PhoneNumbers = slices.Clone(d.PhoneNumbers)
	c.FieldPos = maps.Clone(d.FieldPos)
	return &c
}

// cloneRemote returns a deep copy of r.
func cloneRemote(r *linq.Subscription) *linq.Subscription {
	c := *r
	c.SubscribedEvents = slices.Clone(r.SubscribedEvents)
	c.PhoneNumbers = slices.Clone(r.PhoneNumbers)
	if r.EnvironmentID != nil {
		e := *r.EnvironmentID
		c.EnvironmentID = &e
	}
	return &c
}

// refuseSwaps turns updates whose target_url changes form a cycle (a moves
// to b's URL while b moves to a's) into entry errors. target_url is unique,
// so no order of single updates can apply a cycle: each would be refused,
// every reconcile, forever.
func (p *Plan) refuseSwaps(updates []Change) []Change {
	_, inCycle, leaving := renameChains(updates)
	kept := updates[:0:0]
	for i, c := range updates {
		if !inCycle[i] {
			kept = append(kept, c)
			continue
		}
		holder := updates[leaving[*c.Update.TargetURL]]
		var pos config.Position
		if c.Desired != nil {
			pos = c.Desired.Pos
		}
		p.Errors = append(p.Errors, EntryError{Name: c.Name, Pos: pos, Message: fmt.Sprintf(
			"target_url %q is the current URL of entry %q, which moves away in a cycle of URL changes; target_url is unique, so the cycle cannot be applied in one step: move one entry to a temporary URL first",
			*c.Update.TargetURL, holder.Name)})
	}
	return kept
}

// RenameWaves orders updates so that one moving a subscription onto a
// target_url that another update moves away from runs after it: wave 0
// holds the updates whose new URL nobody is leaving, wave n+1 those whose
// new URL is left by an update of wave n. Order within a wave is kept.
// Cycles cannot be ordered; Compute refuses them, and here they end up in a
// late wave.
func RenameWaves(updates []Change) [][]Change {
	depth, _, _ := renameChains(updates)
	var waves [][]Change
	for i, c := range updates {
		for len(waves) <= depth[i] {
			waves = append(waves, nil)
		}
		waves[depth[i]] = append(waves[depth[i]], c)
	}
	return waves
}

// renameChains follows, from each update, the chain of updates that must
// move away from its new target_url first. depth[i] is the length of that
// chain and inCycle[i] whether it leads back to i; leaving maps an old URL
// to the update moving away from it.
func renameChains(updates []Change) (depth []int, inCycle []bool, leaving map[string]int) {
	leaving = make(map[string]int)
	for i, c := range updates {
		if c.Update.TargetURL != nil && c.Current != nil && *c.Update.TargetURL != c.Current.TargetURL {
			leaving[c.Current.TargetURL] = i
		}
	}
	depth = make([]int, len(updates))
	inCycle = make([]bool, len(updates))
	if len(leaving) == 0 {
		return depth, inCycle, leaving
	}
	for i := range updates {
		j := i
		for steps := 0; steps <= len(leaving); steps++ {
			u := updates[j].Update.TargetURL
			if u == nil {
				break
			}
			k, ok := leaving[*u]
			if !ok {
				break
			}
			if k == i {
				inCycle[i] = true
				break
			}
			depth[i]++
			j = k
		}
	}
	return depth, inCycle, leaving
}
