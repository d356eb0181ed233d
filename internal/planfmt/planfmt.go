// Package planfmt renders a diff.Plan for people and for machines: plain
// text for a terminal, a stable JSON document, Markdown for a pull-request
// comment, and GitHub Actions workflow commands. Every renderer is a pure
// function writing to an io.Writer; none computes, filters or applies a
// plan. Plans carry no secrets, and nothing here adds any.
//
// Strings that come from the file or the API (names, URLs, ids, event
// types, notes) are escaped for each format, so that a hostile value can
// neither break the layout nor inject terminal control sequences, HTML or
// workflow commands.
package planfmt

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
)

// Options tune the renderers.
type Options struct {
	// File is the config file's path, used for annotations and headings.
	File string
	// Policy is the file's policy, named where unmanaged subscriptions are
	// reported; empty means upsert-only.
	Policy config.Policy
	// Offline says the plan compared the file with an old version of it
	// (plan --offline), not with the account; the renderers say so, and
	// what such a plan cannot know.
	Offline bool
}

func (o Options) policy() config.Policy {
	if o.Policy == "" {
		return config.PolicyUpsertOnly
	}
	return o.Policy
}

// errWriter keeps the first write error, so that renderers can write line
// after line and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

// clean returns s with every non-printable rune (newlines, escapes,
// terminal control sequences) written as a Go escape, so that one value
// stays on one line and cannot drive a terminal.
func clean(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// quote returns s in double quotes, escaped as a Go string literal.
func quote(s string) string { return strconv.Quote(s) }

// list joins a set of values for display; an empty set is shown as empty.
func list(vals []string, empty string) string {
	if len(vals) == 0 {
		return empty
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = clean(v)
	}
	return strings.Join(out, ", ")
}

const allNumbers = "all numbers"

// phoneList shows a phone filter; empty means every number.
func phoneList(vals []string) string {
	if len(vals) == 0 {
		return allNumbers
	}
	return "[" + list(vals, "") + "]"
}

// strs returns v as a []string when it is one (FieldChange.Old and New of
// set-valued fields).
func strs(v any) []string {
	s, _ := v.([]string)
	return s
}

// scalar shows a target_url or is_active value.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	default:
		return clean(fmt.Sprint(x))
	}
}

// createIsActive reports whether a create leaves the subscription active.
func createIsActive(c diff.Change) bool {
	if c.Desired != nil {
		return c.Desired.IsActive
	}
	return c.Update.IsActive == nil || *c.Update.IsActive
}

// header is a change's first line in text form.
func header(c diff.Change, opts Options) string {
	switch c.Action {
	case diff.ActionCreate:
		return fmt.Sprintf("+ create %s  %s", clean(c.Name), clean(c.TargetURL))
	case diff.ActionUpdate:
		return fmt.Sprintf("~ update %s (%s)", clean(c.Name), clean(c.ID))
	case diff.ActionDelete:
		return fmt.Sprintf("- delete %s (%s)", clean(c.TargetURL), clean(c.ID))
	case diff.ActionRotate:
		return fmt.Sprintf("± rotate %s (%s)  %s", clean(c.Name), clean(c.ID), clean(c.TargetURL))
	case diff.ActionUnmanaged:
		return fmt.Sprintf("? unmanaged %s (%s) — left alone (policy %s)", clean(c.TargetURL), clean(c.ID), opts.policy())
	case diff.ActionAdopt:
		return fmt.Sprintf("= adopt %s (%s)", clean(c.Name), clean(c.ID))
	default:
		return fmt.Sprintf("%s %s (%s)", clean(string(c.Action)), clean(c.TargetURL), clean(c.ID))
	}
}

// details are the indented lines under a change's header, without notes,
// in the text and GitHub renderers: a create's and an update's fields, one
// line each.
func details(c diff.Change) []string {
	if c.Action != diff.ActionCreate && c.Action != diff.ActionUpdate && c.Action != diff.ActionRotate && c.Action != diff.ActionAdopt {
		return nil
	}
	fs := fields(c, true)
	lines := make([]string, 0, len(fs)+1)
	if c.Action == diff.ActionAdopt {
		// An adoption's header names no URL.
		lines = append(lines, "target_url: "+clean(c.TargetURL))
	}
	for _, f := range fs {
		switch {
		case !f.update:
			lines = append(lines, f.name+": "+f.value)
		case f.set:
			parts := make([]string, 0, len(f.added)+len(f.removed))
			for _, a := range f.added {
				parts = append(parts, "+"+a)
			}
			for _, r := range f.removed {
				parts = append(parts, "-"+r)
			}
			lines = append(lines, f.name+": "+strings.Join(parts, " "))
		default:
			lines = append(lines, f.name+": "+f.old+" -> "+f.new)
		}
	}
	return lines
}

