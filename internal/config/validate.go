package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

var (
	topKeys   = []string{"version", "policy", "log_level", "rotate_lost_secrets", "subscriptions"}
	logLevels = []string{"debug", "info", "warn", "error"}
	entryKeys = []string{"name", "id", "target_url", "subscribed_events", "phone_numbers", "is_active"}

	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	uuidRE  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	e164RE  = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
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

// field is one key: value pair of a mapping.
type field struct {
	key *yaml.Node // the key as written
	val *yaml.Node // the value as written (possibly an alias)
}

// fields checks the keys of mapping m (resolved) against known and returns
// the known ones. Unknown keys are errors with a suggestion; keys that
// belong at the other level say so.
func (p *parser) fields(m *yaml.Node, path string, known, otherLevel []string, otherHint string) map[string]field {
	out := make(map[string]field, len(known))
	seen := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, v := m.Content[i], m.Content[i+1]
		k := resolve(kn)
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			p.errorf(kn, path, "merge keys (<<) are not supported; write the fields out, or alias a whole value")
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.errorf(kn, path, "keys must be strings, got %s", describe(k))
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(kn, path, "duplicate key %s (first at line %d)", quote(name), first.Line)
			continue
		}
		seen[name] = kn
		if slices.Contains(known, name) {
			out[name] = field{key: kn, val: v}
			continue
		}
		msg := "unknown key " + quote(name)
		if slices.Contains(otherLevel, name) {
			msg += " (" + otherHint + ")"
		} else {
			msg += didYouMean(name, known)
		}
		p.errorf(kn, path, "%s", msg)
	}
	return out
}

// str returns the string value of v, or reports that it is not one.
func (p *parser) str(v *yaml.Node, path string) (string, bool) {
	r := resolve(v)
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		return r.Value, true
	}
	hint := ""
	if r.Kind == yaml.ScalarNode && !isNull(r) {
		hint = fmt.Sprintf(" (quote it: %s)", quote(r.Value))
	}
	p.errorf(v, path, "must be a string, got %s%s", describe(r), hint)
	return "", false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// root validates the top-level mapping.
func (p *parser) root(n *yaml.Node) *Config {
	r := resolve(n)
	if isNull(r) && r.Value == "" {
		p.errorf(n, "", "file is empty")
		return nil
	}
	if r.Kind != yaml.MappingNode {
		p.errorf(n, "", "the document must be a mapping with version, policy and subscriptions, got %s", describe(r))
		return nil
	}
	cfg := &Config{Path: p.file, Policy: PolicyUpsertOnly, FieldPos: map[string]Position{}}
	fs := p.fields(r, "", topKeys, entryKeys, "it belongs in an entry under subscriptions")
	for k, f := range fs {
		cfg.FieldPos[k] = toPos(f.val)
	}

	if f, ok := fs["version"]; !ok {
		p.errorf(n, "", "missing required key \"version\" (add \"version: 1\")")
	} else {
		v := resolve(f.val)
		var ver int
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&ver) != nil {
			p.errorf(f.val, "version", "must be the integer 1, got %s", describe(v))
		} else if ver != 1 {
			p.errorf(f.val, "version", "unsupported version %d (this linq-sync reads version 1)", ver)
		} else {
			cfg.Version = 1
		}
	}

	if f, ok := fs["policy"]; ok {
		if s, ok := p.str(f.val, "policy"); ok {
			if slices.Contains(policys, s) {
				cfg.Policy = Policy(s)
			} else {
				p.errorf(f.val, "policy", "must be \"upsert-only\" or \"sync\", got %s%s", quote(s), didYouMean(s, policys))
			}
		}
	}

	if f, ok := fs["log_level"]; ok {
		if s, ok := p.str(f.val, "log_level"); ok {
			if slices.Contains(logLevels, s) {
				cfg.LogLevel = s
			} else {
				p.errorf(f.val, "log_level", "must be one of debug, info, warn, error, got %s%s", quote(s), didYouMean(s, logLevels))
			}
		}
	}

	if f, ok := fs["rotate_lost_secrets"]; ok {
		var b bool
		if v := f.val; v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			p.errorf(v, "rotate_lost_secrets", "must be a boolean (true or false), got %s", describe(v))
		} else {
			cfg.RotateLostSecrets = b
		}
	}

	f, ok := fs["subscriptions"]
	if !ok {
		p.errorf(n, "", "missing required key \"subscriptions\" (write \"subscriptions: []\" to declare none)")
		return cfg
	}
	seq := resolve(f.val)
	if seq.Kind != yaml.SequenceNode {
		p.errorf(f.val, "subscriptions", "must be a list of subscriptions, got %s", describe(seq))
		return cfg
	}
	if len(seq.Content) > MaxSubscriptions {
		p.errorf(f.val, "subscriptions", "has %d entries; at most %d are allowed", len(seq.Content), MaxSubscriptions)
		return cfg
	}
	if len(seq.Content) == 0 && cfg.Policy == PolicySync {
		p.warnf(fs["policy"].val, "policy", "\"sync\" with no subscriptions would delete every remote subscription; apply refuses that without --allow-mass-delete")
	}
	u := uniq{names: map[string]firstUse{}, ids: map[string]firstUse{}, urls: map[string]firstUse{}}
	for i, item := range seq.Content {
		sub, ok := p.entry(i, item)
		if !ok {
			continue
		}
		p.checkUnique(&u, i, sub)
		cfg.Subscriptions = append(cfg.Subscriptions, sub)
	}
	return cfg
}

