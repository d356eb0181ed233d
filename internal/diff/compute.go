package diff

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/linq"
	"github.com/linq-sync/linq-sync/internal/strindex"
)

// Options tune Compute.
type Options struct {
	// AllEnvironments brings remote subscriptions of non-production
	// environments (non-nil EnvironmentID) into scope. Without it they are
	// never matched, updated or deleted, only counted in Plan.OutOfScope.
	AllEnvironments bool
}

// remoteRef is one remote subscription during matching.
type remoteRef struct {
	sub *linq.Subscription // points into the caller's slice; read only
	// next is the index of the next ref with the same target_url, in
	// (id, input) order, or -1: the API keeps target_url unique, so the
	// chain is almost always this ref alone.
	next    int
	inScope bool
	// claimedBy is the name of the entry that matched it; pinned says
	// whether that entry matched it by id.
	claimedBy string
	claimed   bool
	pinned    bool
}

// pinnedMissingFunc words the entry error for a pinned id that is not in
// the account. Offline (the remote state is an old version of the file)
// it is nil: such an id is an adoption, not an error.
type pinnedMissingFunc func(id string) string

// Compute returns the plan that turns remote into desired. It neither
// modifies nor retains its inputs: the plan's Desired and Current are
// copies. The same inputs, in any order, give the same plan.
func Compute(desired []config.Subscription, remote []linq.Subscription, opts Options) Plan {
	return compute(desired, remote, opts, pinnedMissingOnline)
}

func compute(desired []config.Subscription, remote []linq.Subscription, opts Options, pinnedMissing pinnedMissingFunc) Plan {
	m := newMatcher(remote, opts, pinnedMissing)
	order := sortedEntries(desired)
	m.matchedRef = make([]int, len(order))
	for k := range m.matchedRef {
		m.matchedRef[k] = -1
	}
	m.matchPinned(order)
	m.matchByURL(order)
	free := m.free()
	creates, succ := m.creates(free)
	m.noteHeldURLs()
	return m.assemble(order, creates, free, succ)
}

// matcher holds the state of one Compute while entries are matched to
// remote subscriptions.
type matcher struct {
	p             Plan
	pinnedMissing pinnedMissingFunc
	// refs are the remote subscriptions in the caller's order; byID and
	// byURL index them. byURL holds the first of the refs with a URL, the
	// rest are chained through remoteRef.next. Every choice between refs
	// goes by (target_url, id), never by their position, so the input
	// order does not matter.
	refs  []remoteRef
	byID  *strindex.Index
	byURL *strindex.Index
	// cands is the buffer sameURL returns, reused from call to call.
	cands []int
	// matchedRef is, for each entry in name order, the index of the ref it
	// matched, or -1.
	matchedRef []int
	// updates are the matched entries that differ from their remote;
	// unplaced the entries that matched nothing.
	updates  []Change
	unplaced []*config.Subscription
	// adopts are the offline adoptions, by id.
	adopts  []Change
	adopted map[string]string // id → entry name
}

// newMatcher indexes the remote subscriptions by id and by target_url.
// Subscriptions of other environments are out of scope unless
// opts.AllEnvironments. The index is built without sorting: only the
// unmatched subscriptions are sorted (see free), which are usually few.
func newMatcher(remote []linq.Subscription, opts Options, pinnedMissing pinnedMissingFunc) *matcher {
	m := &matcher{pinnedMissing: pinnedMissing}
	m.refs = make([]remoteRef, len(remote))
	m.byID = strindex.New(len(remote), func(i int) string { return m.refs[i].sub.ID })
	m.byURL = strindex.New(len(remote), func(i int) string { return m.refs[i].sub.TargetURL })
	for i := range remote {
		r := &remote[i]
		in := opts.AllEnvironments || r.EnvironmentID == nil
		if !in {
			m.p.OutOfScope++
		}
		m.refs[i] = remoteRef{sub: r, next: -1, inScope: in}
		// One id twice (which the API does not allow) resolves to the ref
		// with the least target_url, whatever the input order.
		if j, dup := m.byID.Claim(r.ID, i); dup && m.refLess(i, j) {
			m.byID.Set(r.ID, i)
		}
		m.chainURL(i)
	}
	return m
}

