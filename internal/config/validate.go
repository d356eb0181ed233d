package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/linq-sync/linq-sync/internal/strindex"
)

var (
	topKeys   = []string{"version", "policy", "log_level", "subscriptions", "rotate_lost_secrets", "probe_interval"}
	logLevels = []string{"debug", "info", "warn", "error"}
	entryKeys = []string{"name", "id", "target_url", "subscribed_events", "phone_numbers", "is_active", "verify_before_move"}

	policys = []string{string(PolicyUpsertOnly), string(PolicySync)}
)

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 1000; i++ {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return "string " + quote(n.Value)
		case "!!bool":
			return "boolean " + clip(n.Value)
		case "!!int":
			return "integer " + clip(n.Value)
		case "!!float":
			return "number " + clip(n.Value)
		case "!!timestamp":
			return "timestamp " + clip(n.Value)
		default:
			return "a value tagged " + clip(n.ShortTag())
		}
	}
	return "an unsupported YAML node"
}

// isNull reports whether n (resolved) is an explicit or implicit null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// loc names a field for diagnostics, as subscriptions[i].key[j], without
// formatting it: the string is made only when a problem is reported. entry
// and item hold the index plus one; 0 means none. The zero loc is the
// document itself.
type loc struct {
	entry, item int
	key         string
}

func topLoc(key string) loc { return loc{key: key} }
func entryLoc(i int) loc    { return loc{entry: i + 1} }

// field returns the location of key within l.
func (l loc) field(key string) loc { l.key = key; return l }

// at returns the location of item j of the list at l.
func (l loc) at(j int) loc { l.item = j + 1; return l }

func (l loc) String() string {
	var b strings.Builder
	if l.entry > 0 {
		b.WriteString("subscriptions[")
		b.WriteString(strconv.Itoa(l.entry - 1))
		b.WriteByte(']')
	}
	if l.key != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l.key)
	}
	if l.item > 0 {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(l.item - 1))
		b.WriteByte(']')
	}
	return b.String()
}

// field is one key: value pair of a mapping.
type field struct {
	key *yaml.Node // the key as written; nil when the key is absent
	val *yaml.Node // the value as written (possibly an alias)
}

// fieldSet holds the known keys of one mapping, indexed like the list of
// known keys given to fields.
type fieldSet [8]field

// Indexes into topKeys and entryKeys.
const (
	kVersion, kPolicy, kLogLevel, kSubscriptions, kRotateLost, kProbeInterval = 0, 1, 2, 3, 4, 5

	kName, kID, kTargetURL, kEvents, kPhones, kIsActive, kVerifyMove = 0, 1, 2, 3, 4, 5, 6
)

// fields checks the keys of mapping m (resolved) against known and returns
// the known ones. Unknown keys are errors with a suggestion; keys that
// belong at the other level say so.
func (p *parser) fields(m *yaml.Node, at loc, known, otherLevel []string, otherHint string) fieldSet {
	var out fieldSet
	// Duplicates of a known key are found in out; unknown keys (already
	// errors) are remembered here, made only when one appears.
	var unknown map[string]*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, v := m.Content[i], m.Content[i+1]
		k := resolve(kn)
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			p.errorf(kn, at, "merge keys (<<) are not supported; write the fields out, or alias a whole value")
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.errorf(kn, at, "keys must be strings, got %s", describe(k))
			continue
		}
		name := k.Value
		if j := slices.Index(known, name); j >= 0 {
			if first := out[j].key; first != nil {
				p.errorf(kn, at, "duplicate key %s (first at line %d)", quote(name), p.line(first))
				continue
			}
			out[j] = field{key: kn, val: v}
			continue
		}
		if first, dup := unknown[name]; dup {
			p.errorf(kn, at, "duplicate key %s (first at line %d)", quote(name), p.line(first))
			continue
		}
		if unknown == nil {
			unknown = map[string]*yaml.Node{}
		}
		unknown[name] = kn
		msg := "unknown key " + quote(name)
		if slices.Contains(otherLevel, name) {
			msg += " (" + otherHint + ")"
		} else {
			msg += didYouMean(name, known)
		}
		p.errorf(kn, at, "%s", msg)
	}
	return out
}

// str returns the string value of v, or reports that it is not one.
func (p *parser) str(v *yaml.Node, at loc) (string, bool) {
	r := resolve(v)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		return r.Value, true
	}
	hint := ""
	if r.Kind == yaml.ScalarNode && !isNull(r) {
		hint = fmt.Sprintf(" (quote it: %s)", quote(r.Value))
	}
	p.errorf(v, at, "must be a string, got %s%s", describe(r), hint)
	return "", false
}

// root validates the top-level mapping.
func (p *parser) root(n *yaml.Node) *Config {
	doc := loc{}
	r := resolve(n)
	if isNull(r) && r.Value == "" {
		p.errorf(n, doc, "file is empty")
		return nil
	}
	if r.Kind != yaml.MappingNode {
		p.errorf(n, doc, "the document must be a mapping with version, policy and subscriptions, got %s", describe(r))
		return nil
	}
	cfg := &Config{Path: p.file, Policy: PolicyUpsertOnly, FieldPos: map[string]Position{}}
	fs := p.fields(r, doc, topKeys, entryKeys, "it belongs in an entry under subscriptions")
	for i, k := range topKeys {
		if fs[i].key != nil {
			cfg.FieldPos[k] = p.toPos(fs[i].val)
		}
	}

	if f := fs[kVersion]; f.key == nil {
		p.errorf(n, doc, "missing required key \"version\" (add \"version: 1\")")
	} else {
		v := resolve(f.val)
		var ver int
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&ver) != nil {
			p.errorf(f.val, topLoc("version"), "must be the integer 1, got %s", describe(v))
		} else if ver != 1 {
			p.errorf(f.val, topLoc("version"), "unsupported version %d (this linq-sync reads version 1)", ver)
		} else {
			cfg.Version = 1
		}
	}

	if f := fs[kPolicy]; f.key != nil {
		if s, ok := p.str(f.val, topLoc("policy")); ok {
			if slices.Contains(policys, s) {
				cfg.Policy = Policy(s)
			} else {
				p.errorf(f.val, topLoc("policy"), "must be \"upsert-only\" or \"sync\", got %s%s", quote(s), didYouMean(s, policys))
			}
		}
	}

	if f := fs[kLogLevel]; f.key != nil {
		if s, ok := p.str(f.val, topLoc("log_level")); ok {
			if slices.Contains(logLevels, s) {
				cfg.LogLevel = s
			} else {
				p.errorf(f.val, topLoc("log_level"), "must be one of debug, info, warn, error, got %s%s", quote(s), didYouMean(s, logLevels))
			}
		}
	}

	if f := fs[kRotateLost]; f.key != nil {
		var b bool
		if v := resolve(f.val); v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			p.errorf(f.val, topLoc("rotate_lost_secrets"), "must be a boolean (true or false), got %s", describe(v))
		} else {
			cfg.RotateLostSecrets = b
		}
	}

	if f := fs[kProbeInterval]; f.key != nil {
		if s, ok := p.str(f.val, topLoc("probe_interval")); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(f.val, topLoc("probe_interval"), "must be a duration such as \"15m\" or \"1h\", got %s", quote(s))
			case d != 0 && d < MinProbeInterval:
				p.errorf(f.val, topLoc("probe_interval"), "must be at least %s (or 0 for off), got %s", MinProbeInterval, quote(s))
			default:
				cfg.ProbeInterval = d
			}
		}
	}

	f := fs[kSubscriptions]
	if f.key == nil {
		p.errorf(n, doc, "missing required key \"subscriptions\" (write \"subscriptions: []\" to declare none)")
		return cfg
	}
	seq := resolve(f.val)
	if seq.Kind != yaml.SequenceNode {
		p.errorf(f.val, topLoc("subscriptions"), "must be a list of subscriptions, got %s", describe(seq))
		return cfg
	}
	if p.stream != nil {
		if !p.streamEntries(cfg) {
			p.streamFailed = true
			return nil
		}
		return cfg
	}
	if len(seq.Content) > MaxSubscriptions {
		p.errorf(f.val, topLoc("subscriptions"), "has %d entries; at most %d are allowed", len(seq.Content), MaxSubscriptions)
		return cfg
	}
	if len(seq.Content) == 0 && cfg.Policy == PolicySync {
		p.warnf(fs[kPolicy].val, topLoc("policy"), "\"sync\" with no subscriptions would delete every remote subscription; apply refuses that without --allow-mass-delete")
	}
	u := newUniq(len(seq.Content))
	cfg.Subscriptions = make([]Subscription, 0, len(seq.Content))
	for i, item := range seq.Content {
		sub, ok := p.entry(i, item)
		if !ok {
			continue
		}
		p.checkUnique(&u, i, &sub)
		cfg.Subscriptions = append(cfg.Subscriptions, sub)
	}
	if len(cfg.Subscriptions) == 0 {
		cfg.Subscriptions = nil
	}
	return cfg
}

