package chaos

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
)

var (
	flagN    = flag.Int("chaos.n", 200, "randomized cases of TestChaosApplyConverges; the other randomized tests run n/4")
	flagSeed = flag.Uint64("chaos.seed", 20260203, "master seed; 0 draws one from the clock")
	flagLong = flag.Int("chaos.long", 1, "multiplies every case count and the after-convergence rounds")
	flagJobs = flag.Int("chaos.jobs", 8, "randomized cases run at once (they mostly wait on the network and fsync)")
)

// runCases runs body as the subtest name(i) for every i < n, -chaos.jobs of
// them at once. The cases mostly wait (on the loopback network, injected
// latency, fsync), so more of them than -test.parallel keeps the cores
// busy.
func runCases(t *testing.T, n int, name func(i int) string, body func(t *testing.T, i int)) {
	sem := make(chan struct{}, max(1, *flagJobs))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t.Run(name(i), func(t *testing.T) { body(t, i) })
		})
	}
	wg.Wait()
}

var (
	seedOnce   sync.Once
	masterSeed uint64
)

// seed returns the master seed, drawing it from the clock once when
// -chaos.seed=0, and logs it so that a failure can be rerun.
func seed(t *testing.T) uint64 {
	seedOnce.Do(func() {
		masterSeed = *flagSeed
		if masterSeed == 0 {
			masterSeed = uint64(time.Now().UnixNano())
		}
	})
	t.Logf("chaos seed %d (rerun with -chaos.seed=%d)", masterSeed, masterSeed)
	return masterSeed
}

// cases returns how many randomized cases a test runs: n/div, times
// -chaos.long, at least 1.
func cases(div int) int {
	return max(1, *flagN/div) * max(1, *flagLong)
}

// caseSeed derives the seed of case i from the master seed.
func caseSeed(master uint64, test string, i int) uint64 {
	h := master ^ 0x9e3779b97f4a7c15
	for _, b := range []byte(test) {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return h ^ uint64(i)*0xbf58476d1ce4e5b9
}

// The pools that random states draw from. They are small on purpose, so
// that URLs collide, entries match remotes, and renames chain.
var (
	urlPool = func() []string {
		var out []string
		for _, p := range []string{"crm", "billing", "alerts", "audit", "ops", "sales"} {
			out = append(out, "https://hooks.example.com/"+p, "https://hooks.example.com/"+p+"?line=1")
		}
		return out
	}()
	eventPool = []string{"message.sent", "message.received", "message.read", "message.delivered", "call.ended", "reaction.added"}
	phonePool = []string{"+15551230001", "+15551230002", "+447700900123"}
)

// otherEnv is the environment id of subscriptions no plan may touch.
const otherEnv = "env_staging"

// baseTime stamps seeded subscriptions, so that their bytes are stable.
var baseTime = time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC)

// entrySpec is one declared subscription, with the YAML form its optional
// fields take.
type entrySpec struct {
	name, id, url string
	events        []string
	phones        []string
	// phoneForm: 0 omitted, 1 null, 2 [], 3 the list.
	phoneForm int
	active    bool
	// activeForm: 0 omitted (true), 1 written.
	activeForm int
}

// caseSpec is one randomized desired/remote state pair, with the faults
// and fake-server choices it runs under.
type caseSpec struct {
	index       int
	seed        uint64
	policy      config.Policy
	remote      []fakeapi.Subscription
	entries     []entrySpec
	faults      []fakeapi.Fault
	opts        fakeapi.Options
	concurrency int
	// fixedYAML, when set, is the file, instead of one made from entries.
	fixedYAML string
}

// yaml renders the desired state as a subscriptions file.
func (c *caseSpec) yaml() string {
	if c.fixedYAML != "" {
		return c.fixedYAML
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\npolicy: %s\nsubscriptions:\n", c.policy)
	for _, e := range c.entries {
		fmt.Fprintf(&b, "  - name: %s\n", e.name)
		if e.id != "" {
			fmt.Fprintf(&b, "    id: %s\n", e.id)
		}
		fmt.Fprintf(&b, "    target_url: %q\n", e.url)
		fmt.Fprintf(&b, "    subscribed_events: [%s]\n", strings.Join(e.events, ", "))
		switch e.phoneForm {
		case 1:
			b.WriteString("    phone_numbers: null\n")
		case 2:
			b.WriteString("    phone_numbers: []\n")
		case 3:
			fmt.Fprintf(&b, "    phone_numbers: [%s]\n", quoteAll(e.phones))
		}
		if e.activeForm == 1 {
			fmt.Fprintf(&b, "    is_active: %t\n", e.active)
		}
	}
	return b.String()
}

// config parses the case's file with the real loader.
func (c *caseSpec) config(t testing.TB) *config.Config {
	t.Helper()
	cfg, diags := config.Parse("subscriptions.yaml", []byte(c.yaml()))
	if diags.HasErrors() {
		t.Fatalf("generated config does not parse:\n%s\n%s", diags.Error(), c.describe())
	}
	return cfg
}

// describe renders everything needed to understand a failing case.
func (c *caseSpec) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %d (seed %d), concurrency %d, duplicate-URL status %d, empty phones form %d, omit environment_id %t\n",
		c.index, c.seed, c.concurrency, c.opts.DuplicateURLStatus, c.opts.EmptyPhoneNumbers, c.opts.OmitEnvironmentID)
	b.WriteString("--- file\n")
	b.WriteString(c.yaml())
	b.WriteString("--- remote\n")
	for _, r := range c.remote {
		env := "production"
		if r.EnvironmentID != nil {
			env = *r.EnvironmentID
		}
		fmt.Fprintf(&b, "  %s %s events=%v phones=%v active=%t env=%s\n", r.ID, r.TargetURL, r.SubscribedEvents, r.PhoneNumbers, r.IsActive, env)
	}
	b.WriteString("--- faults\n")
	for _, f := range c.faults {
		fmt.Fprintf(&b, "  %s method=%q p=%.3f status=%d delay=%s retry-after=%s\n", f.Kind, f.Method, f.Probability, f.Status, f.Delay, f.RetryAfter)
	}
	return b.String()
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// subset returns a random non-empty subset of pool (at least lo items), in
// random order.
func subset(rng *rand.Rand, pool []string, lo int) []string {
	p := slices.Clone(pool)
	rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p[:lo+rng.IntN(len(p)-lo+1)]
}

