package planfmt

import (
	"fmt"
	"io"
	"strings"

	"github.com/linq-sync/linq-sync/internal/config"
	"github.com/linq-sync/linq-sync/internal/diff"
)

// githubTitle is the title of every plan annotation.
const githubTitle = "linq-sync plan"

// GitHub writes p as GitHub Actions workflow commands: an ::error per entry
// error, a ::notice with the summary line, and a ::notice per pending
// change (create, update, delete). An annotation points at the entry's
// line and column in opts.File when the change has a file entry, and at
// the file alone otherwise. Unmanaged subscriptions are counted in the
// summary but not annotated: they are not pending.
func GitHub(w io.Writer, p diff.Plan, opts Options) error {
	ew := &errWriter{w: w}
	for _, e := range p.Errors {
		ew.printf("%s\n", workflowCommand("error", opts.File, e.Pos, githubTitle, clean(e.Name)+": "+clean(e.Message)))
	}
	s := p.Summary()
	sum := summaryLine(s, p)
	if s.OutOfScope > 0 {
		sum += "\n" + outOfScopeLine(s.OutOfScope)
	}
	if opts.Offline {
		sum += "\n" + offlineLine + "\n" + offlineUnknownLine()
	}
	ew.printf("%s\n", workflowCommand("notice", "", config.Position{}, githubTitle, sum))
	if lost := append(lostLines(p), deferredLines(p)...); len(lost) > 0 {
		ew.printf("%s\n", workflowCommand("error", opts.File, config.Position{}, githubTitle, strings.Join(lost, "\n")))
	}
	for _, c := range p.Changes {
		if c.Action == diff.ActionUnmanaged {
			continue
		}
		var pos config.Position
		if c.Desired != nil {
			pos = c.Desired.Pos
		}
		lines := []string{header(c, opts)}
		for _, l := range details(c) {
			lines = append(lines, "  "+l)
		}
		for _, n := range c.Notes {
			lines = append(lines, "  note: "+clean(n))
		}
		ew.printf("%s\n", workflowCommand("notice", opts.File, pos, githubTitle, strings.Join(lines, "\n")))
	}
	return ew.err
}

// GitHubDiagnostics writes validation diagnostics as workflow commands,
// ::error for errors and ::warning for warnings, each pointing at its file,
// line and column, for validate -o github.
func GitHubDiagnostics(w io.Writer, diags []config.Diagnostic) error {
	ew := &errWriter{w: w}
	for _, d := range diags {
		cmd := "error"
		if d.Severity == config.SeverityWarning {
			cmd = "warning"
		}
		msg := clean(d.Message)
		if d.Path != "" {
			msg = clean(d.Path) + ": " + msg
		}
		ew.printf("%s\n", workflowCommand(cmd, d.File, config.Position{Line: d.Line, Col: d.Col}, "", msg))
	}
	return ew.err
}

// workflowCommand formats ::cmd file=F,line=L,col=C,title=T::message,
// leaving out the properties that are empty or zero.
func workflowCommand(cmd, file string, pos config.Position, title, msg string) string {
	var props []string
	if file != "" {
		props = append(props, "file="+escapeProperty(file))
		if pos.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", pos.Line))
			if pos.Col > 0 {
				props = append(props, fmt.Sprintf("col=%d", pos.Col))
			}
		}
	}
	if title != "" {
		props = append(props, "title="+escapeProperty(title))
	}
	p := ""
	if len(props) > 0 {
		p = " " + strings.Join(props, ",")
	}
	return "::" + cmd + p + "::" + escapeData(msg)
}

// escapeData escapes a workflow command's message as the Actions runner
// expects: % first, then CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command property value: as data, plus
// : and , which would end it.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