// firstUse is where a unique value was first seen.
type firstUse struct {
	value       string
	index, line int32 // entries and lines are far fewer than 2³¹ (MaxFileSize)
}

// uniqField remembers the first entry that used each value of one field:
// uses[k] is the k-th value seen, and index finds it by value.
type uniqField struct {
	uses  []firstUse
	index *strindex.Index
}

func newUniqField(n int) *uniqField {
	f := &uniqField{uses: make([]firstUse, 0, n)}
	f.index = strindex.New(n, func(k int) string { return f.uses[k].value })
	return f
}

// uniq remembers, per field, the first entry that used each value.
type uniq struct {
	names, ids, urls *uniqField
}

// newUniq returns a uniq sized for n entries.
func newUniq(n int) uniq {
	return uniq{names: newUniqField(n), ids: newUniqField(n), urls: newUniqField(n)}
}

// checkUnique reports the fields of entry i that an earlier entry already
// used.
func (p *parser) checkUnique(u *uniq, i int, s *Subscription) {
	check := func(f *uniqField, key, value string, pos Position) {
		if value == "" {
			return
		}
		f.uses = append(f.uses, firstUse{value: value, index: int32(i), line: int32(pos.Line)})
		if k, dup := f.index.Claim(value, len(f.uses)-1); dup {
			f.uses = f.uses[:len(f.uses)-1]
			first := f.uses[k]
			p.add(pos.Line, pos.Col, entryLoc(i).field(key).String(), SeverityError,
				fmt.Sprintf("duplicate %s %s: subscriptions[%d] (line %d) already uses it", key, quoteDisplay(key, value), first.index, first.line))
		}
	}
	check(u.names, "name", s.Name, s.FieldPos.Name)
	check(u.ids, "id", s.ID, s.FieldPos.ID)
	check(u.urls, "target_url", s.TargetURL, s.FieldPos.TargetURL)
}

func quoteDisplay(key, value string) string {
	if key == "target_url" {
		return quote(redactURL(value))
	}
	return quote(value)
}

// entry validates one subscription; ok is false when it is not a mapping.
// Problems within the entry are reported and the entry still returned, so
// that later checks (duplicates) see it.
func (p *parser) entry(i int, n *yaml.Node) (Subscription, bool) {
	at := entryLoc(i)
	m := resolve(n)
	if m.Kind != yaml.MappingNode {
		p.errorf(n, at, "must be a mapping with name, target_url and subscribed_events, got %s", describe(m))
		return Subscription{}, false
	}
	s := Subscription{IsActive: true, Pos: p.toPos(n)}
	fs := p.fields(m, at, entryKeys, topKeys, "it belongs at the top level, not in a subscription")
	fp := &s.FieldPos
	for j, pos := range [...]*Position{&fp.Name, &fp.ID, &fp.TargetURL, &fp.SubscribedEvents, &fp.PhoneNumbers, &fp.IsActive} {
		if fs[j].key != nil {
			*pos = p.toPos(fs[j].val)
		}
	}
	for _, req := range [...]int{kName, kTargetURL, kEvents} {
		if fs[req].key == nil {
			p.errorf(n, at, "missing required key %q", entryKeys[req])
		}
	}

	if f := fs[kName]; f.key != nil {
		fat := at.field("name")
		if v, ok := p.str(f.val, fat); ok {
			if msg := checkName(v); msg != "" {
				p.errorf(f.val, fat, "%s", msg)
			} else {
				s.Name = v
			}
		}
	}
	if f := fs[kID]; f.key != nil {
		fat := at.field("id")
		if v, ok := p.str(f.val, fat); ok {
			switch {
			case v == "":
				p.errorf(f.val, fat, "must not be empty (leave id out to match by target_url)")
			case len(v) > MaxIDLength && utf8.RuneCountInString(v) > MaxIDLength:
				p.errorf(f.val, fat, "is %d characters long; the limit is %d", utf8.RuneCountInString(v), MaxIDLength)
			case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
				p.errorf(f.val, fat, "%s must not contain spaces or control characters", quote(v))
			default:
				if !isUUID(v) {
					p.warnf(f.val, fat, "%s does not look like a UUID; the API's ids are UUIDs", quote(v))
				}
				s.ID = v
			}
		}
	}
	if f := fs[kTargetURL]; f.key != nil {
		fat := at.field("target_url")
		if v, ok := p.str(f.val, fat); ok {
			if msg := checkTargetURL(v); msg != "" {
				p.errorf(f.val, fat, "%s", msg)
			} else {
				s.TargetURL = v
			}
		}
	}
	if f := fs[kEvents]; f.key != nil {
		s.SubscribedEvents, fp.Events = p.events(f.val, at.field("subscribed_events"))
	}
	if f := fs[kPhones]; f.key != nil {
		s.PhoneNumbers, fp.Phones = p.phones(f.val, at.field("phone_numbers"))
	}
	if f := fs[kIsActive]; f.key != nil {
		v := resolve(f.val)
		var b bool
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			p.errorf(f.val, at.field("is_active"), "must be a boolean (true or false), got %s", describe(v))
		} else {
			s.IsActive = b
		}
	}
	if f := fs[kVerifyMove]; f.key != nil {
		v := resolve(f.val)
		var b bool
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			p.errorf(f.val, at.field("verify_before_move"), "must be a boolean (true or false), got %s", describe(v))
		} else {
			s.VerifyBeforeMove = b
		}
	}
	return s, true
}