func uuid(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, 0x8000|b>>48&0x3fff, b&0xffffffffffff)
}

// genCase draws case i. With faults false the case runs on a perfect
// network. The state pair is always reachable: the generator leaves out
// only what the plan itself refuses (entry errors) or what no sequence of
// writes can reach (see reachable).
func genCase(master uint64, test string, i int, faults bool) caseSpec {
	s := caseSeed(master, test, i)
	rng := rand.New(rand.NewPCG(s, 0x5eed))
	for {
		c, ok := tryCase(rng)
		if !ok {
			continue
		}
		c.index, c.seed = i, s
		c.opts.Seed = int64(s)
		if faults {
			c.faults = genFaults(rng)
		}
		return c
	}
}

func tryCase(rng *rand.Rand) (caseSpec, bool) {
	var c caseSpec
	c.policy = config.PolicyUpsertOnly
	if rng.IntN(2) == 0 {
		c.policy = config.PolicySync
	}
	c.concurrency = 1 + rng.IntN(4)
	c.opts.DuplicateURLStatus = []int{0, 400, 422}[rng.IntN(3)]
	c.opts.EmptyPhoneNumbers = fakeapi.EmptyPhoneNumbers(rng.IntN(4))
	c.opts.OmitEnvironmentID = rng.IntN(10) == 0

	urls := slices.Clone(urlPool)
	rng.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
	nRemote := rng.IntN(9)
	for i := range nRemote {
		r := fakeapi.Subscription{
			ID:               uuid(rng),
			TargetURL:        urls[i],
			SubscribedEvents: subset(rng, eventPool, 1),
			IsActive:         rng.IntN(5) > 0,
			CreatedAt:        baseTime.Add(time.Duration(i) * time.Minute),
		}
		switch rng.IntN(3) {
		case 1:
			r.PhoneNumbers = []string{}
		case 2:
			r.PhoneNumbers = subset(rng, phonePool, 1)
		}
		if !c.opts.OmitEnvironmentID && rng.IntN(5) == 0 {
			env := otherEnv
			r.EnvironmentID = &env
		}
		c.remote = append(c.remote, r)
	}

	nEntries := 1 + rng.IntN(8)
	entries := make([]entrySpec, nEntries)
	var free []int // in-scope remotes not yet pinned
	for i, r := range c.remote {
		if r.EnvironmentID == nil {
			free = append(free, i)
		}
	}
	pinnedOf := make([]int, nEntries) // remote index, or -1
	for i := range entries {
		pinnedOf[i] = -1
		if len(free) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(free))
			pinnedOf[i] = free[k]
			free = slices.Delete(free, k, k+1)
		}
	}
	holder := map[string]int{} // URL -> remote index
	for i, r := range c.remote {
		holder[r.TargetURL] = i
	}
	pinnedRemote := map[int]bool{}
	for _, p := range pinnedOf {
		if p >= 0 {
			pinnedRemote[p] = true
		}
	}
	used := map[string]bool{}
	// allowed says whether entry i may declare URL u.
	allowed := func(i int, u string) bool {
		if used[u] {
			return false // target_urls are unique in a file
		}
		h, held := holder[u]
		if !held {
			return true
		}
		r := c.remote[h]
		switch {
		case r.EnvironmentID != nil:
			return false // another environment's URL: the plan refuses it
		case pinnedOf[i] == h:
			return true // its own URL
		case pinnedRemote[h]:
			// Another entry pins its holder: an unpinned entry is a plan
			// error; a pinned one is a rename chain, checked for cycles.
			return pinnedOf[i] >= 0
		case pinnedOf[i] >= 0:
			// A rename onto an unmatched subscription's URL succeeds only
			// once that one is deleted, which only sync does.
			return c.policy == config.PolicySync
		}
		return true // an unpinned entry matches its holder by URL
	}
	// Pinned entries choose first, then the rest.
	order := make([]int, 0, nEntries)
	for i := range entries {
		if pinnedOf[i] >= 0 {
			order = append(order, i)
		}
	}
	for i := range entries {
		if pinnedOf[i] < 0 {
			order = append(order, i)
		}
	}
	for _, i := range order {
		e := &entries[i]
		e.name = fmt.Sprintf("e%d", i)
		if p := pinnedOf[i]; p >= 0 {
			e.id = c.remote[p].ID
			if own := c.remote[p].TargetURL; rng.IntN(2) == 0 && allowed(i, own) {
				e.url = own
			}
		}
		if e.url == "" {
			var cands []string
			for _, u := range urlPool {
				if allowed(i, u) {
					cands = append(cands, u)
				}
			}
			if len(cands) == 0 {
				return c, false
			}
			e.url = cands[rng.IntN(len(cands))]
		}
		used[e.url] = true
		e.events = subset(rng, eventPool, 1)
		e.phoneForm = rng.IntN(4)
		if e.phoneForm == 3 {
			e.phones = subset(rng, phonePool, 1)
		}
		e.activeForm = rng.IntN(2)
		e.active = e.activeForm == 0 || rng.IntN(3) > 0
	}
	c.entries = entries
	return c, reachable(c, pinnedOf, holder)
}

