package fakeapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// record is one stored subscription with its secret and its encoded form,
// cached so that listing 10,000 subscriptions is a copy, not an encode.
type record struct {
	sub     Subscription
	secret  string
	json    []byte
	deleted bool
}

// store holds the subscriptions in creation order. Deleted records are
// marked and compacted away in bulk, so deletes are O(1) amortized.
type store struct {
	mu        sync.RWMutex
	order     []*record
	dead      int
	byID      map[string]*record
	urls      map[string]int
	rnd       *rand.Rand
	emptyForm EmptyPhoneNumbers
	omitEnv   bool
}

func (st *store) init(rnd *rand.Rand, opts Options) {
	st.rnd = rnd
	st.byID = make(map[string]*record)
	st.urls = make(map[string]int)
	st.emptyForm = opts.EmptyPhoneNumbers
	st.omitEnv = opts.OmitEnvironmentID
}

// newID returns a random UUID v4 string. Callers hold st.mu.
func (st *store) newID() string {
	for {
		var b [16]byte
		for i := 0; i < 16; i += 8 {
			v := st.rnd.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		var out [36]byte
		hex.Encode(out[0:8], b[0:4])
		out[8] = '-'
		hex.Encode(out[9:13], b[4:6])
		out[13] = '-'
		hex.Encode(out[14:18], b[6:8])
		out[18] = '-'
		hex.Encode(out[19:23], b[8:10])
		out[23] = '-'
		hex.Encode(out[24:], b[10:])
		id := string(out[:])
		if _, dup := st.byID[id]; !dup {
			return id
		}
	}
}

// newSecret returns "whsec_" and the base64 of 32 random bytes, the
// Standard Webhooks format. Callers hold st.mu.
func (st *store) newSecret() string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := st.rnd.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// wireSub is a subscription as the API encodes it, fields in the order of
// the published examples.
type wireSub struct {
	ID               string          `json:"id"`
	CreatedAt        string          `json:"created_at"`
	IsActive         bool            `json:"is_active"`
	SigningSecret    string          `json:"signing_secret,omitempty"`
	SubscribedEvents []string        `json:"subscribed_events"`
	TargetURL        string          `json:"target_url"`
	UpdatedAt        string          `json:"updated_at"`
	PhoneNumbers     json.RawMessage `json:"phone_numbers,omitempty"`
	EnvironmentID    json.RawMessage `json:"environment_id,omitempty"`
}

// timeFormat is RFC 3339 in UTC with the fraction kept only when present.
const timeFormat = time.RFC3339Nano

var jsonNull = json.RawMessage("null")

func (st *store) wire(sub *Subscription, secret string) wireSub {
	w := wireSub{
		ID:               sub.ID,
		CreatedAt:        sub.CreatedAt.UTC().Format(timeFormat),
		IsActive:         sub.IsActive,
		SigningSecret:    secret,
		SubscribedEvents: sub.SubscribedEvents,
		TargetURL:        sub.TargetURL,
		UpdatedAt:        sub.UpdatedAt.UTC().Format(timeFormat),
	}
	if w.SubscribedEvents == nil {
		w.SubscribedEvents = []string{}
	}
	switch {
	case len(sub.PhoneNumbers) > 0:
		w.PhoneNumbers = mustJSON(sub.PhoneNumbers)
	case st.emptyForm == EmptyPhoneNumbersArray,
		st.emptyForm == EmptyPhoneNumbersEcho && sub.PhoneNumbers != nil:
		w.PhoneNumbers = json.RawMessage("[]")
	case st.emptyForm == EmptyPhoneNumbersOmit:
	default:
		w.PhoneNumbers = jsonNull
	}
	if !st.omitEnv {
		w.EnvironmentID = jsonNull
		if sub.EnvironmentID != nil {
			w.EnvironmentID = mustJSON(*sub.EnvironmentID)
		}
	}
	return w
}

// encode refreshes rec.json. Callers hold st.mu for writing.
func (st *store) encode(rec *record) {
	rec.json = mustJSON(st.wire(&rec.sub, ""))
}

// normalize stores "no phone filter" as nil, except that echo mode keeps an
// explicit empty slice.
func (st *store) normalize(sub *Subscription) {
	if len(sub.PhoneNumbers) == 0 {
		if st.emptyForm == EmptyPhoneNumbersEcho && sub.PhoneNumbers != nil {
			sub.PhoneNumbers = []string{}
		} else {
			sub.PhoneNumbers = nil
		}
	}
}

// insert adds rec. Callers hold st.mu for writing.
func (st *store) insert(rec *record) {
	st.order = append(st.order, rec)
	st.byID[rec.sub.ID] = rec
	st.urls[rec.sub.TargetURL]++
	st.encode(rec)
}

// remove deletes rec. Callers hold st.mu for writing.
func (st *store) remove(rec *record) {
	rec.deleted = true
	delete(st.byID, rec.sub.ID)
	st.dropURL(rec.sub.TargetURL)
	st.dead++
	if st.dead > 32 && st.dead > len(st.order)/2 {
		st.order = slices.DeleteFunc(st.order, func(r *record) bool { return r.deleted })
		st.dead = 0
	}
}

func (st *store) dropURL(u string) {
	if st.urls[u] <= 1 {
		delete(st.urls, u)
	} else {
		st.urls[u]--
	}
}

// listJSON returns the encoded list answer.
func (st *store) listJSON() []byte {
	st.mu.RLock()
	defer st.mu.RUnlock()
	n := len(`{"subscriptions":[]}`)
	for _, r := range st.order {
		if !r.deleted {
			n += len(r.json) + 1
		}
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(`{"subscriptions":[`)
	first := true
	for _, r := range st.order {
		if r.deleted {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(r.json)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func cloneSub(s Subscription) Subscription {
	s.SubscribedEvents = slices.Clone(s.SubscribedEvents)
	if s.PhoneNumbers != nil {
		s.PhoneNumbers = append([]string{}, s.PhoneNumbers...)
	}
	if s.EnvironmentID != nil {
		v := *s.EnvironmentID
		s.EnvironmentID = &v
	}
	return s
}

// Seed stores subs as they are, bypassing validation, for setting up a test:
// given ids and timestamps are kept; a missing id is generated, a zero
// created_at is now and a zero updated_at is created_at. A subscription
// whose id exists replaces it (a change made outside the tool). Each seeded
// subscription gets a signing secret, readable with Secret. Seed does not
// enforce target_url uniqueness, so tests can build states the API would
// refuse to create.
func (s *Server) Seed(subs ...Subscription) {
	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	now := s.stamp()
	for _, in := range subs {
		sub := cloneSub(in)
		if sub.ID == "" {
			sub.ID = st.newID()
		}
		if sub.CreatedAt.IsZero() {
			sub.CreatedAt = now
		}
		if sub.UpdatedAt.IsZero() {
			sub.UpdatedAt = sub.CreatedAt
		}
		sub.CreatedAt = sub.CreatedAt.UTC()
		sub.UpdatedAt = sub.UpdatedAt.UTC()
		if sub.SubscribedEvents == nil {
			sub.SubscribedEvents = []string{}
		}
		st.normalize(&sub)
		if old, ok := st.byID[sub.ID]; ok {
			st.dropURL(old.sub.TargetURL)
			st.urls[sub.TargetURL]++
			old.sub = sub
			st.encode(old)
			continue
		}
		st.insert(&record{sub: sub, secret: st.newSecret()})
	}
}

// Snapshot returns deep copies of every subscription, sorted by id.
func (s *Server) Snapshot() []Subscription {
	st := &s.store
	st.mu.RLock()
	out := make([]Subscription, 0, len(st.byID))
	for _, r := range st.order {
		if !r.deleted {
			out = append(out, cloneSub(r.sub))
		}
	}
	st.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns a deep copy of the subscription with id.
func (s *Server) Get(id string) (Subscription, bool) {
	st := &s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	r, ok := st.byID[id]
	if !ok {
		return Subscription{}, false
	}
	return cloneSub(r.sub), true
}

// Secret returns the signing secret issued for the subscription with id, so
// that tests can compare it with what a client stored.
func (s *Server) Secret(id string) (string, bool) {
	st := &s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	r, ok := st.byID[id]
	if !ok {
		return "", false
	}
	return r.secret, true
}

// Len returns the number of subscriptions.
func (s *Server) Len() int {
	st := &s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.byID)
}

// Remove deletes the subscriptions with the given ids, as a change made
// outside the tool would, and reports how many existed.
func (s *Server) Remove(ids ...string) int {
	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, id := range ids {
		if r, ok := st.byID[id]; ok {
			st.remove(r)
			n++
		}
	}
	return n
}

// Reset deletes every subscription. Calls, faults and the id sequence are
// left as they are.
func (s *Server) Reset() {
	st := &s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	st.order = nil
	st.dead = 0
	st.byID = make(map[string]*record)
	st.urls = make(map[string]int)
}

// stamp returns now in UTC to the millisecond, as JavaScript's
// toISOString and most APIs write it.
func (s *Server) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }
