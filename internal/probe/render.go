package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// FormatVersion is the version of the JSON document JSON writes. It changes
// only when a documented key is removed or changes meaning.
const FormatVersion = 1

type jsonReport struct {
	FormatVersion int            `json:"format_version"`
	AllVerified   bool           `json:"all_verified"`
	Summary       map[string]int `json:"summary"`
	Results       []Result       `json:"results"`
}

// Summary counts results by kind; every kind is present.
func Summary(rs []Result) map[Kind]int {
	s := make(map[Kind]int, len(Kinds))
	for _, k := range Kinds {
		s[k] = 0
	}
	for _, r := range rs {
		s[r.Result]++
	}
	return s
}

// JSON writes rs as one indented JSON document:
// {"format_version", "all_verified", "summary": {kind: count},
// "results": [Result...]}.
func JSON(w io.Writer, rs []Result) error {
	sum := make(map[string]int, len(Kinds))
	for k, n := range Summary(rs) {
		sum[string(k)] = n
	}
	if rs == nil {
		rs = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{FormatVersion: FormatVersion, AllVerified: AllVerified(rs), Summary: sum, Results: rs})
}

// Text writes rs for a terminal: a table (result, name, the statuses the
// valid and forged probes got, target URL), a hint line per result that is
// not verified, and a summary line.
func Text(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tNAME\tVALID\tFORGED\tTARGET URL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Result, clean(r.Name), status(r.Valid), status(r.Forged), clean(r.TargetURL))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	hints := false
	for _, r := range rs {
		if r.Hint == "" {
			continue
		}
		if !hints {
			b.WriteString("\n")
			hints = true
		}
		fmt.Fprintf(&b, "hint: %s: %s: %s\n", clean(r.Name), r.Result, clean(r.Hint))
	}
	b.WriteString("\n")
	sum := Summary(rs)
	var parts []string
	for _, k := range Kinds {
		if sum[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", sum[k], k))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "no endpoints")
	}
	b.WriteString(strings.Join(parts, ", ") + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func status(a *Answer) string {
	switch {
	case a == nil:
		return "-"
	case a.Status != 0:
		return strconv.Itoa(a.Status)
	default:
		return "none"
	}
}

// clean returns s with every non-printable rune written as a Go escape, so
// that one value stays on one line and cannot drive a terminal.
func clean(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// Write renders rs in format: "text" (Text) or "json" (JSON), the values of
// the probe command's -o flag.
func Write(w io.Writer, format string, rs []Result) error {
	switch format {
	case "text", "":
		return Text(w, rs)
	case "json":
		return JSON(w, rs)
	default:
		return fmt.Errorf("output format %q: must be text or json", format)
	}
}