// reachable rules out rename cycles (a pinned entry moving to the URL of a
// subscription that another pinned entry moves, round and round back to
// the first): with target_url unique, no order of single writes reaches
// them. TestRenameSwapConverges covers that case on its own.
func reachable(c caseSpec, pinnedOf []int, holder map[string]int) bool {
	next := map[int]int{} // pinned remote -> pinned remote holding its new URL
	for i, e := range c.entries {
		p := pinnedOf[i]
		if p < 0 || e.url == c.remote[p].TargetURL {
			continue
		}
		if h, ok := holder[e.url]; ok {
			next[p] = h
		}
	}
	for start := range next {
		seen := map[int]bool{start: true}
		for cur, ok := next[start]; ok; cur, ok = next[cur] {
			if seen[cur] {
				return false
			}
			seen[cur] = true
		}
	}
	return true
}

// genFaults draws a fault mix: most cases get several kinds, each firing
// with its own small probability, some on every call and some on one
// method only. A few cases run without faults.
func genFaults(rng *rand.Rand) []fakeapi.Fault {
	if rng.IntN(8) == 0 {
		return nil
	}
	method := func() string {
		if rng.IntN(10) < 7 {
			return ""
		}
		return []string{"GET", "POST", "PUT", "DELETE"}[rng.IntN(4)]
	}
	// Each case has an intensity: the highest rate any one kind fires at.
	// Rates are never 0, which to the fake means always.
	hi := []float64{0.05, 0.12, 0.25}[rng.IntN(3)]
	prob := func() float64 { return 0.01 + (hi-0.01)*rng.Float64() }
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	var out []fakeapi.Fault
	add := func(f fakeapi.Fault) {
		if rng.IntN(2) == 0 {
			f.Method, f.Probability = method(), prob()
			out = append(out, f)
		}
	}
	add(fakeapi.Fault{Kind: fakeapi.FaultLatency, Delay: ms(1, 5)})
	add(fakeapi.Fault{Kind: fakeapi.FaultErrorBefore, Status: []int{500, 502, 503}[rng.IntN(3)]})
	add(fakeapi.Fault{Kind: fakeapi.FaultErrorAfter})
	add(fakeapi.Fault{Kind: fakeapi.FaultRateLimit, RetryAfter: ms(1, 20), RetryAfterMS: true})
	add(fakeapi.Fault{Kind: fakeapi.FaultDropBefore})
	add(fakeapi.Fault{Kind: fakeapi.FaultDropAfter})
	add(fakeapi.Fault{Kind: fakeapi.FaultTruncate})
	add(fakeapi.Fault{Kind: fakeapi.FaultHTML})
	return out
}

// inScope reports whether no plan may touch r without --all-environments.
func inScope(r fakeapi.Subscription) bool { return r.EnvironmentID == nil }

// offlinePlan computes the case's initial plan without the API, as the
// reconciler would from the seeded state.
func offlinePlan(c caseSpec, cfg *config.Config) diff.Plan {
	return diff.ApplyPolicy(diff.Compute(cfg.Subscriptions, asListed(c.remote), diff.Options{}), cfg.Policy)
}

// asListed converts the fake's records to what the client lists, without
// going through the wire.
func asListed(subs []fakeapi.Subscription) []linq.Subscription {
	out := make([]linq.Subscription, len(subs))
	for i, s := range subs {
		out[i] = linq.Subscription{
			ID:               s.ID,
			TargetURL:        s.TargetURL,
			SubscribedEvents: s.SubscribedEvents,
			IsActive:         s.IsActive,
			PhoneNumbers:     s.PhoneNumbers,
			EnvironmentID:    s.EnvironmentID,
			CreatedAt:        s.CreatedAt,
			UpdatedAt:        s.UpdatedAt,
		}
	}
	return out
}
