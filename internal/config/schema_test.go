package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	const loc = "https://github.com/linq-sync/linq-sync/schema/subscriptions.schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

// yamlToJSON converts a YAML document to the values a JSON Schema validator
// expects, following aliases, the way an editor's YAML language server sees
// the file.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	var conv func(n *yaml.Node) any
	conv = func(n *yaml.Node) any {
		n = resolve(n)
		switch n.Kind {
		case yaml.MappingNode:
			m := map[string]any{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				m[resolve(n.Content[i]).Value] = conv(n.Content[i+1])
			}
			return m
		case yaml.SequenceNode:
			s := []any{}
			for _, c := range n.Content {
				s = append(s, conv(c))
			}
			return s
		}
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			_ = n.Decode(&b)
			return b
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i
			}
			var f float64
			_ = n.Decode(&f)
			return f
		case "!!float":
			var f float64
			_ = n.Decode(&f)
			return f
		}
		return n.Value
	}
	return conv(doc.Content[0])
}

func TestSchemaCopyMatchesTheEmbeddedSchema(t *testing.T) {
	published, err := os.ReadFile("../../schema/subscriptions.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(published, Schema()) {
		t.Error("schema/subscriptions.schema.json differs from internal/config/schema.json; copy one over the other")
	}
	var v any
	if err := json.Unmarshal(Schema(), &v); err != nil {
		t.Errorf("schema is not valid JSON: %v", err)
	}
}

