package config

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits on what the loader accepts. They bound the memory and time a
// hostile or broken file can cost; a file over a limit is rejected with a
// positioned error.
const (
	// MaxFileSize is the largest file accepted, in bytes (4 MiB).
	MaxFileSize = 4 << 20
	// MaxSubscriptions is the most entries a file may declare.
	MaxSubscriptions = 10000
	// MaxListItems is the most items in one subscribed_events or
	// phone_numbers list.
	MaxListItems = 256
	// MaxNameLength is the longest name, in characters.
	MaxNameLength = 64
	// MaxURLLength is the longest target_url, in characters.
	MaxURLLength = 2048
	// MaxIDLength is the longest id, in characters.
	MaxIDLength = 256
	// MaxAliasExpansion is how many nodes YAML aliases may add to the
	// document when expanded; beyond it the file is refused ("billion
	// laughs").
	MaxAliasExpansion = 1_000_000
	// maxReported caps the diagnostics of one file; the rest are summarised.
	maxReported = 1000
)

// Load reads and validates the file at path. The error is for I/O only (the
// file is missing, unreadable or a directory) and names the file; every
// problem with the content is a Diagnostic. The Config is nil when the
// diagnostics hold an error.
func Load(path string) (*Config, Diagnostics, error) {
	return LoadWith(path, LoadOptions{})
}

// LoadOptions tune LoadWith; the zero value is Load.
type LoadOptions struct {
	// AfterDecode, when set, is called once the file's YAML tree is built
	// and before it is turned into a Config. That is when the YAML
	// parser's own garbage can be collected: a process that collects only
	// when told to (a one-shot command) collects there, so that its heap
	// peaks at the tree instead of at the tree, the parser's garbage and
	// the Config together.
	AfterDecode func()
	// BetweenGroups, when set, is called by the streamed load of a large
	// file (streamed.go) each time a group of entries has been turned into
	// Subscriptions: their YAML tree and the parser's garbage have just
	// been dropped. The streamed load builds no whole tree, so AfterDecode
	// is called only when the file is loaded the ordinary way.
	BetweenGroups func()
}

// LoadWith is Load with options.
func LoadWith(path string, opts LoadOptions) (*Config, Diagnostics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	if fi.IsDir() {
		return nil, nil, fmt.Errorf("load config: %q is a directory", path)
	}
	if fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, Diagnostics{tooLarge(path, fi.Size())}, nil
	}
	// The stat may be stale, or the file not regular (a pipe): bound the
	// read itself too.
	var buf bytes.Buffer
	if fi.Mode().IsRegular() {
		buf.Grow(int(fi.Size()) + bytes.MinRead) // one buffer, as os.ReadFile does
	}
	_, err = buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
	data := buf.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("load config: read %q: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, Diagnostics{tooLarge(path, -1)}, nil
	}
	cfg, ds := parse(path, data, opts)
	return cfg, ds, nil
}

// Parse validates data as the file named name (used in diagnostics and as
// Config.Path). It returns every problem at once; the Config is nil when the
// diagnostics hold an error. Parse does no I/O.
func Parse(name string, data []byte) (*Config, Diagnostics) {
	return parse(name, data, LoadOptions{})
}

// parse is Parse with the hooks of opts.
func parse(name string, data []byte, opts LoadOptions) (*Config, Diagnostics) {
	return (&parser{file: name, data: data, afterDecode: opts.AfterDecode, betweenGroups: opts.BetweenGroups}).run()
}

// run parses the file and returns its Config, nil when the diagnostics
// hold an error.
func (p *parser) run() (*Config, Diagnostics) {
	cfg := p.parseFile()
	ds := p.result()
	if ds.HasErrors() {
		return nil, ds
	}
	return cfg, ds
}

func tooLarge(file string, size int64) Diagnostic {
	msg := fmt.Sprintf("file is larger than the %d-byte (4 MiB) limit", MaxFileSize)
	if size >= 0 {
		msg = fmt.Sprintf("file is %d bytes, larger than the %d-byte (4 MiB) limit", size, MaxFileSize)
	}
	return Diagnostic{File: file, Line: 1, Col: 1, Message: msg, Severity: SeverityError}
}

// parser collects the diagnostics of one file.
type parser struct {
	file    string
	data    []byte
	diags   Diagnostics
	dropped *Diagnostic // the first diagnostic over maxReported
	nDrop   int
	items   []item // scratch for strList
	// afterDecode and betweenGroups are LoadOptions'.
	afterDecode, betweenGroups func()
	// The streamed load (streamed.go): the file's layout and whether it
	// gave up.
	stream       *stream
	streamFailed bool
	noStream     bool // load the ordinary way only
	// lineShift is added to every node's line: the streamed load parses a
	// group of entries on its own, so its nodes count lines from the
	// group's first.
	lineShift int
}

