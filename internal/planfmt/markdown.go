package planfmt

import (
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/linq-sync/linq-sync/internal/diff"
)

// MarkdownMarker is the hidden first line of every Markdown plan, by which
// a workflow finds its earlier comment to update instead of adding one.
const MarkdownMarker = "<!-- linq-sync-plan -->"

// Markdown writes p as a pull-request comment: MarkdownMarker, a heading, a
// summary table, entry errors, then a collapsed <details> section per
// subscription holding its change as a fenced diff block. Every string from
// the file or the API is shown only inside HTML-escaped <code> elements or
// fenced blocks, so it can neither change the layout nor mention anyone.
func Markdown(w io.Writer, p diff.Plan, opts Options) error {
	ew := &errWriter{w: w}
	s := p.Summary()
	ew.printf("%s\n", MarkdownMarker)
	if opts.File != "" {
		ew.printf("### linq-sync plan for %s\n\n", code(opts.File))
	} else {
		ew.printf("### linq-sync plan\n\n")
	}
	if opts.Offline {
		ew.printf("> **%s**\n> %s\n\n", offlineLine, offlineUnknownLine())
	}
	cols := []string{"create", "update", "delete"}
	vals := []int{s.Create, s.Update, s.Delete}
	if s.Rotate > 0 {
		cols, vals = append(cols, "rotate"), append(vals, s.Rotate)
	}
	if opts.Offline {
		cols, vals = append(cols, "adopt"), append(vals, s.Adopt)
	}
	cols, vals = append(cols, "unmanaged", "in sync"), append(vals, s.Unmanaged, s.InSync)
	ew.printf("| %s |\n|%s\n|", strings.Join(cols, " | "), strings.Repeat("---:|", len(cols)))
	for _, v := range vals {
		ew.printf(" %d |", v)
	}
	ew.printf("\n\n")

	if len(p.Errors) > 0 {
		ew.printf("**%s**\n\n", errorsLine(len(p.Errors)))
		lines := make([]string, 0, len(p.Errors))
		for _, e := range p.Errors {
			loc := ""
			if e.Pos.Line > 0 {
				loc = fmt.Sprintf(" (line %d, col %d)", e.Pos.Line, e.Pos.Col)
			}
			lines = append(lines, fmt.Sprintf("! error %s%s: %s", clean(e.Name), loc, clean(e.Message)))
		}
		fenced(ew, "text", lines)
	}
	if lost := lostLines(p); len(lost) > 0 {
		ew.printf("**%d %s lost: deliveries to %s cannot be verified.**\n\n", len(diff.Lost(p.Custody)), plural(len(diff.Lost(p.Custody)), "signing secret", "signing secrets"), plural(len(diff.Lost(p.Custody)), "it", "them"))
		fenced(ew, "text", lost)
	}
	if held := deferredLines(p); len(held) > 0 {
		ew.printf("**%d %s held until the new URL verifies signed probes.**\n\n", len(p.Deferred), plural(len(p.Deferred), "move", "moves"))
		fenced(ew, "text", held)
	}
	for _, c := range p.Changes {
		ew.printf("<details><summary>%s</summary>\n\n", mdSummary(c, opts))
		fenced(ew, "diff", mdDiff(c))
		ew.printf("</details>\n\n")
	}
	if s.OutOfScope > 0 {
		ew.printf("%s\n\n", outOfScopeLine(s.OutOfScope))
	}
	if !p.HasChanges() && s.Unmanaged == 0 && len(p.Errors) == 0 {
		ew.printf("%s\n", summaryLine(s, p))
	}
	return ew.err
}

// code returns s as an HTML <code> element, escaped.
func code(s string) string { return "<code>" + html.EscapeString(clean(s)) + "</code>" }

// mdSummary is the one-line <summary> of a change's section.
func mdSummary(c diff.Change, opts Options) string {
	switch c.Action {
	case diff.ActionCreate:
		return "<b>+ create</b> " + code(c.Name) + " " + code(c.TargetURL)
	case diff.ActionUpdate:
		fields := make([]string, len(c.Fields))
		for i, f := range c.Fields {
			fields[i] = f.Field
		}
		return "<b>~ update</b> " + code(c.Name) + " (" + code(c.ID) + "): " + html.EscapeString(clean(strings.Join(fields, ", ")))
	case diff.ActionDelete:
		return "<b>- delete</b> " + code(c.TargetURL) + " (" + code(c.ID) + ")"
	case diff.ActionRotate:
		return "<b>± rotate</b> " + code(c.Name) + " (" + code(c.ID) + ") " + code(c.TargetURL)
	case diff.ActionUnmanaged:
		return "<b>? unmanaged</b> " + code(c.TargetURL) + " (" + code(c.ID) + ") — left alone (policy " + html.EscapeString(string(opts.policy())) + ")"
	case diff.ActionAdopt:
		return "<b>= adopt</b> " + code(c.Name) + " (" + code(c.ID) + ")"
	default:
		return html.EscapeString(clean(string(c.Action))) + " " + code(c.TargetURL) + " (" + code(c.ID) + ")"
	}
}

// mdDiff is the body of a change's diff block: "+" lines for what will
// exist, "-" for what will not, and "#" lines for notes.
func mdDiff(c diff.Change) []string {
	var lines []string
	// sign marks the unchanged fields: what a create adds, what a delete
	// removes, what an unmanaged subscription keeps.
	sign := "  "
	switch c.Action {
	case diff.ActionCreate, diff.ActionRotate:
		sign = "+ "
	case diff.ActionDelete:
		sign = "- "
	}
	if c.Action != diff.ActionUpdate {
		lines = append(lines, sign+"target_url: "+quote(c.TargetURL))
	}
	for _, f := range fields(c, false) {
		switch {
		case !f.update:
			lines = append(lines, sign+f.name+": "+f.value)
		case f.set:
			lines = append(lines, "  "+f.name+":")
			for _, a := range f.added {
				lines = append(lines, "+   "+a)
			}
			for _, r := range f.removed {
				lines = append(lines, "-   "+r)
			}
		default:
			lines = append(lines, "- "+f.name+": "+f.old, "+ "+f.name+": "+f.new)
		}
	}
	if c.Action == diff.ActionRotate {
		lines = append(lines, "# note: "+rotateNote)
	}
	for _, n := range c.Notes {
		lines = append(lines, "# note: "+clean(n))
	}
	return lines
}

// fenced writes lines as a fenced code block whose fence is longer than
// any run of backticks in them, so that no line can close it early.
func fenced(ew *errWriter, lang string, lines []string) {
	n := 3
	for _, l := range lines {
		run := 0
		for _, r := range l {
			if r == '`' {
				run++
				n = max(n, run+1)
			} else {
				run = 0
			}
		}
	}
	fence := strings.Repeat("`", n)
	ew.printf("%s%s\n", fence, lang)
	for _, l := range lines {
		ew.printf("%s\n", l)
	}
	ew.printf("%s\n\n", fence)
}
