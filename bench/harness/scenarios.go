package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/synth"
)

func needBin(bin string) error {
	if bin == "" {
		return errors.New("-bin is required")
	}
	if _, err := os.Stat(bin); err != nil {
		return err
	}
	return nil
}

// runCalls counts the calls of one apply per scenario against the minimum:
// one event-type list, one subscription list and one write per change.
func runCalls(ctx context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var bin string
	if err := parse("calls", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bin, "bin", "", "linq-sync binary")
	}); err != nil {
		return err
	}
	if err := needBin(bin); err != nil {
		return err
	}
	d1k := synth.ExpectedDrift(1000)
	scenarios := []struct {
		name    string
		remote  []fakeapi.Subscription
		file    []byte
		changes int
		extra   []string
	}{
		{"1,000 in sync", synth.Account(1000), synth.ConfigYAML(1000, false), 0, nil},
		{"1,000, 10 % drift (upsert-only)", synth.Account(1000), synth.ConfigYAML(1000, true), d1k.Changes(), nil},
		{"1,000, 10 % drift (sync: + deletes)", synth.Account(1000),
			bytes.Replace(synth.ConfigYAML(1000, true), []byte("policy: upsert-only"), []byte("policy: sync"), 1),
			d1k.Changes() + d1k.Unmanaged, []string{"--allow-mass-delete"}},
		{"1,000 creates", nil, synth.CreatesYAML(1000), 1000, nil},
	}
	for _, sc := range scenarios {
		a, err := newAccount(sc.remote, 0)
		if err != nil {
			return err
		}
		err = func() error {
			defer a.close()
			file, err := a.file("subs.yaml", sc.file)
			if err != nil {
				return err
			}
			secrets, err := a.secretsDir()
			if err != nil {
				return err
			}
			args := append([]string{"apply", "-f", file, "--secrets-dir", secrets, "--log-level", "error"}, sc.extra...)
			if _, err := a.runCommand(ctx, bin, []int{0}, args...); err != nil {
				return err
			}
			if got := a.fake.Writes(); got != sc.changes {
				return fmt.Errorf("%s: %d writes, expected the plan's %d changes", sc.name, got, sc.changes)
			}
			minimum := 2 + sc.changes
			calls := a.totalCalls()
			return emit(stdout, Record{Kind: "calls", Case: sc.name, Values: map[string]float64{
				"calls": float64(calls), "minimum": float64(minimum), "ratio": float64(calls) / float64(minimum),
			}})
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// runConcurrency times an apply of n creates at each --concurrency level,
// with latency added to every call.
func runConcurrency(ctx context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var (
		bin     string
		n       int
		latency time.Duration
		levels  string
	)
	if err := parse("concurrency", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bin, "bin", "", "linq-sync binary")
		fs.IntVar(&n, "n", 1000, "creates")
		fs.DurationVar(&latency, "latency", 20*time.Millisecond, "added to every call")
		fs.StringVar(&levels, "levels", "1,4,8,16", "comma-separated --concurrency values")
	}); err != nil {
		return err
	}
	if err := needBin(bin); err != nil {
		return err
	}
	var base float64
	for _, l := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			return fmt.Errorf("-levels: %w", err)
		}
		a, err := newAccount(nil, latency)
		if err != nil {
			return err
		}
		err = func() error {
			defer a.close()
			file, err := a.file("creates.yaml", synth.CreatesYAML(n))
			if err != nil {
				return err
			}
			secrets, err := a.secretsDir()
			if err != nil {
				return err
			}
			took, err := a.runCommand(ctx, bin, []int{0}, "apply", "-f", file, "--secrets-dir", secrets,
				"--concurrency", strconv.Itoa(c), "--log-level", "error")
			if err != nil {
				return err
			}
			if got := a.fake.Len(); got != n {
				return fmt.Errorf("--concurrency %d: account has %d subscriptions after apply, want %d", c, got, n)
			}
			secs := took.Seconds()
			if base == 0 {
				base = secs
			}
			return emit(stdout, Record{Kind: "apply", Case: strconv.Itoa(c), N: n, Values: map[string]float64{
				"seconds": secs, "speedup": base / secs, "latency_ms": float64(latency.Milliseconds()),
				"connections": float64(a.conns.Load()),
			}})
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// runRename measures, count times, the time from changing the config of a
// running daemon to the first write the fake sees. With -mode rename
// (default) a changed file is written to a temporary name and renamed over
// the config (an atomic replace, reloaded at once); with -mode in-place it
// is rewritten where it is (debounced, since it may be half-written). With
// -latency every call takes that long, and the figures are also given as
// multiples of one round trip.
func runRename(ctx context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var (
		bin     string
		count   int
		mode    string
		latency time.Duration
	)
	if err := parse("rename", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bin, "bin", "", "linq-sync binary")
		fs.IntVar(&count, "count", 20, "changes")
		fs.StringVar(&mode, "mode", "rename", "rename (atomic replace) or in-place")
		fs.DurationVar(&latency, "latency", 0, "added to every call")
	}); err != nil {
		return err
	}
	if err := needBin(bin); err != nil {
		return err
	}
	if mode != "rename" && mode != "in-place" {
		return fmt.Errorf("-mode %q is not rename or in-place", mode)
	}
	const subs = 10
	a, err := newAccount(synth.Account(subs), latency)
	if err != nil {
		return err
	}
	defer a.close()
	confDir := filepath.Join(a.dir, "conf")
	if err := os.Mkdir(confDir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(confDir, "subscriptions.yaml")
	if err := os.WriteFile(file, synth.SmallYAML(subs, 0), 0o644); err != nil {
		return err
	}
	d, err := a.startDaemon(ctx, bin, file, "--interval", "1h")
	if err != nil {
		return err
	}
	defer d.stop()
	done, err := d.reconciles()
	if err != nil {
		return err
	}
	writes := a.watchWrites()
	var lat []float64
	for i := 1; i <= count; i++ {
		content := synth.SmallYAML(subs, i)
		var t0 time.Time
		if mode == "rename" {
			tmp := filepath.Join(confDir, fmt.Sprintf(".subscriptions.yaml.%d.tmp", i))
			if err := os.WriteFile(tmp, content, 0o644); err != nil {
				return err
			}
			// The clock is read before the rename: the daemon may see it
			// (and write) before os.Rename returns.
			t0 = time.Now()
			if err := os.Rename(tmp, file); err != nil {
				return err
			}
		} else {
			t0 = time.Now()
			if err := os.WriteFile(file, content, 0o644); err != nil {
				return err
			}
		}
		select {
		case tw := <-writes:
			lat = append(lat, float64(tw.Sub(t0).Microseconds())/1000)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("change %d: no write within 30s:\n%s", i, tail(d.out.String(), 2000))
		case <-ctx.Done():
			return ctx.Err()
		}
		// Let the reconcile finish before the next change, so that each
		// change starts from an idle daemon.
		done++
		if err := d.waitReconciles(ctx, done, 30*time.Second); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		select {
		case <-writes:
			return fmt.Errorf("change %d made more than one write", i)
		default:
		}
	}
	slices.Sort(lat)
	v := map[string]float64{
		"median_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90),
		"min_ms": lat[0], "max_ms": lat[len(lat)-1], "count": float64(count),
	}
	if latency > 0 {
		rt, err := a.roundTrip(ctx, 5)
		if err != nil {
			return err
		}
		v["latency_ms"] = float64(latency.Microseconds()) / 1000
		v["round_trip_ms"] = rt
		v["round_trips"] = v["median_ms"] / rt
	}
	return emit(stdout, Record{Kind: "rename", Case: mode, N: subs, Values: v})
}