func TestSchemaListsTheKnownEventTypes(t *testing.T) {
	var s struct {
		Defs struct {
			EventType struct {
				AnyOf []struct {
					Enum []string `json:"enum"`
				} `json:"anyOf"`
			} `json:"eventType"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	if got := s.Defs.EventType.AnyOf[0].Enum; strings.Join(got, ",") != strings.Join(KnownEventTypes, ",") {
		t.Errorf("schema event enum differs from KnownEventTypes:\n got %q\nwant %q", got, KnownEventTypes)
	}
}

// shippedConfigs returns the example and golden config files.
func shippedConfigs(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../examples/*.yaml", "testdata/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

// TestExamplesAndGoldenConfigsSatisfyTheSchema validates every shipped
// config against the schema, and against the loader.
func TestExamplesAndGoldenConfigsSatisfyTheSchema(t *testing.T) {
	sch := compileSchema(t)
	files := shippedConfigs(t)
	if len(files) < 4 {
		t.Fatalf("found only %d files: %q", len(files), files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(yamlToJSON(t, data)); err != nil {
				t.Errorf("schema rejects it: %v", err)
			}
			if _, ds := Parse(f, data); ds.HasErrors() {
				t.Errorf("loader rejects it:\n%s", ds.Error())
			}
		})
	}
}

func TestExampleFileDeclaresTheSchemaForEditors(t *testing.T) {
	data, err := os.ReadFile("../../examples/subscriptions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const want = "# yaml-language-server: $schema=../schema/subscriptions.schema.json\n"
	if !strings.HasPrefix(string(data), want) {
		t.Errorf("first line: got %q, want %q", strings.SplitN(string(data), "\n", 2)[0], want)
	}
}

// TestSchemaAndLoaderAgree checks documents against both: for every rule the
// schema can express, the two accept or reject together. (The loader checks
// more, such as uniqueness across entries; those rules are not here.)
func TestSchemaAndLoaderAgree(t *testing.T) {
	sch := compileSchema(t)
	const head = "version: 1\nsubscriptions:\n  - name: a\n"
	const url = "    target_url: https://hooks.example.com/a\n"
	const events = "    subscribed_events: [message.sent]\n"
	body := head + url + events
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"minimal", body, true},
		{"no subscriptions", "version: 1\nsubscriptions: []\n", true},
		{"log level", "version: 1\nlog_level: debug\nsubscriptions: []\n", true},
		{"unknown log level", "version: 1\nlog_level: verbose\nsubscriptions: []\n", false},
		{"every key", "version: 1\npolicy: sync\nsubscriptions:\n  - name: a_0-b\n    id: 2f1c6a8e-4b3d-4e5f-8a9b-0c1d2e3f4a5b\n" + url + events + "    phone_numbers: [\"+15551234567\"]\n    is_active: false\n", true},
		{"null phone numbers", body + "    phone_numbers: null\n", true},
		{"empty phone numbers", body + "    phone_numbers: []\n", true},
		{"unknown event type", head + url + "    subscribed_events: [poll.created]\n", true},
		{"non-UUID id", head + "    id: sub-1\n" + url + events, true},
		{"query and port", head + "    target_url: https://h.example:8443/x/y?version=2026-02-03&a=@\n" + events, true},
		{"IPv6 host", head + "    target_url: https://[2001:db8::1]/x\n" + events, true},
		{"65 characters of name", strings.Replace(body, "name: a", "name: "+strings.Repeat("a", 65), 1), false},
		{"64 characters of name", strings.Replace(body, "name: a", "name: "+strings.Repeat("a", 64), 1), true},

		{"missing version", "subscriptions: []\n", false},
		{"version 2", "version: 2\nsubscriptions: []\n", false},
		{"version as a string", "version: \"1\"\nsubscriptions: []\n", false},
		{"missing subscriptions", "version: 1\n", false},
		{"null subscriptions", "version: 1\nsubscriptions:\n", false},
		{"unknown top-level key", "version: 1\nsubscriptions: []\nextra: 1\n", false},
		{"bad policy", "version: 1\npolicy: delete-all\nsubscriptions: []\n", false},
		{"null policy", "version: 1\npolicy:\nsubscriptions: []\n", false},
		{"entry is a string", "version: 1\nsubscriptions: [a]\n", false},
		{"unknown entry key", body + "    extra: 1\n", false},
		{"missing name", "version: 1\nsubscriptions:\n  - target_url: https://h.example/a\n" + events, false},
		{"missing target_url", head + events, false},
		{"missing subscribed_events", head + url, false},
		{"name with capitals", strings.Replace(body, "name: a", "name: A", 1), false},
		{"name starting with a dash", strings.Replace(body, "name: a", "name: -a", 1), false},
		{"name with a dot", strings.Replace(body, "name: a", "name: a.b", 1), false},
		{"empty name", strings.Replace(body, "name: a", "name: \"\"", 1), false},
		{"name a number", strings.Replace(body, "name: a", "name: 1", 1), false},
		{"empty id", head + "    id: \"\"\n" + url + events, false},
		{"id with a space", head + "    id: \"a b\"\n" + url + events, false},
		{"id a number", head + "    id: 7\n" + url + events, false},
		{"http url", head + "    target_url: http://h.example/a\n" + events, false},
		{"uppercase scheme", head + "    target_url: HTTPS://h.example/a\n" + events, false},
		{"relative url", head + "    target_url: /a\n" + events, false},
		{"url with userinfo", head + "    target_url: https://u:p@h.example/a\n" + events, false},
		{"url with fragment", head + "    target_url: https://h.example/a#b\n" + events, false},
		{"url with empty fragment", head + "    target_url: https://h.example/a#\n" + events, false},
		{"url with a space", head + "    target_url: \"https://h.example/a b\"\n" + events, false},
		{"url without host", head + "    target_url: https:///a\n" + events, false},
		{"url too long", head + "    target_url: https://h.example/" + strings.Repeat("a", 2031) + "\n" + events, false},
		{"url at the length limit", head + "    target_url: https://h.example/" + strings.Repeat("a", 2030) + "\n" + events, true},
		{"events a string", head + url + "    subscribed_events: message.sent\n", false},
		{"events empty", head + url + "    subscribed_events: []\n", false},
		{"events null", head + url + "    subscribed_events:\n", false},
		{"events duplicated", head + url + "    subscribed_events: [message.sent, message.sent]\n", false},
		{"event empty", head + url + "    subscribed_events: [\"\"]\n", false},
		{"event a number", head + url + "    subscribed_events: [1]\n", false},
		{"257 events", head + url + "    subscribed_events: [" + numbered(257) + "]\n", false},
		{"256 events", head + url + "    subscribed_events: [" + numbered(256) + "]\n", true},
		{"phone not E.164", body + "    phone_numbers: [\"555\"]\n", false},
		{"phone with spaces", body + "    phone_numbers: [\"+1 555 123 4567\"]\n", false},
		{"phone starting with 0", body + "    phone_numbers: [\"+05551234567\"]\n", false},
		{"phone too long", body + "    phone_numbers: [\"+1234567890123456\"]\n", false},
		{"phone unquoted", body + "    phone_numbers: [+15551234567]\n", false},
		{"phones duplicated", body + "    phone_numbers: [\"+15551234567\", \"+15551234567\"]\n", false},
		{"phones a string", body + "    phone_numbers: \"+15551234567\"\n", false},
		{"is_active a string", body + "    is_active: \"true\"\n", false},
		{"is_active yes", body + "    is_active: yes\n", false},
		{"is_active null", body + "    is_active:\n", false},
		{"is_active True", body + "    is_active: True\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schemaErr := sch.Validate(yamlToJSON(t, []byte(tt.doc)))
			_, ds := Parse("s.yaml", []byte(tt.doc))
			if got := schemaErr == nil; got != tt.valid {
				t.Errorf("schema: valid=%v, want %v (%v)", got, tt.valid, schemaErr)
			}
			if got := !ds.HasErrors(); got != tt.valid {
				t.Errorf("loader: valid=%v, want %v\n%s", got, tt.valid, ds.Error())
			}
		})
	}
}

// numbered returns n distinct event names, comma separated.
func numbered(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "custom.e" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return strings.Join(s, ", ")
}
