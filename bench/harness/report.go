package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// benchLine matches one result line of `go test -bench -benchmem`.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$`)

// parseGoBench reads `go test -bench` output and returns one record per
// benchmark: the median of each figure over its -count runs.
func parseGoBench(r io.Reader) ([]Record, error) {
	type runs struct{ ns, bytes, allocs []float64 }
	var order []string
	byName := map[string]*runs{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		name := m[1]
		ru, ok := byName[name]
		if !ok {
			ru = &runs{}
			byName[name] = ru
			order = append(order, name)
		}
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ru.ns = append(ru.ns, ns)
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "B/op":
				ru.bytes = append(ru.bytes, v)
			case "allocs/op":
				ru.allocs = append(ru.allocs, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(order))
	for _, name := range order {
		ru := byName[name]
		rec := Record{Kind: "gobench", Case: name, Values: map[string]float64{"ns_op": median(ru.ns), "runs": float64(len(ru.ns))}}
		if len(ru.bytes) > 0 {
			rec.Values["b_op"] = median(ru.bytes)
		}
		if len(ru.allocs) > 0 {
			rec.Values["allocs_op"] = median(ru.allocs)
		}
		if _, after, ok := strings.Cut(name, "/"); ok {
			if n, err := strconv.Atoi(after); err == nil {
				rec.N = n
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runGoBench(_ context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if err := parse("gobench", args, func(*flag.FlagSet) {}); err != nil {
		return err
	}
	recs, err := parseGoBench(stdin)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return errors.New("no benchmark results in the input")
	}
	for _, r := range recs {
		if err := emit(stdout, r); err != nil {
			return err
		}
	}
	return nil
}

// timeV is what one `/usr/bin/time -v` report says.
type timeV struct {
	wallSec, userSec, sysSec, maxRSSKiB float64
}

// parseTimeV reads the report GNU time -v writes.
func parseTimeV(r io.Reader) (timeV, error) {
	var t timeV
	seen := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		i := strings.LastIndex(line, ": ")
		if i < 0 {
			continue
		}
		key, val := line[:i], strings.TrimSpace(line[i+2:])
		var err error
		switch {
		case key == "User time (seconds)":
			t.userSec, err = strconv.ParseFloat(val, 64)
			seen++
		case key == "System time (seconds)":
			t.sysSec, err = strconv.ParseFloat(val, 64)
			seen++
		case key == "Maximum resident set size (kbytes)":
			t.maxRSSKiB, err = strconv.ParseFloat(val, 64)
			seen++
		case strings.HasPrefix(key, "Elapsed (wall clock) time"):
			t.wallSec, err = parseClock(val)
			seen++
		}
		if err != nil {
			return t, fmt.Errorf("%q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return t, err
	}
	if seen != 4 {
		return t, errors.New("not a complete GNU time -v report")
	}
	return t, nil
}

// parseClock reads [h:]mm:ss.ss as seconds.
func parseClock(s string) (float64, error) {
	parts := strings.Split(s, ":")
	total := 0.0
	for _, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, err
		}
		total = total*60 + v
	}
	return total, nil
}

// runTimeV turns the `/usr/bin/time -v -o FILE` reports of repeated runs of
// one plan into a record: mean wall and CPU time (GNU time prints them to
// 10 ms; the mean of several runs is finer), median peak RSS.
func runTimeV(_ context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("timev", flag.ContinueOnError)
	n := fs.Int("n", 0, "subscriptions")
	kind := fs.String("kind", "plan", "record kind: plan (linq-sync plan) or yaml (harness yaml, the floor)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no report files")
	}
	var wall, cpu, rss []float64
	for _, p := range fs.Args() {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		t, err := parseTimeV(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		wall = append(wall, t.wallSec*1000)
		cpu = append(cpu, (t.userSec+t.sysSec)*1000)
		rss = append(rss, t.maxRSSKiB)
	}
	return emit(stdout, Record{Kind: *kind, Case: strconv.Itoa(*n), N: *n, Values: map[string]float64{
		"wall_ms": mean(wall), "cpu_ms": mean(cpu), "rss_kib": median(rss), "runs": float64(len(wall)),
	}})
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Goals the benchmarks check: a 10,000-subscription plan within this CPU
// time and peak memory.
const (
	goalPlanCPUms  = 100
	goalPlanRSSMiB = 64
)

// Goals of the later round: a plan at real latency costs one round trip, an
// atomic replace is reloaded at once, and a 10,000 plan stays close to the
// cost of yaml.v3 parsing its file, in less memory than the goal above.
const (
	goalRoundTrips   = 1.2 // plan wall at real latency, in round trips
	goalReplaceMs    = 20  // atomic replace → first write, median
	goalCPUOverYAML  = 1.5 // 10,000 plan CPU over yaml.v3 alone, same run
	goalPlanRSSLeanM = 48  // 10,000 plan peak RSS, MiB
)

// nlognRatio is how much n log n grows when n grows from a to b.
func nlognRatio(a, b int) float64 {
	return float64(b) * math.Log(float64(b)) / (float64(a) * math.Log(float64(a)))
}

func runReport(_ context.Context, args []string, _ io.Reader, stdout io.Writer) error {
	var in, machine string
	if err := parse("report", args, func(fs *flag.FlagSet) {
		fs.StringVar(&in, "in", "", "records (JSON lines)")
		fs.StringVar(&machine, "machine", "", "one line describing the machine")
	}); err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []Record
	dec := json.NewDecoder(f)
	for {
		var r Record
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		recs = append(recs, r)
	}
	return writeTable(stdout, machine, recs)
}

// writeTable renders the records as one Markdown table.
func writeTable(w io.Writer, machine string, recs []Record) error {
	var b strings.Builder
	if machine != "" {
		fmt.Fprintf(&b, "Machine: %s\n\n", machine)
	}
	b.WriteString("| Measure | Case | Result | Growth per 10× / speed-up | Goal | Met |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	row := func(cells ...string) {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	byKind := map[string][]Record{}
	for _, r := range recs {
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}

	// Diff alone, from go test -bench.
	var diffs, parts []Record
	for _, r := range byKind["gobench"] {
		switch {
		case strings.HasPrefix(r.Case, "BenchmarkCompute/"):
			diffs = append(diffs, r)
		default:
			parts = append(parts, r)
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].N < diffs[j].N })
	for i, r := range diffs {
		growth, goal, met := "—", "", ""
		if i > 0 && diffs[i-1].N > 0 && diffs[i-1].Values["ns_op"] > 0 && r.N == diffs[i-1].N*10 {
			g := r.Values["ns_op"] / diffs[i-1].Values["ns_op"]
			bound := nlognRatio(diffs[i-1].N, r.N)
			growth = fmt.Sprintf("time ×%.1f, allocs ×%.1f (n log n: ×%.1f)", g, r.Values["allocs_op"]/diffs[i-1].Values["allocs_op"], bound)
			goal, met = "≤ n log n", yesNo(g <= bound)
		}
		row("plan: diff alone (`diff.Compute`, go test -bench)", count(r.N),
			fmt.Sprintf("%s/op, %s allocs/op, %s/op", duration(r.Values["ns_op"]), count(int(r.Values["allocs_op"])), bytesIEC(r.Values["b_op"])),
			growth, goal, met)
	}
	for _, r := range parts {
		what := r.Case
		switch {
		case strings.HasPrefix(r.Case, "BenchmarkYAMLDecode/"):
			what = "plan, part of the load: yaml.v3 alone (file → nodes)"
		case strings.HasPrefix(r.Case, "BenchmarkParseConfig/"):
			what = "plan, part: load and validate the file (`config.Parse`)"
		case strings.HasPrefix(r.Case, "BenchmarkList/"):
			what = "plan, part: list + decode (`Client.List`, loopback)"
		case strings.HasPrefix(r.Case, "BenchmarkPlan/"):
			what = "plan in process (`cli.Main plan -o json`)"
		}
		row(what, count(r.N), fmt.Sprintf("%s/op, %s allocs/op, %s/op", duration(r.Values["ns_op"]), count(int(r.Values["allocs_op"])), bytesIEC(r.Values["b_op"])), "", "", "")
	}

	// Whole process.
	plans := byKind["plan"]
	sort.Slice(plans, func(i, j int) bool { return plans[i].N < plans[j].N })
	for i, r := range plans {
		v := r.Values
		growth, goal, met := "—", "", ""
		if i > 0 && r.N == plans[i-1].N*10 && plans[i-1].Values["cpu_ms"] > 0 {
			g := v["cpu_ms"] / plans[i-1].Values["cpu_ms"]
			growth = fmt.Sprintf("CPU ×%.1f, RSS ×%.1f (n log n: ×%.1f)", g, v["rss_kib"]/plans[i-1].Values["rss_kib"], nlognRatio(plans[i-1].N, r.N))
			goal, met = "≤ n log n", yesNo(g <= nlognRatio(plans[i-1].N, r.N))
		}
		if r.N == 10000 {
			if goal != "" {
				goal += "; "
			}
			goal += fmt.Sprintf("CPU < %d ms, peak RSS < %d MiB", goalPlanCPUms, goalPlanRSSMiB)
			ok := v["cpu_ms"] < goalPlanCPUms && v["rss_kib"]/1024 < goalPlanRSSMiB
			if met != "" {
				met = yesNo(met == "yes" && ok)
			} else {
				met = yesNo(ok)
			}
		}
		row("plan: whole process (`linq-sync plan`, fake API in another process)", count(r.N),
			fmt.Sprintf("wall %.0f ms, CPU (user+sys) %.0f ms, peak RSS %.1f MiB", v["wall_ms"], v["cpu_ms"], v["rss_kib"]/1024),
			growth, goal, met)
	}

	// The 10,000 plan against yaml.v3 alone on the same file, same run.
	for _, y := range byKind["yaml"] {
		v := y.Values
		row("yaml.v3 alone, whole process (`harness yaml`: read the file, parse it into nodes, default GC)", count(y.N),
			fmt.Sprintf("CPU (user+sys) %.0f ms, peak RSS %.1f MiB", v["cpu_ms"], v["rss_kib"]/1024), "", "", "")
		for _, p := range plans {
			if p.N != y.N || v["cpu_ms"] <= 0 {
				continue
			}
			ratio := p.Values["cpu_ms"] / v["cpu_ms"]
			rss := p.Values["rss_kib"] / 1024
			row("plan: whole process against yaml.v3 alone", count(p.N),
				fmt.Sprintf("CPU ×%.2f of yaml.v3 (%.0f ms against %.0f ms), peak RSS %.1f MiB", ratio, p.Values["cpu_ms"], v["cpu_ms"], rss),
				"", fmt.Sprintf("CPU ≤ ×%.1f, peak RSS ≤ %d MiB", goalCPUOverYAML, goalPlanRSSLeanM),
				yesNo(ratio <= goalCPUOverYAML && rss <= goalPlanRSSLeanM))
		}
	}

	for _, r := range byKind["latency"] {
		v := r.Values
		row(fmt.Sprintf("plan at %.0f ms per call (`linq-sync plan`, whole process)", v["latency_ms"]), fmt.Sprintf("%d subscriptions", r.N),
			fmt.Sprintf("wall %.0f ms = ×%.2f one round trip (%.1f ms)", v["wall_ms"], v["round_trips"], v["round_trip_ms"]),
			"", fmt.Sprintf("≤ ×%.1f", goalRoundTrips), yesNo(v["round_trips"] <= goalRoundTrips))
	}

	for _, r := range byKind["calls"] {
		v := r.Values
		row("calls per apply (no faults)", r.Case,
			fmt.Sprintf("%s calls, minimum %s: ratio %.3f", count(int(v["calls"])), count(int(v["minimum"])), v["ratio"]),
			"", "exactly 1.0", yesNo(v["calls"] == v["minimum"]))
	}

	for _, r := range byKind["apply"] {
		v := r.Values
		row(fmt.Sprintf("apply %s creates, %.0f ms per call", count(r.N), v["latency_ms"]), "--concurrency "+r.Case,
			fmt.Sprintf("%.2f s (%s TCP connections)", v["seconds"], count(int(v["connections"]))),
			fmt.Sprintf("×%.1f", v["speedup"]), "", "")
	}

	for _, r := range byKind["rename"] {
		v := r.Values
		spread := fmt.Sprintf("median %.1f ms, p90 %.1f ms (min %.1f, max %.1f)", v["median_ms"], v["p90_ms"], v["min_ms"], v["max_ms"])
		n := fmt.Sprintf("%s changes, %d subscriptions", count(int(v["count"])), r.N)
		switch {
		case v["latency_ms"] > 0:
			row(fmt.Sprintf("daemon reconcile at %.0f ms per call: rename → first write (`linq-sync run`)", v["latency_ms"]), n,
				fmt.Sprintf("%s = ×%.2f one round trip (%.1f ms)", spread, v["round_trips"], v["round_trip_ms"]),
				"", fmt.Sprintf("≤ ×%.1f", goalRoundTrips), yesNo(v["round_trips"] <= goalRoundTrips))
		case r.Case == "in-place":
			row("config rewritten in place → first write (`linq-sync run`; debounced)", n, spread, "", "", "")
		default:
			row("config replaced by a rename → first write (`linq-sync run`)", n, spread,
				"", fmt.Sprintf("median ≤ %d ms", goalReplaceMs), yesNo(v["median_ms"] <= goalReplaceMs))
		}
	}

	for _, r := range byKind["idle"] {
		v := r.Values
		row(fmt.Sprintf("idle daemon for %.0f s after its first reconcile", v["seconds"]), fmt.Sprintf("%d subscriptions, default interval", r.N),
			fmt.Sprintf("CPU %.2f s, VmRSS %.1f MiB, VmHWM %.1f MiB, %s API calls", v["cpu_seconds"], v["vmrss_kib"]/1024, v["vmhwm_kib"]/1024, count(int(v["calls"]))),
			"", "", "")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// count formats n with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// duration formats nanoseconds with a unit that keeps three digits.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func bytesIEC(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
