// Package synth builds synthetic accounts and subscriptions files, for the
// benchmarks and for the shipped mock API: an account of n subscriptions
// (Remote) and a file of n entries that matches it except for about 10 %
// drift (ConfigYAML).
// `linq-sync mock-api --seed-count N` seeds the fake API with Remote(N), so a
// file written by ConfigYAML(N, ...) plans against it with a known result.
//
// It is deterministic (the same n always gives the same bytes) and does no
// I/O. It is not a load generator and holds no timing code; bench/run.sh and
// the programs under bench/ do the measuring.
package synth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/linq"
)

// eventPool are the event types the synthetic subscriptions use, all
// published by the API.
var eventPool = []string{
	"message.received", "message.sent", "message.delivered", "message.read",
	"message.failed", "reaction.added", "call.ended", "chat.created",
}

// Drift kinds, chosen by i % DriftPeriod; every other index is in sync.
const (
	// DriftPeriod is the cycle of the drift pattern: 3 of every 30 entries
	// differ from the account (10 %).
	DriftPeriod = 30
	driftEvents = 3  // the file subscribes to one more event: an update
	driftNew    = 13 // the file's URL is new: a create, and the old remote one is unmanaged
	driftPaused = 23 // the file pauses the subscription: an update
)

// ID returns the id of the i-th synthetic remote subscription, a UUID v4.
func ID(i int) string {
	return fmt.Sprintf("b3a1c0de-%04x-4000-8000-%012x", (i>>16)&0xffff, i)
}

// Name returns the name of the i-th entry.
func Name(i int) string { return fmt.Sprintf("hook-%05d", i) }

// TargetURL returns the i-th remote subscription's target URL; 97 hosts
// paths share a host, as many endpoints of one service would.
func TargetURL(i int) string {
	return fmt.Sprintf("https://hooks%02d.example.com/linq/%d?version=2026-02-03", i%97, i)
}

func events(i int) []string {
	return []string{eventPool[i%len(eventPool)], eventPool[(i+3)%len(eventPool)]}
}

func phones(i int) []string {
	if i%3 != 0 {
		return nil
	}
	return []string{fmt.Sprintf("+1555%07d", i%10000000)}
}

// Remote returns the n subscriptions of the synthetic account, with ids
// from ID and target URLs from TargetURL, all active, in production.
func Remote(n int) []linq.Subscription {
	out := make([]linq.Subscription, n)
	for i := range out {
		out[i] = linq.Subscription{
			ID:               ID(i),
			TargetURL:        TargetURL(i),
			SubscribedEvents: events(i),
			PhoneNumbers:     phones(i),
			IsActive:         true,
		}
	}
	return out
}

// Account returns Remote(n) as the fake API stores it, for seeding it.
func Account(n int) []fakeapi.Subscription {
	remote := Remote(n)
	out := make([]fakeapi.Subscription, len(remote))
	for i, r := range remote {
		out[i] = fakeapi.Subscription{
			ID:               r.ID,
			TargetURL:        r.TargetURL,
			SubscribedEvents: r.SubscribedEvents,
			PhoneNumbers:     r.PhoneNumbers,
			IsActive:         r.IsActive,
		}
	}
	return out
}

// Drift is the plan ConfigYAML(n, true) yields against Remote(n).
type Drift struct {
	Create, Update, InSync, Unmanaged int
}

// Changes returns the number of writes the plan needs.
func (d Drift) Changes() int { return d.Create + d.Update }

// ExpectedDrift returns the plan that ConfigYAML(n, true) yields against
// Remote(n) under the upsert-only policy.
func ExpectedDrift(n int) Drift {
	var d Drift
	for i := range n {
		switch i % DriftPeriod {
		case driftEvents, driftPaused:
			d.Update++
		case driftNew:
			d.Create++
			d.Unmanaged++
		default:
			d.InSync++
		}
	}
	return d
}

// ConfigYAML returns a subscriptions file of n entries (policy
// upsert-only) describing Remote(n). Every other entry pins its
// subscription by id, the rest match by target URL. With drift, 3 of every
// DriftPeriod entries differ (see ExpectedDrift); without, the file is in
// sync with Remote(n).
func ConfigYAML(n int, drift bool) []byte {
	var b strings.Builder
	b.Grow(n * 200)
	b.WriteString("version: 1\npolicy: upsert-only\nsubscriptions:\n")
	for i := range n {
		url, ev, active := TargetURL(i), events(i), true
		pin := i%2 == 0
		if drift {
			switch i % DriftPeriod {
			case driftEvents:
				ev = append(ev, eventPool[(i+5)%len(eventPool)])
			case driftNew:
				url = fmt.Sprintf("https://new.example.com/linq/%d", i)
				pin = false
			case driftPaused:
				active = false
			}
		}
		writeEntry(&b, Name(i), url, ev, phones(i), active, pin, i)
	}
	return []byte(b.String())
}

// CreatesYAML returns a file of n entries that an empty account lacks
// entirely: applying it makes n creates.
func CreatesYAML(n int) []byte {
	var b strings.Builder
	b.Grow(n * 160)
	b.WriteString("version: 1\npolicy: upsert-only\nsubscriptions:\n")
	for i := range n {
		writeEntry(&b, Name(i), TargetURL(i), events(i), phones(i), true, false, i)
	}
	return []byte(b.String())
}

// SmallYAML returns a file describing Remote(n) exactly, except that
// variant selects one of two event sets for entry 0, so that alternating
// variants change exactly one subscription.
func SmallYAML(n, variant int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\npolicy: upsert-only\nsubscriptions:\n")
	for i := range n {
		ev := events(i)
		if i == 0 && variant%2 == 1 {
			ev = append(ev, eventPool[(i+5)%len(eventPool)])
		}
		writeEntry(&b, Name(i), TargetURL(i), ev, phones(i), true, false, i)
	}
	return []byte(b.String())
}

func writeEntry(b *strings.Builder, name, url string, ev, ph []string, active, pin bool, i int) {
	b.WriteString("  - name: ")
	b.WriteString(name)
	b.WriteByte('\n')
	if pin {
		b.WriteString("    id: ")
		b.WriteString(ID(i))
		b.WriteByte('\n')
	}
	b.WriteString("    target_url: ")
	b.WriteString(strconv.Quote(url))
	b.WriteString("\n    subscribed_events: [")
	b.WriteString(strings.Join(ev, ", "))
	b.WriteString("]\n")
	if len(ph) > 0 {
		b.WriteString("    phone_numbers: [\"")
		b.WriteString(strings.Join(ph, "\", \""))
		b.WriteString("\"]\n")
	}
	if !active {
		b.WriteString("    is_active: false\n")
	}
}