// firstUse is where a unique value was first seen.
type firstUse struct {
	index, line int
}

// uniq remembers, per field, the first entry that used each value.
type uniq struct {
	names, ids, urls map[string]firstUse
}

// checkUnique reports the fields of entry i that an earlier entry already
// used.
func (p *parser) checkUnique(u *uniq, i int, s Subscription) {
	check := func(m map[string]firstUse, key, value string) {
		if value == "" {
			return
		}
		pos := s.FieldPos[key]
		if first, dup := m[value]; dup {
			p.add(pos.Line, pos.Col, fmt.Sprintf("subscriptions[%d].%s", i, key), SeverityError,
				fmt.Sprintf("duplicate %s %s: subscriptions[%d] (line %d) already uses it", key, quoteDisplay(key, value), first.index, first.line))
			return
		}
		m[value] = firstUse{index: i, line: pos.Line}
	}
	check(u.names, "name", s.Name)
	check(u.ids, "id", s.ID)
	check(u.urls, "target_url", s.TargetURL)
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
	path := fmt.Sprintf("subscriptions[%d]", i)
	m := resolve(n)
	if m.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping with name, target_url and subscribed_events, got %s", describe(m))
		return Subscription{}, false
	}
	s := Subscription{IsActive: true, Pos: toPos(n), FieldPos: map[string]Position{}}
	fs := p.fields(m, path, entryKeys, topKeys, "it belongs at the top level, not in a subscription")
	for k, f := range fs {
		s.FieldPos[k] = toPos(f.val)
	}
	for _, req := range []string{"name", "target_url", "subscribed_events"} {
		if _, ok := fs[req]; !ok {
			p.errorf(n, path, "missing required key %q", req)
		}
	}

	if f, ok := fs["name"]; ok {
		fp := join(path, "name")
		if v, ok := p.str(f.val, fp); ok {
			if msg := checkName(v); msg != "" {
				p.errorf(f.val, fp, "%s", msg)
			} else {
				s.Name = v
			}
		}
	}
	if f, ok := fs["id"]; ok {
		fp := join(path, "id")
		if v, ok := p.str(f.val, fp); ok {
			switch {
			case v == "":
				p.errorf(f.val, fp, "must not be empty (leave id out to match by target_url)")
			case utf8.RuneCountInString(v) > MaxIDLength:
				p.errorf(f.val, fp, "is %d characters long; the limit is %d", utf8.RuneCountInString(v), MaxIDLength)
			case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
				p.errorf(f.val, fp, "%s must not contain spaces or control characters", quote(v))
			default:
				if !uuidRE.MatchString(v) {
					p.warnf(f.val, fp, "%s does not look like a UUID; the API's ids are UUIDs", quote(v))
				}
				s.ID = v
			}
		}
	}
	if f, ok := fs["target_url"]; ok {
		fp := join(path, "target_url")
		if v, ok := p.str(f.val, fp); ok {
			if msg := checkTargetURL(v); msg != "" {
				p.errorf(f.val, fp, "%s", msg)
			} else {
				s.TargetURL = v
			}
		}
	}
	if f, ok := fs["subscribed_events"]; ok {
		s.SubscribedEvents = p.events(f.val, join(path, "subscribed_events"), s.FieldPos)
	}
	if f, ok := fs["phone_numbers"]; ok {
		s.PhoneNumbers = p.phones(f.val, join(path, "phone_numbers"), s.FieldPos)
	}
	if f, ok := fs["is_active"]; ok {
		v := resolve(f.val)
		var b bool
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			p.errorf(f.val, join(path, "is_active"), "must be a boolean (true or false), got %s", describe(v))
		} else {
			s.IsActive = b
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

// strList returns the string items of list v. A null value yields
// (nil, true); anything but a list of at most MaxListItems yields false.
// Each item's position is recorded in fieldPos as key[i].
func (p *parser) strList(v *yaml.Node, path, key, what string, fieldPos map[string]Position) ([]item, bool) {
	r := resolve(v)
	if isNull(r) {
		return nil, true
	}
	if r.Kind != yaml.SequenceNode {
		hint := ""
		if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
			hint = fmt.Sprintf(" (write [%s])", clip(r.Value))
		}
		p.errorf(v, path, "must be a list of %s, got %s%s", what, describe(r), hint)
		return nil, false
	}
	if len(r.Content) > MaxListItems {
		p.errorf(v, path, "has %d items; at most %d are allowed", len(r.Content), MaxListItems)
		return nil, false
	}
	items := make([]item, 0, len(r.Content))
	for i, c := range r.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		fieldPos[fmt.Sprintf("%s[%d]", key, i)] = toPos(c)
		s, ok := p.str(c, ip)
		if !ok {
			continue
		}
		items = append(items, item{val: s, node: c, index: i})
	}
	return items, true
}