// item is one string of a list, with its node.
type item struct {
	val   string
	node  *yaml.Node
	index int // in the list as written
}

// strList returns the string items of list v and the position of every
// item as written. A null value yields (nil, nil, true); anything but a
// list of at most MaxListItems yields false.
func (p *parser) strList(v *yaml.Node, at loc, what string) ([]item, []Position, bool) {
	r := resolve(v)
	if isNull(r) {
		return nil, nil, true
	}
	if r.Kind != yaml.SequenceNode {
		hint := ""
		if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
			hint = fmt.Sprintf(" (write [%s])", clip(r.Value))
		}
		p.errorf(v, at, "must be a list of %s, got %s%s", what, describe(r), hint)
		return nil, nil, false
	}
	if len(r.Content) > MaxListItems {
		p.errorf(v, at, "has %d items; at most %d are allowed", len(r.Content), MaxListItems)
		return nil, nil, false
	}
	// The items are needed only until the caller has checked them: the
	// parser's scratch slice holds them, so lists cost no allocation.
	items := p.items[:0]
	var pos []Position
	if len(r.Content) > 0 {
		pos = make([]Position, len(r.Content))
	}
	for i, c := range r.Content {
		pos[i] = p.toPos(c)
		s, ok := p.str(c, at.at(i))
		if !ok {
			continue
		}
		items = append(items, item{val: s, node: c, index: i})
	}
	p.items = items
	return items, pos, true
}

// firstSame returns the first item before items[i] with the same value,
// if any (given a map, the first one recorded in it). Every check before
// the duplicate check depends on the value alone, so the first earlier item
// with the value is the one that was kept. Lists are short (MaxListItems):
// a scan does, and long ones get a map.
func firstSame(items []item, i int, seen map[string]*yaml.Node) (*yaml.Node, bool) {
	if seen != nil {
		n, ok := seen[items[i].val]
		return n, ok
	}
	for _, it := range items[:i] {
		if it.val == items[i].val {
			return it.node, true
		}
	}
	return nil, false
}

// seenMap returns a map for firstSame when items is long enough to need
// one.
func seenMap(items []item) map[string]*yaml.Node {
	if len(items) <= 16 {
		return nil
	}
	return make(map[string]*yaml.Node, len(items))
}

func (p *parser) events(v *yaml.Node, at loc) ([]string, []Position) {
	items, pos, ok := p.strList(v, at, "event types")
	if !ok {
		return nil, pos
	}
	if len(resolve(v).Content) == 0 {
		p.errorf(v, at, "must list at least one event type (e.g. [message.received])")
		return nil, pos
	}
	seen := seenMap(items)
	out := make([]string, 0, len(items))
	for i, it := range items {
		iat := at.at(it.index)
		if it.val == "" {
			p.errorf(it.node, iat, "must not be empty")
			continue
		}
		if first, dup := firstSame(items, i, seen); dup {
			p.errorf(it.node, iat, "duplicate event type %s (also at line %d)", quote(it.val), p.line(first))
			continue
		}
		if seen != nil {
			seen[it.val] = it.node
		}
		if !slices.Contains(KnownEventTypes, it.val) {
			p.warnf(it.node, iat, "unknown event type %s%s: not in the built-in list (the API decides when online)", quote(it.val), didYouMean(it.val, KnownEventTypes))
		}
		out = append(out, it.val)
	}
	return out, pos
}