// refLess orders refs by (target_url, id), and by input position when both
// are equal: the order of deletes and unmanaged, and of every choice
// between refs.
func (m *matcher) refLess(i, j int) bool {
	a, b := m.refs[i].sub, m.refs[j].sub
	if c := cmp.Or(strings.Compare(a.TargetURL, b.TargetURL), strings.Compare(a.ID, b.ID)); c != 0 {
		return c < 0
	}
	return i < j
}

// chainURL adds ref i to the refs with its target_url, in refLess order.
func (m *matcher) chainURL(i int) {
	url := m.refs[i].sub.TargetURL
	head, ok := m.byURL.Claim(url, i)
	if !ok {
		return
	}
	if m.refLess(i, head) {
		m.refs[i].next = head
		m.byURL.Set(url, i)
		return
	}
	at := head
	for m.refs[at].next >= 0 && m.refLess(m.refs[at].next, i) {
		at = m.refs[at].next
	}
	m.refs[i].next, m.refs[at].next = m.refs[at].next, i
}

// sameURL returns the indexes of the refs whose target_url is url, in
// refLess order. The slice is only valid until the next call.
func (m *matcher) sameURL(url string) []int {
	m.cands = m.cands[:0]
	first, ok := m.byURL.Find(url)
	if !ok {
		return m.cands
	}
	for i := first; i >= 0; i = m.refs[i].next {
		m.cands = append(m.cands, i)
	}
	return m.cands
}

// sortedEntries returns the entries sorted once by name: the order of
// creates, updates and errors, and of who wins when two entries claim one
// subscription.
func sortedEntries(desired []config.Subscription) []*config.Subscription {
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
	return order
}

// fail records an entry error for d.
func (m *matcher) fail(d *config.Subscription, format string, args ...any) {
	m.p.Errors = append(m.p.Errors, EntryError{Name: d.Name, Pos: d.Pos, Message: fmt.Sprintf(format, args...)})
}

// match claims ref i for d, the k-th entry in name order, and records the
// update, if any.
func (m *matcher) match(k int, d *config.Subscription, i int, pinned bool) {
	m.refs[i].claimed, m.refs[i].claimedBy, m.refs[i].pinned = true, d.Name, pinned
	m.matchedRef[k] = i
	c, same := compare(d, m.refs[i].sub)
	if same {
		m.p.InSync++
		return
	}
	m.updates = append(m.updates, c)
}

// matchPinned matches the entries with an id. It runs first, so that an id
// always wins over a URL.
func (m *matcher) matchPinned(order []*config.Subscription) {
	for k, d := range order {
		if d.ID == "" {
			continue
		}
		i, ok := m.byID.Find(d.ID)
		switch {
		case !ok && m.pinnedMissing == nil:
			m.adopt(d)
		case !ok:
			m.fail(d, "%s", m.pinnedMissing(d.ID))
		case !m.refs[i].inScope:
			m.fail(d, "%s", otherEnvironment(m.refs[i].sub))
		case m.refs[i].claimed:
			m.fail(d, "id %q is also pinned by entry %q", d.ID, m.refs[i].claimedBy)
		default:
			m.match(k, d, i, true)
		}
	}
}

// adopt records the offline adoption of d, whose id the old file does not
// know.
func (m *matcher) adopt(d *config.Subscription) {
	if other, dup := m.adopted[d.ID]; dup {
		m.fail(d, "id %q is also pinned by entry %q", d.ID, other)
		return
	}
	if m.adopted == nil {
		m.adopted = map[string]string{}
	}
	m.adopted[d.ID] = d.Name
	m.adopts = append(m.adopts, newAdopt(d))
}

