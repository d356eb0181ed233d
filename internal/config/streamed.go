package config

import (
	"bytes"
	"slices"

	"gopkg.in/yaml.v3"
)

// The streamed load: a large, valid file without a single YAML tree.
//
// yaml.v3 turns a whole document into one node tree, about ten times the
// size of the file (18 MiB for 10,000 entries), and only then can it be
// turned into a Config. Most files are laid out the same way: top-level keys
// at the left margin and the entries as a block sequence under
// "subscriptions:", one "- " per entry at one indentation. Such a file is
// cut at the lines where entries start, and each group of entries is parsed
// on its own, turned into Subscriptions and dropped, while the rest of the
// file is parsed with the entries' lines blanked out (so its lines keep
// their numbers). A line at the sequence's indentation that starts with
// "- " begins a new entry wherever it appears outside a quoted or bracketed
// value (block and plain scalars end before it), and a cut inside such a
// value leaves an unterminated piece that the parser refuses.
//
// The streamed load only ever answers for a file it finds entirely valid,
// warnings included. Anything else: a parse error in any piece, an anchor
// or alias (which could cross a cut), tabs, CR or Unicode line breaks,
// directives or document markers, a diagnostic of any kind, and the file is
// loaded the ordinary way, so that every message and position is exactly
// the ordinary load's. A fuzz test holds the two to the same result.

// streamGroupBytes is about how much of the file one group of entries
// covers. Each group's tree and the parser's garbage, about 14 times its
// size, become garbage together once the group is converted.
const streamGroupBytes = 128 << 10

// stream is the layout of a file the streamed load can take.
type stream struct {
	indent int     // columns before each entry's "-"
	first  int     // line of the first entry (1-based)
	groups []group // the entries, cut into groups
	count  int     // entries in all
}

// group is a run of whole entries: data[start:end], from line line.
type group struct {
	start, end int
	line       int
	entries    int
}

// parseStreamed loads p.data the streamed way, in a parser of its own. It
// returns false, having reported nothing, when the file does not qualify or
// is not entirely valid.
func (p *parser) parseStreamed() (*Config, bool) {
	st, header, ok := splitEntries(p.data)
	if !ok {
		return nil, false
	}
	q := &parser{file: p.file, data: p.data, stream: st, betweenGroups: p.betweenGroups}
	doc, second, err := decode(header)
	if err != nil || doc == nil || second != nil || len(doc.Content) == 0 || anchored(doc) {
		return nil, false
	}
	cfg := q.root(doc.Content[0])
	if q.streamFailed || len(q.diags) > 0 || cfg == nil {
		return nil, false
	}
	return cfg, true
}

// streamEntries converts the entries of q.stream, one group at a time, in
// place of the block sequence root found blanked. It returns false when a
// group does not parse as exactly its entries.
func (p *parser) streamEntries(cfg *Config) bool {
	st := p.stream
	if st.count > MaxSubscriptions {
		return false
	}
	// Where the ordinary load places the sequence: at its first "-".
	cfg.FieldPos["subscriptions"] = Position{Line: st.first, Col: st.indent + 1}
	u := newUniq(st.count)
	cfg.Subscriptions = make([]Subscription, 0, st.count)
	i := 0
	for _, g := range st.groups {
		doc, second, err := decode(p.data[g.start:g.end])
		if err != nil || doc == nil || second != nil || len(doc.Content) != 1 {
			return false
		}
		seq := doc.Content[0]
		if seq.Kind != yaml.SequenceNode || len(seq.Content) != g.entries {
			return false
		}
		// An anchor is written with "&" and an alias with "*": a group
		// without either has none, and its tree need not be walked.
		if bytes.ContainsAny(p.data[g.start:g.end], "&*") && anchored(seq) {
			return false
		}
		p.lineShift = g.line - 1
		for _, item := range seq.Content {
			sub, ok := p.entry(i, item)
			if !ok {
				return false
			}
			p.checkUnique(&u, i, &sub)
			cfg.Subscriptions = append(cfg.Subscriptions, sub)
			i++
		}
		p.lineShift = 0
		if len(p.diags) > 0 {
			return false
		}
		if p.betweenGroups != nil {
			p.betweenGroups()
		}
	}
	return true
}

