package linq

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretStaysOutOfLogsAndFormatting(t *testing.T) {
	const raw = "whsec_c2VjcmV0LXZhbHVl"
	s := Secret{v: raw}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("created", "secret", s, slog.Group("sub", "secret", s))
	slog.New(slog.NewJSONHandler(&js, nil)).Info("created", "secret", s)
	outputs := map[string]string{
		"slog text": text.String(),
		"slog json": js.String(),
		"%v":        fmt.Sprintf("%v", s),
		"%+v":       fmt.Sprintf("%+v", struct{ S Secret }{s}),
		"%#v":       fmt.Sprintf("%#v", s),
	}
	for name, out := range outputs {
		if strings.Contains(out, raw) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s lacks the placeholder %q: %s", name, redacted, out)
		}
	}
	// A handler that does not format values (one that keeps the Go value,
	// as a test recorder might) still sees only the placeholder.
	if v := slog.AnyValue(s).Resolve(); v.Kind() != slog.KindString || v.String() != redacted {
		t.Errorf("resolved slog value = %v (%v), want the string %q", v, v.Kind(), redacted)
	}
	if s.Reveal() != raw {
		t.Errorf("Reveal() = %q, want the secret itself", s.Reveal())
	}
}