// matchByURL matches the entries without an id by target_url; those that
// match nothing are left in m.unplaced.
func (m *matcher) matchByURL(order []*config.Subscription) {
	refs := m.refs
	for k, d := range order {
		if d.ID != "" {
			continue
		}
		cands := m.sameURL(d.TargetURL)
		if len(cands) == 0 {
			m.unplaced = append(m.unplaced, d)
			continue
		}
		if i, ok := findRef(refs, cands, func(r *remoteRef) bool { return r.claimed && r.pinned }); ok {
			m.fail(d, "target_url is that of subscription %q, which entry %q pins by id; give this entry another target_url, or remove it", refs[i].sub.ID, refs[i].claimedBy)
			continue
		}
		isFree := func(r *remoteRef) bool { return r.inScope && !r.claimed }
		if len(cands) == 1 && isFree(&refs[cands[0]]) { // the common case, without allocating
			m.match(k, d, cands[0], false)
			continue
		}
		if free := filterRefs(refs, cands, isFree); len(free) > 1 {
			// The API keeps target_url unique, so this is a broken account;
			// keeping one by id would delete (sync) or leave stale
			// (upsert-only) the other, which may be the one whose secret
			// is held.
			m.fail(d, "target_url is shared by %d subscriptions (%s); linq-sync will not choose which one this entry is: pin the one to keep with \"id:\" (the other is then deleted under policy sync, left alone under upsert-only), or delete the other", len(free), quoteIDs(refs, free))
			for _, i := range free { // held back: neither deleted nor reported unmanaged
				refs[i].claimed, refs[i].claimedBy = true, d.Name
			}
			continue
		} else if len(free) == 1 {
			m.match(k, d, free[0], false)
			continue
		}
		if i, ok := findRef(refs, cands, func(r *remoteRef) bool { return r.claimed }); ok {
			m.fail(d, "target_url is also declared by entry %q", refs[i].claimedBy)
			continue
		}
		m.fail(d, "target_url matches a subscription of another environment: %s", otherEnvironment(refs[cands[0]].sub))
	}
}

// filterRefs returns the candidates for which keep is true.
func filterRefs(refs []remoteRef, cands []int, keep func(*remoteRef) bool) []int {
	var out []int
	for _, i := range cands {
		if keep(&refs[i]) {
			out = append(out, i)
		}
	}
	return out
}

// quoteIDs names the subscriptions of refs, quoted, joined by "and".
func quoteIDs(refs []remoteRef, idx []int) string {
	q := make([]string, len(idx))
	for k, i := range idx {
		q[k] = fmt.Sprintf("%q", refs[i].sub.ID)
	}
	return strings.Join(q, " and ")
}

// free returns the in-scope remote subscriptions no entry matched, in
// refLess order.
func (m *matcher) free() []int {
	var free []int
	for i := range m.refs {
		if m.refs[i].inScope && !m.refs[i].claimed {
			free = append(free, i)
		}
	}
	slices.SortFunc(free, func(i, j int) int {
		switch {
		case i == j:
			return 0
		case m.refLess(i, j):
			return -1
		}
		return 1
	})
	return free
}

// creates returns a create for each unplaced entry. A create may really be
// the URL change of an unmatched subscription; when exactly one is alike
// (see likeness) and that one is alike to no other create, the create's
// note names it and succ maps it to the create's entry, for the note on the
// unmatched side. Both sides are bucketed, so that finding the look-alikes
// stays linear even when many subscriptions share an event set.
func (m *matcher) creates(free []int) ([]Change, map[int]int) {
	var olds, news likeness
	for _, i := range free {
		r := m.refs[i].sub
		olds.add(i, r.SubscribedEvents, r.PhoneNumbers, r.TargetURL)
	}
	for k, d := range m.unplaced {
		news.add(k, d.SubscribedEvents, d.PhoneNumbers, d.TargetURL)
	}
	creates := make([]Change, 0, len(m.unplaced))
	succ := map[int]int{}
	for k, d := range m.unplaced {
		c := newCreate(d)
		if i, ok := olds.lookup(d.SubscribedEvents, d.PhoneNumbers, d.TargetURL); ok {
			r := m.refs[i].sub
			if back, ok := news.lookup(r.SubscribedEvents, r.PhoneNumbers, r.TargetURL); ok && back == k {
				c.Notes = append(c.Notes, predecessorNote(r))
				succ[i] = k
			}
		}
		creates = append(creates, c)
	}
	return creates, succ
}

// noteHeldURLs notes on each update that moves to a URL an unmatched
// subscription still holds that it can succeed only once that one is gone
// (target_url is unique).
func (m *matcher) noteHeldURLs() {
	for k := range m.updates {
		u := m.updates[k].Update.TargetURL
		if u == nil {
			continue
		}
		for _, i := range m.sameURL(*u) {
			if m.refs[i].inScope && !m.refs[i].claimed {
				m.updates[k].Notes = append(m.updates[k].Notes, heldURLNote(m.refs[i].sub.ID))
			}
		}
	}
}

