package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/synth"
)

// streams reports whether the streamed load takes data on its own.
func streams(data []byte) bool {
	p := &parser{file: "f.yaml", data: data}
	_, ok := p.parseStreamed()
	return ok
}

// sameAsOrdinary fails the test when Parse and the ordinary load disagree.
func sameAsOrdinary(t *testing.T, name string, data []byte) {
	t.Helper()
	got, gotDiags := Parse("f.yaml", data)
	want, wantDiags := parseOrdinary("f.yaml", data)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotDiags, wantDiags) {
		t.Errorf("%s: Parse and the ordinary load differ:\nParse:    %+v\n%v\nordinary: %+v\n%v", name, got, gotDiags, want, wantDiags)
	}
}

const entryA = "    target_url: https://a.example/x\n    subscribed_events: [message.received]\n"

func TestStreamedLoadMatchesTheOrdinaryLoad(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		streams bool
	}{
		{"two entries", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "  - name: b\n    target_url: https://b.example/x\n    subscribed_events: [message.sent]\n", true},
		{"entries at the left margin", "version: 1\nsubscriptions:\n- name: a\n  target_url: https://a.example/x\n  subscribed_events: [message.received]\n", true},
		{"comments, blank lines and a key after the entries",
			"# head\nversion: 1\n\nsubscriptions:  # the list\n\n  # first\n  - name: a\n" + entryA + "\n# between\n  - name: b\n    target_url: https://b.example/x\n    subscribed_events:\n      - message.sent\n      - message.read\npolicy: sync\n# tail\n", true},
		{"a folded block scalar", "version: 1\nsubscriptions:\n  - name: a\n    target_url: >-\n      https://a.example/x\n    subscribed_events: [message.received]\n", true},
		{"an entry in flow style", "version: 1\nsubscriptions:\n  - {name: a, target_url: \"https://a.example/x\", subscribed_events: [message.received]}\n", true},
		{"a nested list item at the entries' indentation plus two", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://a.example/x\n    subscribed_events:\n    - message.received\n", true},
		{"no trailing newline", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://a.example/x\n    subscribed_events: [message.received]", true},
		// Falls back to the ordinary load, which reports what is wrong.
		{"a duplicate name", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "  - name: a\n    target_url: https://b.example/x\n    subscribed_events: [message.sent]\n", false},
		{"a bad value", "version: 1\nsubscriptions:\n  - name: A\n" + entryA, false},
		{"a warning", "version: 1\npolicy: sync\nsubscriptions:\n  - name: a\n" + entryA + "    ignored_key: 1\n", false},
		{"an anchor and an alias", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://a.example/x\n    subscribed_events: &ev [message.received]\n  - name: b\n    target_url: https://b.example/x\n    subscribed_events: *ev\n", false},
		{"& and * in values, without an anchor", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://a.example/x?a=1&b=*\n    subscribed_events: [message.received]\n", true},
		{"a multi-line quoted value", "version: 1\nsubscriptions:\n  - name: a\n    target_url: \"https://a.example/x\n      y\"\n    subscribed_events: [message.received]\n", false},
		{"a tab", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "\t\n", false},
		{"CRLF", "version: 1\r\nsubscriptions:\r\n  - name: a\r\n" + strings.ReplaceAll(entryA, "\n", "\r\n"), false},
		{"an entry at another indentation", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + " - name: b\n", false},
		{"a line between entries at their indentation", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "  name: b\n", false},
		{"subscriptions twice", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "subscriptions:\n  - name: b\n    target_url: https://b.example/x\n    subscribed_events: [message.sent]\n", false},
		{"a document marker", "---\nversion: 1\nsubscriptions:\n  - name: a\n" + entryA, false},
		{"a second document", "version: 1\nsubscriptions:\n  - name: a\n" + entryA + "---\nversion: 1\n", false},
		{"flow style list", "version: 1\nsubscriptions: [{name: a, target_url: \"https://a.example/x\", subscribed_events: [message.received]}]\n", false},
		{"no entries", "version: 1\nsubscriptions:\n", false},
		{"no version", "subscriptions:\n  - name: a\n" + entryA, false},
		{"an unterminated flow list", "version: 1\nsubscriptions:\n  - name: a\n    target_url: https://a.example/x\n    subscribed_events: [message.received,\n  - name: b\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := streams([]byte(tt.data)); got != tt.streams {
				t.Errorf("streamed: %v, want %v", got, tt.streams)
			}
			sameAsOrdinary(t, tt.name, []byte(tt.data))
		})
	}
}

func TestStreamedLoadOfLargeFiles(t *testing.T) {
	for _, n := range []int{1, 100, 1000, MaxSubscriptions} {
		for _, drift := range []bool{false, true} {
			data := synth.ConfigYAML(n, drift)
			name := fmt.Sprintf("%d entries, drift %v", n, drift)
			if !streams(data) {
				t.Errorf("%s: not streamed", name)
			}
			sameAsOrdinary(t, name, data)
		}
	}
	// One entry too many, and a duplicate in the last group: both are the
	// ordinary load's errors.
	over := append(synth.CreatesYAML(MaxSubscriptions), []byte("  - name: one-more\n"+entryA)...)
	sameAsOrdinary(t, "one entry over the limit", over)
	dup := append(synth.CreatesYAML(5000), []byte("  - name: hook-00000\n"+entryA)...)
	if streams(dup) {
		t.Error("a file with a duplicate name was streamed")
	}
	sameAsOrdinary(t, "a duplicate in the last group", dup)
	// An anchor far down, in a later group than the first, alone and with
	// an alias of it in yet another group.
	entries := func(anchorAt, aliasAt int) []byte {
		var b strings.Builder
		b.WriteString("version: 1\nsubscriptions:\n")
		for i := range 4000 {
			events := "[message.received]"
			switch i {
			case anchorAt:
				events = "&ev " + events
			case aliasAt:
				events = "*ev"
			}
			fmt.Fprintf(&b, "  - name: e%d\n    target_url: https://e%d.example/x?a=1&b=2\n    subscribed_events: %s\n", i, i, events)
		}
		return []byte(b.String())
	}
	for _, tt := range []struct {
		name          string
		anchor, alias int
		streams       bool
	}{
		{"& in every group, no anchor", -1, -1, true},
		{"an anchor in a later group", 2500, -1, false},
		{"an alias groups after its anchor", 1500, 3999, false},
	} {
		data := entries(tt.anchor, tt.alias)
		if got := streams(data); got != tt.streams {
			t.Errorf("%s: streamed: %v, want %v", tt.name, got, tt.streams)
		}
		sameAsOrdinary(t, tt.name, data)
	}
}

func TestStreamedLoadOfTheShippedAndCorpusFiles(t *testing.T) {
	files := shippedConfigs(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sameAsOrdinary(t, f, data)
	}
	corpus := fuzzCorpus(t, "testdata/fuzz/FuzzParse")
	if len(files) < 3 || len(corpus) < 10 {
		t.Fatalf("only %d files and %d corpus entries", len(files), len(corpus))
	}
	for name, data := range corpus {
		sameAsOrdinary(t, name, data)
	}
}

// fuzzCorpus reads the inputs of a go test fuzz corpus directory.
func fuzzCorpus(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(b), "\n")
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "[]byte(") || !strings.HasSuffix(rest, ")") {
			tb.Fatalf("%s: not a go test fuzz v1 []byte input", f)
		}
		s, err := strconv.Unquote(rest[len("[]byte(") : len(rest)-1])
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out[f] = []byte(s)
	}
	return out
}

// FuzzStreamedLoad holds the streamed load to the ordinary one: for any
// input, Parse (which streams what it can) returns exactly what the
// ordinary load returns.
func FuzzStreamedLoad(f *testing.F) {
	f.Add([]byte("version: 1\nsubscriptions:\n  - name: a\n" + entryA))
	f.Add([]byte("version: 1\nsubscriptions:\n- name: a\n  target_url: https://a.example/x\n  subscribed_events: [message.received]\npolicy: sync\n"))
	f.Add(synth.ConfigYAML(3, true))
	for _, data := range fuzzCorpus(f, "testdata/fuzz/FuzzParse") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsOrdinary(t, "input", data)
	})
}
