package planfmt

import (
	"io"

	"github.com/linq-sync/linq-sync/internal/diff"
)

// Text writes p for a terminal: entry errors ("! error"), then one block
// per change ("+ create", "~ update" field by field, "- delete",
// "? unmanaged", and offline "= adopt") with its notes, then a summary line.
func Text(w io.Writer, p diff.Plan, opts Options) error {
	ew := &errWriter{w: w}
	for _, e := range p.Errors {
		ew.printf("! error %s: %s\n", clean(e.Name), clean(e.Message))
	}
	lost := append(lostLines(p), deferredLines(p)...)
	for _, l := range lost {
		ew.printf("%s\n", l)
	}
	for _, c := range p.Changes {
		ew.printf("%s\n", header(c, opts))
		for _, l := range details(c) {
			ew.printf("  %s\n", l)
		}
		if c.Action == diff.ActionRotate {
			ew.printf("  note: %s\n", rotateNote)
		}
		for _, n := range c.Notes {
			ew.printf("  note: %s\n", clean(n))
		}
	}
	s := p.Summary()
	if len(p.Errors) > 0 || len(p.Changes) > 0 || len(lost) > 0 {
		ew.printf("\n")
	}
	if s.OutOfScope > 0 {
		ew.printf("%s\n", outOfScopeLine(s.OutOfScope))
	}
	if len(p.Errors) > 0 {
		ew.printf("%s\n", errorsLine(len(p.Errors)))
	}
	ew.printf("%s\n", summaryLine(s, p))
	if opts.Offline {
		ew.printf("%s\n%s\n", offlineLine, offlineUnknownLine())
	}
	return ew.err
}