// phoneListOrAll shows a create's phone filter without brackets.
func phoneListOrAll(vals []string) string {
	if len(vals) == 0 {
		return allNumbers
	}
	return list(vals, "")
}

// summaryLine is the plan's last line.
func summaryLine(s diff.Summary, p diff.Plan) string {
	if !p.HasChanges() && s.Unmanaged == 0 && len(p.Errors) == 0 {
		return fmt.Sprintf("No changes. %d %s in sync.", s.InSync, plural(s.InSync, "subscription", "subscriptions"))
	}
	var extra string
	if s.Rotate > 0 {
		extra += fmt.Sprintf(" %d to rotate,", s.Rotate)
	}
	if s.Adopt > 0 {
		extra += fmt.Sprintf(" %d to adopt,", s.Adopt)
	}
	return fmt.Sprintf("Plan: %d to create, %d to update, %d to delete,%s %d unmanaged, %d in sync.", s.Create, s.Update, s.Delete, extra, s.Unmanaged, s.InSync)
}

// rotateNote explains a rotation under its header.
const rotateNote = "deleted, then created again as declared, so that a fresh signing secret is held; the receiver gets no deliveries between the two calls"

// deferredLines are the "! move held" lines of p: verified moves whose
// new URL has not answered a signed probe as verified.
func deferredLines(p diff.Plan) []string {
	var out []string
	for _, d := range p.Deferred {
		out = append(out, fmt.Sprintf("! move held %s (%s): %s -> %s: %s", clean(d.Name), clean(d.ID), clean(d.From), clean(d.To), clean(d.Reason)))
		out = append(out, "  hint: verify_before_move: the subscription stays at its old URL until the new one verifies signed probes; `linq-sync probe` shows the result")
	}
	return out
}

// lostLines are the "! secret lost" lines of p's custody, each with what
// was found and, unless the plan rotates it, the cure.
func lostLines(p diff.Plan) []string {
	rotating := map[string]bool{}
	for _, c := range p.Changes {
		if c.Action == diff.ActionRotate {
			rotating[c.Name] = true
		}
	}
	var out []string
	for _, c := range diff.Lost(p.Custody) {
		out = append(out, fmt.Sprintf("! secret lost %s (%s): %s", clean(c.Name), clean(c.ID), clean(c.Detail)))
		if !rotating[c.Name] {
			out = append(out, fmt.Sprintf("  hint: deliveries to it cannot be verified; rotate it: linq-sync rotate %s, or apply with --rotate-lost-secrets", clean(c.Name)))
		}
	}
	return out
}

// offlineLine says what an offline plan is.
const offlineLine = "Offline plan: the file was compared with its previous version, not with the account, so no token was needed."

// offlineUnknowns are what an offline plan cannot know, for every format.
var offlineUnknowns = []string{
	"changes made in the account outside the file",
	"the current state of subscriptions the file adopts by id, and whether those ids exist",
	"whether the API knows every event type",
}

// offlineUnknownLine lists offlineUnknowns in a sentence.
func offlineUnknownLine() string {
	return "It cannot know: " + strings.Join(offlineUnknowns, "; ") + ". The apply plans against the account, and its plan may differ."
}

// outOfScopeLine mentions the subscriptions of other environments.
func outOfScopeLine(n int) string {
	return fmt.Sprintf("%d %s of other environments not shown (pass --all-environments to manage them).", n, plural(n, "subscription", "subscriptions"))
}

// errorsLine says that a plan with entry errors cannot be applied.
func errorsLine(n int) string {
	return fmt.Sprintf("%d %s cannot be planned; nothing will be applied until %s fixed.", n, plural(n, "entry", "entries"), plural(n, "it is", "they are"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
