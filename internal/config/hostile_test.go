package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const validEntry = `  - name: a
    target_url: https://hooks.example.com/a
    subscribed_events: [message.sent]
`

// billionLaughs nests nine lists of nine aliases: 9^9 nodes when expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		fmt.Fprintf(&b, "%c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, p, p, p, p, p, p, p, p, p)
	}
	b.WriteString("version: 1\nsubscriptions: [*i]\n")
	return b.String()
}

func manyEvents(n int) string {
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf("custom.event_%d", i)
	}
	return "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://h.example/a\n    subscribed_events: [" + strings.Join(events, ", ") + "]\n"
}

func manySubscriptions(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nsubscriptions:\n  - &e {name: a, target_url: \"https://h.example/a\", subscribed_events: [message.sent]}\n")
	for range n - 1 {
		b.WriteString("  - *e\n")
	}
	return b.String()
}

// TestParseRefusesHostileInputWithAPositionedError feeds the loader inputs
// that are broken or built to hurt, and checks each gets one clear error at
// a real position, quickly, and without a panic.
func TestParseRefusesHostileInputWithAPositionedError(t *testing.T) {
	full := "version: 1\nsubscriptions:\n" + validEntry
	tests := []struct {
		name string
		in   string
		want string // the first error diagnostic
	}{
		{"empty file", "", "s.yaml:1:1: file is empty"},
		{"whitespace only", "\n\n   \n", "s.yaml:1:1: file is empty"},
		{"truncated inside a quoted string", full[:strings.Index(full, "https")] + `"https://hooks.exa`,
			"s.yaml:4:1: invalid YAML: found unexpected end of stream"},
		{"truncated inside a flow list", full[:strings.Index(full, "message.sent")+3],
			"s.yaml:5:1: invalid YAML: did not find expected ',' or ']'"},
		{"truncated after a key", full[:strings.Index(full, "subscribed_events")+10],
			`s.yaml:5:1: invalid YAML: could not find expected ':'`},
		{"10 MB file", "version: 1\nsubscriptions: []\n" + strings.Repeat("# padding\n", 1<<20),
			"s.yaml:1:1: file is 10485789 bytes, larger than the 4194304-byte (4 MiB) limit"},
		{"billion laughs", billionLaughs(),
			`s.yaml:7:8: aliases expand the document by more than 1000000 nodes (is this a "billion laughs" file?)`},
		{"self-referencing alias", "version: 1\nsubscriptions: &s [*s]\n",
			"s.yaml:2:20: alias *s refers to a value that contains it"},
		{"unknown alias", "version: 1\nsubscriptions:\n  - *nope\n",
			"s.yaml:3:5: invalid YAML: unknown anchor 'nope' referenced"},
		{"tab indentation", "version: 1\nsubscriptions:\n\t- name: a\n",
			"s.yaml:3:1: invalid YAML: found character that cannot start any token: a tab; indent with spaces, YAML does not allow tabs"},
		{"tab indentation on the first line", "\tversion: 1\n",
			"s.yaml:1:1: invalid YAML: found character that cannot start any token: a tab; indent with spaces, YAML does not allow tabs"},
		{"duplicate top-level keys", "version: 1\nsubscriptions: []\nversion: 1\n",
			`s.yaml:3:1: duplicate key "version" (first at line 1)`},
		{"duplicate entry keys", "version: 1\nsubscriptions:\n" + validEntry + "    name: b\n",
			`s.yaml:6:5: subscriptions[0]: duplicate key "name" (first at line 3)`},
		{"non-UTF-8 byte", "version: 1\nsubscriptions:\n  - name: caf\xe9\n",
			"s.yaml:3:14: file is not valid UTF-8 (byte 0xe9)"},
		{"UTF-16", "\xff\xfev\x00e\x00", "s.yaml:1:1: file is UTF-16; save it as UTF-8"},
		{"NUL byte", "version: 1\x00\n", "s.yaml:1:11: control character U+0000 is not allowed in YAML"},
		{"escape sequence", "version: 1\nsubscriptions: []\n# \x1b[31mred\n", "s.yaml:3:3: control character U+001B is not allowed in YAML"},
		{"huge event list", manyEvents(300),
			"s.yaml:5:24: subscriptions[0].subscribed_events: has 300 items; at most 256 are allowed"},
		{"too many subscriptions", manySubscriptions(MaxSubscriptions + 1),
			"s.yaml:3:3: subscriptions: has 10001 entries; at most 10000 are allowed"},
		{"url with userinfo", strings.Replace(full, "https://", "https://admin:s3cret@", 1),
			`s.yaml:4:17: subscriptions[0].target_url: "https://REDACTED@hooks.example.com/a" must not contain a user name or password (userinfo before @)`},
		{"url with http scheme", strings.Replace(full, "https://", "http://", 1),
			`s.yaml:4:17: subscriptions[0].target_url: "http://hooks.example.com/a" must use https, not http`},
		{"url with javascript scheme", strings.Replace(full, "https://hooks.example.com/a", "javascript:alert(1)", 1),
			`s.yaml:4:17: subscriptions[0].target_url: "javascript:alert(1)" is not an absolute https URL (e.g. https://hooks.example.com/linq)`},
		{"phone number with spaces", full + `    phone_numbers: ["+44 7700 900123"]` + "\n",
			`s.yaml:6:21: subscriptions[0].phone_numbers[0]: "+44 7700 900123" is not E.164: write it without spaces or punctuation, as "+447700900123"`},
		{"deep nesting", "version: 1\nsubscriptions: " + strings.Repeat("[", 20000) + "\n",
			"s.yaml:2:1: invalid YAML: exceeded max depth of 10000"},
		{"mapping value on one line", "version: 1\nsubscriptions: a: b\n",
			"s.yaml:2:1: invalid YAML: mapping values are not allowed in this context"},
		{"huge key", "version: 1\nsubscriptions: []\n" + strings.Repeat("k", 1000) + ": 1\n",
			`s.yaml:3:1: unknown key "` + strings.Repeat("k", 80) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			cfg, ds := Parse("s.yaml", []byte(tt.in))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if cfg != nil {
				t.Fatalf("got a config, want none; diagnostics:\n%s", ds.Error())
			}
			errs := ds.Errors()
			if len(errs) == 0 {
				t.Fatal("got no error")
			}
			if got := errs[0].String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			for _, d := range ds {
				if d.Line < 1 || d.Col < 1 || d.Message == "" || d.File != "s.yaml" {
					t.Errorf("diagnostic without position or message: %#v", d)
				}
				if strings.Contains(d.String(), "s3cret") {
					t.Errorf("diagnostic reveals the password: %s", d)
				}
			}
		})
	}
}
