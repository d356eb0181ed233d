package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the loader arbitrary bytes. Whatever the input, Parse must
// not panic, must return a config exactly when there is no error, and every
// diagnostic must carry a position and a message. The seed corpus is in
// testdata/fuzz/FuzzParse, plus the shipped example and golden files.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ds := Parse("f.yaml", data)
		if (cfg != nil) == ds.HasErrors() {
			t.Fatalf("config returned: %v, with errors: %v\n%s", cfg != nil, ds.HasErrors(), ds.Error())
		}
		for _, d := range ds {
			if d.Line < 1 || d.Col < 1 || d.Message == "" || d.File != "f.yaml" {
				t.Fatalf("diagnostic without position or message: %#v", d)
			}
		}
		if cfg == nil {
			return
		}
		if cfg.Version != 1 || (cfg.Policy != PolicyUpsertOnly && cfg.Policy != PolicySync) {
			t.Fatalf("accepted config with version %d, policy %q", cfg.Version, cfg.Policy)
		}
		for i, s := range cfg.Subscriptions {
			if s.Name == "" || s.TargetURL == "" || len(s.SubscribedEvents) == 0 {
				t.Fatalf("accepted entry %d without name, target_url or events: %+v", i, s)
			}
			if s.PhoneNumbers != nil && len(s.PhoneNumbers) == 0 {
				t.Fatalf("entry %d: empty phone_numbers must be nil", i)
			}
			if s.FieldPos.Name == (Position{}) {
				t.Fatalf("entry %d: no position for name", i)
			}
		}
	})
}