func (p *parser) phones(v *yaml.Node, at loc) ([]string, []Position) {
	items, pos, ok := p.strList(v, at, "E.164 phone numbers")
	if !ok || len(items) == 0 {
		return nil, pos
	}
	seen := seenMap(items)
	out := make([]string, 0, len(items))
	for i, it := range items {
		iat := at.at(it.index)
		if msg := checkPhone(it.val); msg != "" {
			p.errorf(it.node, iat, "%s", msg)
			continue
		}
		if first, dup := firstSame(items, i, seen); dup {
			p.errorf(it.node, iat, "duplicate phone number %s (also at line %d)", quote(it.val), p.line(first))
			continue
		}
		if seen != nil {
			seen[it.val] = it.node
		}
		out = append(out, it.val)
	}
	if len(out) == 0 {
		return nil, pos
	}
	return out, pos
}

// checkName returns what is wrong with a subscription name, or "".
func checkName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > MaxNameLength && utf8.RuneCountInString(s) > MaxNameLength:
		return fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(s), MaxNameLength)
	case !isName(s):
		msg := fmt.Sprintf("%s is not a valid name: use lowercase letters, digits, - and _, starting with a letter or digit", quote(s))
		if alt := sanitizeName(s); alt != "" {
			msg += fmt.Sprintf(" (e.g. %q)", alt)
		}
		return msg
	}
	return ""
}

// checkPhone returns what is wrong with a phone number, or "".
func checkPhone(s string) string {
	if isE164(s) {
		return ""
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0', '\t':
			return -1
		}
		return r
	}, s)
	if compact != s && isE164(compact) {
		return fmt.Sprintf("%s is not E.164: write it without spaces or punctuation, as %q", quote(s), compact)
	}
	return fmt.Sprintf("%s is not E.164 (e.g. +15551234567)", quote(s))
}

// isName reports whether s matches ^[a-z0-9][a-z0-9_-]*$.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// isUUID reports whether s is 8-4-4-4-12 hexadecimal digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isE164 reports whether s matches ^\+[1-9][0-9]{1,14}$.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasSpaceOrControl reports whether s holds a space or control character
// (unicode.IsSpace, unicode.IsControl). Printable ASCII, almost every byte
// of a URL, is checked without decoding.
func hasSpaceOrControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return strings.ContainsFunc(s[i:], func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		}
	}
	return false
}

// checkTargetURL returns what is wrong with a target URL, or "". Messages
// never repeat a user name or password found in the URL.
func checkTargetURL(s string) string {
	// Formatted only for a message: a good URL costs nothing here.
	shown := func() string { return quote(redactURL(s)) }
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > MaxURLLength && utf8.RuneCountInString(s) > MaxURLLength: // never more runes than bytes
		return fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(s), MaxURLLength)
	case hasSpaceOrControl(s):
		return fmt.Sprintf("%s must not contain spaces or control characters (percent-encode a space as %%20)", shown())
	}
	if !strings.HasPrefix(s, "https://") {
		lower := strings.ToLower(s)
		switch {
		case strings.HasPrefix(lower, "http://"):
			return fmt.Sprintf("%s must use https, not http", shown())
		case strings.HasPrefix(lower, "https://"):
			return fmt.Sprintf("%s: write the scheme in lowercase (https://)", shown())
		case strings.Contains(s, "://"):
			return fmt.Sprintf("%s must be an https URL, not %s", shown(), quote(s[:strings.Index(s, "://")]))
		default:
			return fmt.Sprintf("%s is not an absolute https URL (e.g. https://hooks.example.com/linq)", shown())
		}
	}
	authority := s[len("https://"):]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.Contains(authority, "@") {
		return fmt.Sprintf("%s must not contain a user name or password (userinfo before @)", shown())
	}
	if strings.Contains(s, "#") {
		return fmt.Sprintf("%s must not have a fragment (#...): the API does not send it", shown())
	}
	u, err := url.Parse(s)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Sprintf("%s is not a valid URL: %v", shown(), err)
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%s has no host", shown())
	}
	return ""
}

// redactURL hides the userinfo part of a URL, if any.
func redactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := len(rest)
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		end = j
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:i+3] + "REDACTED@" + rest[at+1:]
}

// sanitizeName turns s into a valid name, or "" when nothing is left: it
// lowercases, replaces runs of other characters with -, and trims - and _
// from the start and - from the end, within MaxNameLength.
func sanitizeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		default:
			if !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	out := strings.TrimLeft(b.String(), "-_")
	if len(out) > MaxNameLength {
		out = out[:MaxNameLength]
	}
	return strings.TrimRight(out, "-")
}