func (p *parser) events(v *yaml.Node, path string, fieldPos map[string]Position) []string {
	items, ok := p.strList(v, path, "subscribed_events", "event types", fieldPos)
	if !ok {
		return nil
	}
	if len(resolve(v).Content) == 0 {
		p.errorf(v, path, "must list at least one event type (e.g. [message.received])")
		return nil
	}
	seen := map[string]*yaml.Node{}
	out := make([]string, 0, len(items))
	for _, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, it.index)
		if it.val == "" {
			p.errorf(it.node, ip, "must not be empty")
			continue
		}
		if first, dup := seen[it.val]; dup {
			p.errorf(it.node, ip, "duplicate event type %s (also at line %d)", quote(it.val), first.Line)
			continue
		}
		seen[it.val] = it.node
		if !slices.Contains(KnownEventTypes, it.val) {
			p.warnf(it.node, ip, "unknown event type %s%s: not in the built-in list (the API decides when online)", quote(it.val), didYouMean(it.val, KnownEventTypes))
		}
		out = append(out, it.val)
	}
	return out
}

func (p *parser) phones(v *yaml.Node, path string, fieldPos map[string]Position) []string {
	items, ok := p.strList(v, path, "phone_numbers", "E.164 phone numbers", fieldPos)
	if !ok || len(items) == 0 {
		return nil
	}
	seen := map[string]*yaml.Node{}
	out := make([]string, 0, len(items))
	for _, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, it.index)
		if msg := checkPhone(it.val); msg != "" {
			p.errorf(it.node, ip, "%s", msg)
			continue
		}
		if first, dup := seen[it.val]; dup {
			p.errorf(it.node, ip, "duplicate phone number %s (also at line %d)", quote(it.val), first.Line)
			continue
		}
		seen[it.val] = it.node
		out = append(out, it.val)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// checkName returns what is wrong with a subscription name, or "".
func checkName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case utf8.RuneCountInString(s) > MaxNameLength:
		return fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(s), MaxNameLength)
	case !nameRE.MatchString(s):
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
	if e164RE.MatchString(s) {
		return ""
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\u00a0', '\t':
			return -1
		}
		return r
	}, s)
	if compact != s && e164RE.MatchString(compact) {
		return fmt.Sprintf("%s is not E.164: write it without spaces or punctuation, as %q", quote(s), compact)
	}
	return fmt.Sprintf("%s is not E.164 (e.g. +15551234567)", quote(s))
}

// checkTargetURL returns what is wrong with a target URL, or "". Messages
// never repeat a user name or password found in the URL.
func checkTargetURL(s string) string {
	shown := quote(redactURL(s))
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		return "must not be empty"
	case n > MaxURLLength:
		return fmt.Sprintf("is %d characters long; the limit is %d", n, MaxURLLength)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Sprintf("%s must not contain spaces or control characters (percent-encode a space as %%20)", shown)
	}
	if !strings.HasPrefix(s, "https://") {
		lower := strings.ToLower(s)
		switch {
		case strings.HasPrefix(lower, "http://"):
			return fmt.Sprintf("%s must use https, not http", shown)
		case strings.HasPrefix(lower, "https://"):
			return fmt.Sprintf("%s: write the scheme in lowercase (https://)", shown)
		case strings.Contains(s, "://"):
			return fmt.Sprintf("%s must be an https URL, not %s", shown, quote(s[:strings.Index(s, "://")]))
		default:
			return fmt.Sprintf("%s is not an absolute https URL (e.g. https://hooks.example.com/linq)", shown)
		}
	}
	authority := s[len("https://"):]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.Contains(authority, "@") {
		return fmt.Sprintf("%s must not contain a user name or password (userinfo before @)", shown)
	}
	if strings.Contains(s, "#") {
		return fmt.Sprintf("%s must not have a fragment (#...): the API does not send it", shown)
	}
	u, err := url.Parse(s)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return fmt.Sprintf("%s is not a valid URL: %v", shown, err)
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%s has no host", shown)
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