// anchored reports whether the tree under n has an anchor or an alias
// (then the streamed load gives up).
func anchored(n *yaml.Node) bool {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return true
	}
	return slices.ContainsFunc(n.Content, anchored)
}

// splitEntries finds the entries of data and returns their layout and a copy
// of data with their lines blanked and the sequence replaced by "[]". ok is
// false when the file is not laid out the way the streamed load needs.
func splitEntries(data []byte) (*stream, []byte, bool) {
	if bytes.IndexByte(data, '\t') >= 0 || bytes.IndexByte(data, '\r') >= 0 || bytes.Contains(data, []byte("\u0085")) ||
		bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		return nil, nil, false
	}
	st := &stream{indent: -1}
	const (
		before = iota // before "subscriptions:"
		seek          // after it, before the first entry
		inSeq         // among the entries
		after         // past them
	)
	state := before
	seqStart, seqEnd := -1, -1 // byte range of the entries
	var g *group
	line := 0
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			end += off
			next = end + 1
		} else {
			end = len(data)
		}
		line++
		l := data[off:end]
		if len(l) > 0 && (l[0] == '%' || bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("..."))) {
			return nil, nil, false // a directive or a document marker
		}
		ind := indentOf(l)
		blank := ind == len(l) || l[ind] == '#'
		switch state {
		case before:
			if bytes.HasPrefix(l, []byte("subscriptions:")) {
				rest := bytes.TrimLeft(l[len("subscriptions:"):], " ")
				if len(rest) > 0 && rest[0] != '#' {
					return nil, nil, false // a value on the same line: flow style, or empty
				}
				state = seek
			}
		case seek:
			if blank {
				break
			}
			if !isEntryStart(l, ind) {
				return nil, nil, false
			}
			st.indent, st.first, seqStart = ind, line, off
			state = inSeq
			fallthrough
		case inSeq:
			switch {
			case blank:
			case ind == st.indent && isEntryStart(l, ind):
				if g == nil || off-g.start >= streamGroupBytes {
					if g != nil {
						g.end = off
						st.groups = append(st.groups, *g)
					}
					g = &group{start: off, line: line}
				}
				g.entries++
				st.count++
			case ind > st.indent:
			case ind == 0:
				seqEnd = off // a top-level key: the entries have ended
				state = after
			default:
				return nil, nil, false // neither an entry nor a top-level key
			}
		}
		off = next
	}
	switch state {
	case inSeq:
		seqEnd = len(data)
	case after:
	default:
		return nil, nil, false
	}
	g.end = seqEnd
	st.groups = append(st.groups, *g)

	// The rest of the file, the entries' lines emptied and the first one
	// holding "[]" one column right of the key: every other line keeps its
	// number and column.
	lines := bytes.Count(data[seqStart:seqEnd], []byte{'\n'})
	header := make([]byte, 0, seqStart+len(" []")+lines+len(data)-seqEnd)
	header = append(header, data[:seqStart]...)
	header = append(header, " []"...)
	header = append(header, bytes.Repeat([]byte{'\n'}, lines)...)
	header = append(header, data[seqEnd:]...)
	return st, header, true
}

// indentOf counts the spaces that start l.
func indentOf(l []byte) int {
	i := 0
	for i < len(l) && l[i] == ' ' {
		i++
	}
	return i
}

// isEntryStart reports whether l, indented by ind, starts a sequence entry:
// "-" followed by a space or the end of the line.
func isEntryStart(l []byte, ind int) bool {
	return ind < len(l) && l[ind] == '-' && (ind+1 == len(l) || l[ind+1] == ' ')
}

// parseOrdinary is Parse without the streamed load; tests compare the two.
func parseOrdinary(name string, data []byte) (*Config, Diagnostics) {
	return (&parser{file: name, data: data, noStream: true}).run()
}