// assemble refuses swaps, sorts, and returns the plan: creates, then
// updates, then the unmatched subscriptions.
func (m *matcher) assemble(order []*config.Subscription, creates []Change, free []int, succ map[int]int) Plan {
	p := &m.p
	n := 0
	for _, i := range m.matchedRef {
		if i >= 0 {
			n++
		}
	}
	if n > 0 {
		p.Matched = make([]Match, 0, n)
	}
	for k, i := range m.matchedRef { // in name order already
		if i >= 0 {
			p.Matched = append(p.Matched, Match{Name: order[k].Name, ID: m.refs[i].sub.ID, Desired: order[k], Current: m.refs[i].sub})
		}
	}
	updates := p.refuseSwaps(m.updates)
	slices.SortStableFunc(updates, func(a, b Change) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(p.Errors, func(a, b EntryError) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Message, b.Message))
	})

	p.Changes = make([]Change, 0, len(creates)+len(updates)+len(m.adopts)+len(free))
	p.Changes = append(p.Changes, creates...)
	p.Changes = append(p.Changes, updates...)
	p.Changes = append(p.Changes, m.adopts...)
	for _, i := range free {
		r := m.refs[i]
		c := Change{Action: ActionUnmanaged, ID: r.sub.ID, TargetURL: r.sub.TargetURL, Current: cloneRemote(r.sub)}
		if k, ok := succ[i]; ok {
			c.Notes = append(c.Notes, successorNote(r.sub.ID, m.unplaced[k].Name))
		}
		p.Changes = append(p.Changes, c)
	}
	if len(p.Changes) == 0 {
		p.Changes = nil
	}
	return *p
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
	if len(a) <= smallSet && len(b) <= smallSet {
		return allIn(a, b) && allIn(b, a) // also without allocating
	}
	return slices.Equal(sortedSet(a), sortedSet(b))
}

// smallSet is the size up to which sameSet compares sets element by
// element instead of sorting copies: a subscription's events and phone
// numbers are a handful.
const smallSet = 16

// allIn reports whether every string of a is in b.
func allIn(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
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

// urlKeys returns scheme://host/path of u, without query or fragment, and
// its host, both lowercased.
func urlKeys(raw string) (base, host string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", false
	}
	host = strings.ToLower(u.Host)
	return strings.ToLower(u.Scheme) + "://" + host + u.EscapedPath(), host, true
}

// likeness buckets subscriptions by the two signs that one is another
// under a new URL: the same scheme, host and path (only the query
// differs), or the same host with identical events and phone numbers.
// Nothing across hosts is alike: a new endpoint elsewhere that listens for
// the same events is someone else's webhook as often as not.
type likeness struct {
	byBase map[string][]int
	bySame map[string][]int
}

func (l *likeness) add(item int, events, phones []string, rawURL string) {
	base, host, ok := urlKeys(rawURL)
	if !ok {
		return
	}
	if l.byBase == nil {
		l.byBase, l.bySame = map[string][]int{}, map[string][]int{}
	}
	l.byBase[base] = append(l.byBase[base], item)
	k := sameKey(host, events, phones)
	l.bySame[k] = append(l.bySame[k], item)
}

func sameKey(host string, events, phones []string) string {
	return host + "\x01" + setKey(events) + "\x01" + setKey(phones)
}

// lookup returns the one item alike to the given subscription, if the
// match is unambiguous: the only one at the same scheme, host and path, or,
// when none is there, the only one on the same host with identical events
// and phone numbers. An item with the identical URL cannot be there: it
// would have matched.
func (l *likeness) lookup(events, phones []string, rawURL string) (int, bool) {
	base, host, ok := urlKeys(rawURL)
	if !ok || l.byBase == nil {
		return 0, false
	}
	if b := l.byBase[base]; len(b) > 0 {
		return b[0], len(b) == 1
	}
	if s := l.bySame[sameKey(host, events, phones)]; len(s) == 1 {
		return s[0], true
	}
	return 0, false
}

// cloneDesired returns a deep copy of d.
func cloneDesired(d *config.Subscription) *config.Subscription {
	c := *d
	c.SubscribedEvents = slices.Clone(d.SubscribedEvents)
	c.PhoneNumbers = slices.Clone(d.PhoneNumbers)
	c.FieldPos = d.FieldPos.Clone()
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