// runLatency times `linq-sync plan` on a small file with latency added to
// every call, against one round trip to the same fake.
func runLatency(ctx context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var (
		bin     string
		runs    int
		latency time.Duration
	)
	if err := parse("latency", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bin, "bin", "", "linq-sync binary")
		fs.IntVar(&runs, "runs", 5, "timed runs after a warm-up")
		fs.DurationVar(&latency, "latency", 100*time.Millisecond, "added to every call")
	}); err != nil {
		return err
	}
	if err := needBin(bin); err != nil {
		return err
	}
	const subs = 10
	a, err := newAccount(synth.Account(subs), latency)
	if err != nil {
		return err
	}
	defer a.close()
	file, err := a.file("subscriptions.yaml", synth.SmallYAML(subs, 1))
	if err != nil {
		return err
	}
	var walls []float64
	for i := 0; i <= runs; i++ {
		took, err := a.runCommand(ctx, bin, []int{2}, "plan", "-f", file)
		if err != nil {
			return err
		}
		if i > 0 { // the first run is a warm-up
			walls = append(walls, float64(took.Microseconds())/1000)
		}
	}
	rt, err := a.roundTrip(ctx, runs)
	if err != nil {
		return err
	}
	wall := median(walls)
	return emit(stdout, Record{Kind: "latency", Case: "plan", N: subs, Values: map[string]float64{
		"wall_ms": wall, "round_trip_ms": rt, "round_trips": wall / rt,
		"latency_ms": float64(latency.Microseconds()) / 1000, "runs": float64(len(walls)),
	}})
}