func (p *parser) add(line, col int, path string, sev Severity, msg string) {
	d := Diagnostic{File: p.file, Line: max(line, 1), Col: max(col, 1), Path: path, Message: msg, Severity: sev}
	if len(p.diags) >= maxReported {
		if p.dropped == nil {
			p.dropped = &d
		}
		p.nDrop++
		return
	}
	p.diags = append(p.diags, d)
}

func (p *parser) errorf(n *yaml.Node, at loc, format string, args ...any) {
	line, col := p.nodePos(n)
	p.add(line, col, at.String(), SeverityError, fmt.Sprintf(format, args...))
}

func (p *parser) warnf(n *yaml.Node, at loc, format string, args ...any) {
	line, col := p.nodePos(n)
	p.add(line, col, at.String(), SeverityWarning, fmt.Sprintf(format, args...))
}

// result returns the diagnostics in file order.
func (p *parser) result() Diagnostics {
	ds := p.diags
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	if p.dropped != nil {
		d := *p.dropped
		d.Severity = SeverityError
		d.Path = ""
		d.Message = fmt.Sprintf("too many problems: %d more not shown", p.nDrop)
		ds = append(ds, d)
	}
	return ds
}

// nodePos returns where n stands in the file, 1-based.
func (p *parser) nodePos(n *yaml.Node) (int, int) {
	if n == nil {
		return 1, 1
	}
	return max(p.line(n), 1), max(n.Column, 1)
}

// line returns the line of n in the file.
func (p *parser) line(n *yaml.Node) int { return n.Line + p.lineShift }

func (p *parser) toPos(n *yaml.Node) Position {
	l, c := p.nodePos(n)
	return Position{Line: l, Col: c}
}

func (p *parser) parseFile() *Config {
	if len(p.data) > MaxFileSize {
		p.diags = append(p.diags, tooLarge(p.file, int64(len(p.data))))
		return nil
	}
	if !p.checkEncoding() {
		return nil
	}
	if !p.noStream {
		if cfg, ok := p.parseStreamed(); ok {
			return cfg
		}
	}
	doc, second, err := decode(p.data)
	if err != nil {
		p.yamlError(err)
		return nil
	}
	if doc == nil || len(doc.Content) == 0 {
		p.add(1, 1, "", SeverityError, "file is empty")
		return nil
	}
	if second != nil {
		p.add(p.line(second), second.Column, "", SeverityError,
			"a second YAML document starts here; the file must hold exactly one")
		return nil
	}
	root := doc.Content[0]
	if !p.checkAliases(root) {
		return nil
	}
	if p.afterDecode != nil {
		p.afterDecode()
	}
	return p.root(root)
}

// decode parses the first YAML document of data, and the second if there is
// one (which is an error for the caller to report). A panic inside the YAML
// library is turned into an error.
func decode(data []byte) (first, second *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal parser failure: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var m yaml.Node
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return &n, nil, nil
		}
		return nil, nil, err
	}
	return &n, &m, nil
}

