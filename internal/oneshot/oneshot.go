// Package oneshot tunes the process for commands that run once and exit
// (plan, apply, validate, export): garbage collection only when memory
// runs short, one processor where the work is serial, and buffered output. It is not for the daemon, whose heap
// must be collected as it goes.
package oneshot

import (
	"bufio"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync/atomic"
)

// MemoryLimit is the soft limit on the Go heap of a one-shot command. The
// collector runs only when the heap reaches it: below it, a command that
// exits after a second or so has no use for collected memory.
const MemoryLimit = 48 << 20

// commands run once and exit; buffered names those whose whole output
// may wait for the end (apply reports as it goes, so it is not buffered);
// serial names those whose work is one pipeline, run on one processor.
var (
	commands = []string{"plan", "apply", "validate", "export"}
	buffered = []string{"plan", "validate", "export"}
	serial   = []string{"plan", "validate", "export"}
)

// Setup prepares the process for the command that args (without the
// program name) run. For a one-shot command it turns proportional garbage
// collection off and sets MemoryLimit, unless GOGC or GOMEMLIMIT are set
// (getenv looks them up); for a serial one it uses one processor, unless
// GOMAXPROCS is set; and for a command whose output can wait it wraps
// stdout in a buffer. It returns the writer to use for stdout and a flush
// to call before the process exits; for any other command it returns
// stdout and a flush that does nothing.
func Setup(args []string, stdout io.Writer, getenv func(string) string) (io.Writer, func() error) {
	if len(args) == 0 || !slices.Contains(commands, args[0]) {
		return stdout, func() error { return nil }
	}
	if getenv("GOGC") == "" && getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(MemoryLimit)
		gcOff.Store(true)
	}
	// plan, validate and export load, list, compare and print one after
	// the other; their few goroutines (the two API calls) mostly wait on
	// the network, which needs no processor. More processors only spin
	// looking for work, hand the HTTP reads between cores, and run the
	// collector's idle workers on every idle core: about a tenth of a
	// 10,000-entry plan's CPU on two cores, and more on larger hosts.
	if slices.Contains(serial, args[0]) && getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if !slices.Contains(buffered, args[0]) {
		return stdout, func() error { return nil }
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	return w, w.Flush
}

// gcOff records that Setup turned proportional collection off.
var gcOff atomic.Bool

// Collect collects the garbage now, returning the freed memory to the
// system, if Setup turned proportional collection off, and does nothing
// otherwise. Call it where much has just become garbage and the peak is
// still ahead, such as when a config file's whole YAML tree is built and
// the parser's garbage (tens of MB for a large file) would otherwise stay
// until the memory limit, under the Config built next.
func Collect() {
	if gcOff.Load() {
		debug.FreeOSMemory()
	}
}

// CollectForReuse collects the garbage now if Setup turned proportional
// collection off, keeping the freed memory for what the process allocates
// next instead of returning it (as Collect does) only to fault it in again.
// Call it after a phase whose garbage is large and whose peak has passed:
// the next phase then grows into that memory rather than past it.
func CollectForReuse() {
	if gcOff.Load() {
		runtime.GC()
	}
}

// GrowthLimit is how much garbage CollectIfGrown lets pile up.
const GrowthLimit = 6 << 20

// CollectIfGrown collects the garbage if Setup turned proportional
// collection off and the heap holds more than GrowthLimit bytes beyond what
// was live after the last collection. It is for loops that produce garbage
// steadily while little stays live (the streamed load of a large config):
// the heap then stays near what is live plus GrowthLimit, and its memory is
// reused instead of fresh pages being faulted in, at the cost of a
// collection of the small live heap every GrowthLimit bytes. Reading the
// two figures does not stop the world.
func CollectIfGrown() {
	if !gcOff.Load() {
		return
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	if heap, live := s[0].Value.Uint64(), s[1].Value.Uint64(); heap > live+GrowthLimit {
		runtime.GC()
	}
}