// runYAML parses a file into yaml.v3 nodes and nothing else, with the
// default garbage collector: run under /usr/bin/time it gives the floor
// that a whole `linq-sync plan` of the same file is measured against.
func runYAML(_ context.Context, args []string, _ io.Reader, _ io.Writer) error {
	var file string
	if err := parse("yaml", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "f", "", "YAML file")
	}); err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return fmt.Errorf("%s: empty document", file)
	}
	return nil
}

// percentile returns the p-th percentile of sorted xs by the nearest-rank
// method.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	// nearest rank: ceil(p/100 * n), 1-based
	r := int(p/100*float64(len(sorted)) + 0.999999)
	r = min(max(r, 1), len(sorted))
	return sorted[r-1]
}

// runIdle measures an idle daemon: CPU time and memory over a quiet period
// after its first reconcile, with the default interval.
func runIdle(ctx context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var (
		bin     string
		seconds float64
	)
	if err := parse("idle", args, func(fs *flag.FlagSet) {
		fs.StringVar(&bin, "bin", "", "linq-sync binary")
		fs.Float64Var(&seconds, "seconds", 60, "idle period")
	}); err != nil {
		return err
	}
	if err := needBin(bin); err != nil {
		return err
	}
	const subs = 10
	a, err := newAccount(synth.Account(subs), 0)
	if err != nil {
		return err
	}
	defer a.close()
	file, err := a.file("subscriptions.yaml", synth.SmallYAML(subs, 0))
	if err != nil {
		return err
	}
	d, err := a.startDaemon(ctx, bin, file)
	if err != nil {
		return err
	}
	defer d.stop()
	if err := d.waitReconciles(ctx, 1, 30*time.Second); err != nil {
		return err
	}
	pid := d.cmd.Process.Pid
	a.fake.ResetCalls()
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	select {
	case <-time.After(time.Duration(seconds * float64(time.Second))):
	case <-ctx.Done():
		return ctx.Err()
	case err := <-d.done:
		return fmt.Errorf("daemon exited while idle (%v):\n%s", err, tail(d.out.String(), 2000))
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	mem, err := procStatus(pid, "VmRSS", "VmHWM")
	if err != nil {
		return err
	}
	return emit(stdout, Record{Kind: "idle", Case: strconv.FormatFloat(seconds, 'f', -1, 64), N: subs, Values: map[string]float64{
		"seconds": elapsed, "cpu_seconds": cpu1 - cpu0,
		"vmrss_kib": mem["VmRSS"], "vmhwm_kib": mem["VmHWM"], "calls": float64(a.totalCalls()),
	}})
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds reads utime+stime of pid from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after the last
	// ')' start at field 3 (state).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// utime is field 14 and stime field 15, i.e. f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return (ut + st) / clockTicks, nil
}

// procStatus reads the given kB fields of /proc/PID/status.
func procStatus(pid int, keys ...string) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(keys, k) {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		out[k] = n
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}