// checkEncoding rejects bytes that are not UTF-8 and characters YAML does
// not allow, with their position (the YAML library reports neither).
func (p *parser) checkEncoding() bool {
	data := p.data
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		p.add(1, 1, "", SeverityError, "file is UTF-16; save it as UTF-8")
		return false
	}
	// Almost every config is printable ASCII, tabs and line breaks: find
	// that out without counting lines, which only a problem needs.
	if plainASCII(data) {
		return true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		// ASCII (almost every byte of a config) is checked without
		// decoding; anything else, and any error, takes the general path.
		if c := data[i]; c == '\n' {
			line, col = line+1, 1
			i++
			continue
		} else if plainByte(c) {
			col++
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			p.add(line, col, "", SeverityError, fmt.Sprintf("file is not valid UTF-8 (byte 0x%02x)", data[i]))
			return false
		case !yamlPrintable(r):
			p.add(line, col, "", SeverityError, fmt.Sprintf("control character %U is not allowed in YAML", r))
			return false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return true
}

// plainASCII reports whether data is only printable ASCII, tab, CR and LF.
// It reads eight bytes at a time, and looks at single bytes only in a word
// that has a byte below 0x20 (a line break, most often) or DEL: this is one
// pass over every byte of the file, a megabyte or more.
func plainASCII(data []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(data); i += 8 {
		w := binary.LittleEndian.Uint64(data[i:])
		if w&high != 0 {
			return false
		}
		below20 := (w - ones*0x20) & ^w & high // some byte < 0x20 (exact for ASCII bytes)
		x := w ^ ones*0x7f
		del := (x - ones) & ^x & high // some byte == 0x7f
		if below20|del == 0 {
			continue
		}
		for _, c := range data[i : i+8] {
			if c != '\n' && !plainByte(c) {
				return false
			}
		}
	}
	for _, c := range data[i:] {
		if c != '\n' && !plainByte(c) {
			return false
		}
	}
	return true
}

// plainByte reports whether c is printable ASCII, a tab or a CR: allowed in
// YAML and on a line of its own.
func plainByte(c byte) bool {
	return c >= 0x20 && c <= 0x7e || c == '\t' || c == '\r'
}

// yamlPrintable mirrors the YAML library's check on input characters.
func yamlPrintable(r rune) bool {
	return r == 0x09 || r == 0x0a || r == 0x0d ||
		(r >= 0x20 && r <= 0x7e) || r == 0x85 ||
		(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd) ||
		(r >= 0x10000 && r <= 0x10ffff)
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

// parserProblems are the YAML library's parser (not scanner) errors, whose
// reported line is 0-based.
var parserProblems = []string{
	"did not find expected",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError reports a YAML syntax error at the line the library names
// (corrected to 1-based where the library is off by one), with a hint for
// the common causes.
func (p *parser) yamlError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 1, 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		for _, pp := range parserProblems {
			if strings.HasPrefix(msg, pp) {
				line++
				break
			}
		}
	}
	lines := strings.Split(string(p.data), "\n")
	if n := len(lines); n > 1 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	line = max(1, min(line, len(lines)))
	text := ""
	if line <= len(lines) {
		text = lines[line-1]
	}
	switch {
	case strings.Contains(msg, "cannot start any token") && strings.Contains(text, "\t"):
		col = utf8.RuneCountInString(text[:strings.IndexByte(text, '\t')]) + 1
		msg += ": a tab; indent with spaces, YAML does not allow tabs"
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if l, c, ok := findAlias(lines, name); ok {
			line, col = l, c
		}
	}
	p.add(line, col, "", SeverityError, "invalid YAML: "+msg)
}

// findAlias finds the first use of *name in lines.
func findAlias(lines []string, name string) (int, int, bool) {
	for i, l := range lines {
		for off := 0; ; {
			j := strings.Index(l[off:], "*"+name)
			if j < 0 {
				break
			}
			end := off + j + 1 + len(name)
			if end == len(l) || strings.ContainsRune(" \t,]}#", rune(l[end])) {
				return i + 1, utf8.RuneCountInString(l[:off+j]) + 1, true
			}
			off = end
		}
	}
	return 0, 0, false
}

// checkAliases refuses a document whose aliases expand it by more than
// MaxAliasExpansion nodes, or that contains itself through an alias. After
// it passes, walking the document through aliases costs at most that much.
func (p *parser) checkAliases(root *yaml.Node) bool {
	if bytes.IndexByte(p.data, '*') < 0 {
		return true // an alias is written *name: without a '*' there is none
	}
	e := expansion{memo: map[*yaml.Node]int{}, active: map[*yaml.Node]bool{}}
	total := 0
	var bad *yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if bad != nil || n == nil {
			return
		}
		if n.Kind == yaml.AliasNode {
			total = satAdd(total, e.size(n))
			switch {
			case e.cyclic != nil:
				bad = e.cyclic
				p.errorf(bad, loc{}, "alias *%s refers to a value that contains it", clip(bad.Value))
			case total > MaxAliasExpansion:
				bad = n
				p.errorf(n, loc{}, "aliases expand the document by more than %d nodes (is this a \"billion laughs\" file?)", MaxAliasExpansion)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	return bad == nil
}

// expansion measures the expanded size of YAML nodes, memoised, saturating
// just above MaxAliasExpansion.
type expansion struct {
	memo   map[*yaml.Node]int
	active map[*yaml.Node]bool
	cyclic *yaml.Node // an alias that refers to one of its ancestors
}

func (e *expansion) size(n *yaml.Node) int {
	if v, ok := e.memo[n]; ok {
		return v
	}
	total := 1
	e.active[n] = true
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		if e.active[n.Alias] {
			if e.cyclic == nil {
				e.cyclic = n
			}
			total = MaxAliasExpansion + 1
		} else {
			total = satAdd(total, e.size(n.Alias))
		}
	}
	for _, c := range n.Content {
		if total > MaxAliasExpansion {
			break
		}
		total = satAdd(total, e.size(c))
	}
	delete(e.active, n)
	e.memo[n] = total
	return total
}

func satAdd(a, b int) int {
	return min(a+b, MaxAliasExpansion+1)
}

// clip shortens user input for a message.
func clip(s string) string {
	const limit = 80
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit]) + "..."
}

// quote quotes user input for a message, shortened.
func quote(s string) string { return strconv.Quote(clip(s)) }
