package oneshot

import (
	"bytes"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
)

// restoreGC puts the collector settings back after a test changed them.
func restoreGC(t *testing.T) {
	t.Helper()
	pct := debug.SetGCPercent(100)
	debug.SetGCPercent(pct)
	limit := debug.SetMemoryLimit(-1)
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(limit)
		runtime.GOMAXPROCS(procs)
		gcOff.Store(false)
	})
}

func noEnv(string) string { return "" }

func TestSetupBuffersOutputOfOneShotCommandsUntilFlush(t *testing.T) {
	for _, cmd := range []string{"plan", "validate", "export"} {
		t.Run(cmd, func(t *testing.T) {
			restoreGC(t)
			var out bytes.Buffer
			w, flush := Setup([]string{cmd, "-f", "x.yaml"}, &out, noEnv)
			if _, err := w.Write([]byte("line\n")); err != nil {
				t.Fatal(err)
			}
			if out.Len() != 0 {
				t.Errorf("output reached stdout before the flush: %q", out.String())
			}
			if err := flush(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "line\n" {
				t.Errorf("after flush stdout = %q, want %q", got, "line\n")
			}
		})
	}
}

func TestSetupTurnsProportionalGCOffForOneShotCommands(t *testing.T) {
	for _, cmd := range []string{"plan", "apply", "validate", "export"} {
		t.Run(cmd, func(t *testing.T) {
			restoreGC(t)
			Setup([]string{cmd}, &bytes.Buffer{}, noEnv)
			if got := debug.SetGCPercent(100); got != -1 {
				t.Errorf("GC percent = %d, want -1 (off)", got)
			}
			if got := debug.SetMemoryLimit(-1); got != MemoryLimit {
				t.Errorf("memory limit = %d, want %d", got, MemoryLimit)
			}
		})
	}
}

func TestSetupLeavesTheDaemonAndOtherCommandsAlone(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"mock-api"}, {"version"}, {}} {
		t.Run(append(args, "none")[0], func(t *testing.T) {
			restoreGC(t)
			debug.SetGCPercent(100)
			var out bytes.Buffer
			w, flush := Setup(args, &out, noEnv)
			if w != &out {
				t.Errorf("stdout was wrapped for %v", args)
			}
			if err := flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
			if got := debug.SetGCPercent(100); got != 100 {
				t.Errorf("GC percent = %d, want 100 (untouched)", got)
			}
		})
	}
}

func TestSetupRespectsGOGCAndGOMEMLIMIT(t *testing.T) {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(name, func(t *testing.T) {
			restoreGC(t)
			debug.SetGCPercent(100)
			getenv := func(k string) string {
				if k == name {
					return "50"
				}
				return ""
			}
			Setup([]string{"plan"}, &bytes.Buffer{}, getenv)
			if got := debug.SetGCPercent(100); got != 100 {
				t.Errorf("GC percent = %d with %s set, want 100 (untouched)", got, name)
			}
			if gcOff.Load() {
				t.Error("Collect would collect although the collector was left alone")
			}
		})
	}
}

func TestApplyOutputIsNotBuffered(t *testing.T) {
	restoreGC(t)
	var out bytes.Buffer
	w, _ := Setup([]string{"apply"}, &out, noEnv)
	if w != &out {
		t.Error("apply's stdout was wrapped; it reports as it goes")
	}
}

func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink [][]byte

func TestCollectIfGrownCollectsOnlyPastTheGrowthLimit(t *testing.T) {
	restoreGC(t)
	// Without Setup's GC policy it never collects.
	sink = nil
	for range 2 * GrowthLimit >> 16 {
		sink = append(sink, make([]byte, 64<<10))
	}
	sink = nil
	before := gcCycles()
	CollectIfGrown()
	if got := gcCycles(); got != before {
		t.Errorf("collected %d times without the one-shot policy, want 0", got-before)
	}

	Setup([]string{"plan"}, io.Discard, noEnv)
	runtime.GC() // start from a collection: nothing beyond the live heap
	before = gcCycles()
	sink = append(sink, make([]byte, GrowthLimit/4))
	CollectIfGrown()
	if got := gcCycles(); got != before {
		t.Errorf("collected %d times with a quarter of the growth limit of garbage, want 0", got-before)
	}
	sink = nil
	for range 2 * GrowthLimit >> 16 {
		sink = append(sink, make([]byte, 64<<10))
	}
	sink = nil
	CollectIfGrown()
	if got := gcCycles(); got <= before {
		t.Error("did not collect with twice the growth limit of garbage")
	}
}

func TestCollectForReuseCollectsOnlyUnderTheOneShotPolicy(t *testing.T) {
	restoreGC(t)
	before := gcCycles()
	CollectForReuse()
	if got := gcCycles(); got != before {
		t.Errorf("collected %d times without the one-shot policy, want 0", got-before)
	}
	Setup([]string{"validate"}, io.Discard, noEnv)
	before = gcCycles()
	CollectForReuse()
	if got := gcCycles(); got <= before {
		t.Error("did not collect under the one-shot policy")
	}
}

func TestSetupRunsSerialCommandsOnOneProcessor(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want int // 0: unchanged
	}{
		{[]string{"plan"}, nil, 1},
		{[]string{"validate"}, nil, 1},
		{[]string{"export"}, nil, 1},
		{[]string{"apply"}, nil, 0}, // concurrent writes
		{[]string{"run"}, nil, 0},
		{[]string{"plan"}, map[string]string{"GOMAXPROCS": "4"}, 0},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			restoreGC(t)
			runtime.GOMAXPROCS(3)
			Setup(tc.args, io.Discard, func(k string) string { return tc.env[k] })
			want := tc.want
			if want == 0 {
				want = 3
			}
			if got := runtime.GOMAXPROCS(0); got != want {
				t.Errorf("GOMAXPROCS = %d, want %d", got, want)
			}
		})
	}
}
