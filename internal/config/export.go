package config

import (
	"bytes"
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// exportHeader opens every exported file.
const exportHeader = `Exported by linq-sync from the account's webhook subscriptions.
Each entry is pinned to its subscription by id, so names and order can be
changed freely; remove an id to match that entry by target_url instead.`

// Export renders subs, the account's subscriptions, as a version-1 config that Parse accepts unchanged:
// one entry per subscription, sorted by target_url, with its id pinned, a
// name derived from the URL (host and path, made unique with -2, -3, ...),
// events and phone numbers sorted, phone_numbers left out when empty and
// is_active left out when true, under policy upsert-only.
//
// It returns an error when the account holds something the file cannot
// express (an empty id or event list, a target_url the loader refuses); the
// error lists the problems.
//
// subs are given as entries so that this package needs nothing of the API
// client: the caller converts what it listed. Export reads ID, TargetURL,
// SubscribedEvents, PhoneNumbers and IsActive; Name and positions are
// ignored, since names are derived.
func Export(subs []Subscription) ([]byte, error) {
	sorted := slices.Clone(subs)
	slices.SortStableFunc(sorted, func(a, b Subscription) int {
		return cmp.Or(strings.Compare(a.TargetURL, b.TargetURL), strings.Compare(a.ID, b.ID))
	})

	entries := &yaml.Node{Kind: yaml.SequenceNode}
	used := map[string]bool{}
	for _, s := range sorted {
		name := uniqueName(nameFromURL(s.TargetURL), used)
		m := &yaml.Node{Kind: yaml.MappingNode}
		addStr(m, "name", name)
		addStr(m, "id", s.ID)
		addStr(m, "target_url", s.TargetURL)
		addList(m, "subscribed_events", sortedSet(s.SubscribedEvents), 0)
		if len(s.PhoneNumbers) > 0 {
			addList(m, "phone_numbers", sortedSet(s.PhoneNumbers), yaml.DoubleQuotedStyle)
		}
		if !s.IsActive {
			m.Content = append(m.Content, key("is_active"),
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
		}
		entries.Content = append(entries.Content, m)
	}
	if len(entries.Content) == 0 {
		entries.Style = yaml.FlowStyle
	}

	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content,
		key("version"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"},
		key("policy"), str(string(PolicyUpsertOnly)),
		key("subscriptions"), entries,
	)
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}

	var buf bytes.Buffer
	for _, l := range strings.Split(exportHeader, "\n") {
		buf.WriteString("# " + l + "\n")
	}
	buf.WriteString("\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("export: encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("export: encode yaml: %w", err)
	}
	out := spaceEntries(buf.Bytes())

	if _, ds := Parse("export", out); ds.HasErrors() {
		return nil, exportError(ds.Errors(), sorted)
	}
	return out, nil
}

var entryPathRE = regexp.MustCompile(`^subscriptions\[(\d+)\]\.?`)

// exportError names, by id, the subscriptions whose exported entries do not
// validate, and what is wrong with each.
func exportError(ds Diagnostics, subs []Subscription) error {
	lines := make([]string, 0, len(ds))
	for _, d := range ds {
		where := "the file"
		path := d.Path
		if m := entryPathRE.FindStringSubmatch(path); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < len(subs) {
				where = "subscription id " + quote(subs[i].ID)
				path = path[len(m[0]):]
			}
		}
		if path != "" {
			path += ": "
		}
		lines = append(lines, fmt.Sprintf("  %s: %s%s", where, path, d.Message))
	}
	return fmt.Errorf("export: the account holds subscriptions a config file cannot express:\n%s", strings.Join(lines, "\n"))
}

func key(k string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k} }

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func addStr(m *yaml.Node, k, v string) {
	m.Content = append(m.Content, key(k), str(v))
}

func addList(m *yaml.Node, k string, vs []string, style yaml.Style) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	if len(vs) == 0 {
		seq.Style = yaml.FlowStyle
	}
	for _, v := range vs {
		n := str(v)
		n.Style = style
		seq.Content = append(seq.Content, n)
	}
	m.Content = append(m.Content, key(k), seq)
}

// spaceEntries puts a blank line between subscription entries, for
// readability. Entries are the only lines that start with "  - name: ":
// anything nested deeper is indented further.
func spaceEntries(b []byte) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	var out strings.Builder
	first := true
	for _, l := range lines {
		if strings.HasPrefix(l, "  - name: ") {
			if !first {
				out.WriteString("\n")
			}
			first = false
		}
		out.WriteString(l)
	}
	return []byte(out.String())
}

func sortedSet(vs []string) []string {
	out := slices.Clone(vs)
	slices.Sort(out)
	return slices.Compact(out)
}

// nameFromURL derives a subscription name from a target URL's host and
// path, e.g. https://hooks.example.com/linq?v=2 gives hooks-example-com-linq.
func nameFromURL(raw string) string {
	base := raw
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		base = u.Host + u.Path
	} else if i := strings.Index(raw, "://"); i >= 0 {
		base = raw[i+3:]
	}
	if name := sanitizeName(base); name != "" {
		return name
	}
	return "subscription"
}

// uniqueName returns base, or base-2, base-3, ... when taken, within
// MaxNameLength, and marks the result used.
func uniqueName(base string, used map[string]bool) string {
	name := base
	for n := 2; used[name]; n++ {
		suffix := "-" + strconv.Itoa(n)
		stem := base
		if len(stem)+len(suffix) > MaxNameLength {
			stem = strings.TrimRight(stem[:MaxNameLength-len(suffix)], "-")
		}
		name = stem + suffix
	}
	used[name] = true
	return name
}
