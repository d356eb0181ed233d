package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestParseGoBenchTakesTheMedianOfEachBenchmark(t *testing.T) {
	out := `goos: linux
BenchmarkCompute/100-2     	   10000	    100000 ns/op	   41000 B/op	     386 allocs/op
BenchmarkCompute/100-2     	   10000	    300000 ns/op	   41000 B/op	     386 allocs/op
BenchmarkCompute/100-2     	   10000	    200000 ns/op	   41000 B/op	     386 allocs/op
BenchmarkCompute/1000-2    	    1000	   1300000 ns/op	  444000 B/op	    3773 allocs/op
PASS
`
	recs, err := parseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2: %+v", len(recs), recs)
	}
	got := recs[0]
	if got.Case != "BenchmarkCompute/100" || got.N != 100 || got.Values["ns_op"] != 200000 || got.Values["allocs_op"] != 386 || got.Values["runs"] != 3 {
		t.Errorf("first record = %+v", got)
	}
	if recs[1].N != 1000 || recs[1].Values["b_op"] != 444000 {
		t.Errorf("second record = %+v", recs[1])
	}
}

func TestParseTimeVReadsGNUTimeReports(t *testing.T) {
	report := `	Command being timed: "linq-sync plan -f plan.yaml"
	User time (seconds): 0.41
	System time (seconds): 0.07
	Percent of CPU this job got: 98%
	Elapsed (wall clock) time (h:mm:ss or m:ss): 0:00.49
	Maximum resident set size (kbytes): 71136
	Exit status: 2
`
	got, err := parseTimeV(strings.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	want := timeV{wallSec: 0.49, userSec: 0.41, sysSec: 0.07, maxRSSKiB: 71136}
	if got != want {
		t.Errorf("parseTimeV = %+v, want %+v", got, want)
	}
	if _, err := parseTimeV(strings.NewReader("User time (seconds): 0.1\n")); err == nil {
		t.Error("an incomplete report parsed without error")
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"0:00.49", 0.49}, {"1:02.50", 62.5}, {"1:00:01", 3601},
	}
	for _, tt := range tests {
		got, err := parseClock(tt.in)
		if err != nil || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("parseClock(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestPercentileUsesNearestRank(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	tests := []struct {
		p    float64
		want float64
	}{
		{50, 10}, {90, 18}, {100, 20}, {0, 1},
	}
	for _, tt := range tests {
		if got := percentile(xs, tt.p); got != tt.want {
			t.Errorf("percentile(1..20, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestNLogNRatio(t *testing.T) {
	if got := nlognRatio(100, 1000); math.Abs(got-15) > 1e-9 {
		t.Errorf("nlognRatio(100, 1000) = %v, want 15", got)
	}
	if got := nlognRatio(1000, 10000); math.Abs(got-40.0/3) > 1e-9 {
		t.Errorf("nlognRatio(1000, 10000) = %v, want 13.33", got)
	}
}

func TestWriteTableJudgesTheGoals(t *testing.T) {
	recs := []Record{
		{Kind: "plan", N: 1000, Values: map[string]float64{"wall_ms": 60, "cpu_ms": 50, "rss_kib": 20 << 10}},
		{Kind: "plan", N: 10000, Values: map[string]float64{"wall_ms": 500, "cpu_ms": 450, "rss_kib": 70 << 10}},
		{Kind: "calls", Case: "creates", Values: map[string]float64{"calls": 1002, "minimum": 1002, "ratio": 1}},
		{Kind: "calls", Case: "retried", Values: map[string]float64{"calls": 1003, "minimum": 1002, "ratio": 1.001}},
	}
	var b bytes.Buffer
	if err := writeTable(&b, "test machine", recs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Machine: test machine",
		"| 10,000 | wall 500 ms, CPU (user+sys) 450 ms, peak RSS 70.0 MiB | CPU ×9.0, RSS ×3.5 (n log n: ×13.3) |",
		"CPU < 100 ms, peak RSS < 64 MiB | **no** |",
		"| creates | 1,002 calls, minimum 1,002: ratio 1.000 |  | exactly 1.0 | yes |",
		"| retried | 1,003 calls, minimum 1,002: ratio 1.001 |  | exactly 1.0 | **no** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestCount(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := count(in); got != want {
			t.Errorf("count(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteTableJudgesTheRoundTripReactionAndYAMLGoals(t *testing.T) {
	recs := []Record{
		{Kind: "plan", N: 10000, Values: map[string]float64{"wall_ms": 200, "cpu_ms": 150, "rss_kib": 47 << 10}},
		{Kind: "yaml", N: 10000, Values: map[string]float64{"cpu_ms": 100, "rss_kib": 34 << 10}},
		{Kind: "latency", Case: "plan", N: 10, Values: map[string]float64{"wall_ms": 110, "round_trip_ms": 100, "round_trips": 1.1, "latency_ms": 100}},
		{Kind: "rename", Case: "rename", N: 10, Values: map[string]float64{"median_ms": 2.5, "p90_ms": 4, "min_ms": 1, "max_ms": 5, "count": 20}},
		{Kind: "rename", Case: "in-place", N: 10, Values: map[string]float64{"median_ms": 255, "p90_ms": 260, "min_ms": 251, "max_ms": 262, "count": 10}},
		{Kind: "rename", Case: "rename", N: 10, Values: map[string]float64{"median_ms": 130, "p90_ms": 140, "min_ms": 120, "max_ms": 150, "count": 5, "latency_ms": 100, "round_trip_ms": 100, "round_trips": 1.3}},
	}
	var b bytes.Buffer
	if err := writeTable(&b, "", recs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| plan: whole process against yaml.v3 alone | 10,000 | CPU ×1.50 of yaml.v3 (150 ms against 100 ms), peak RSS 47.0 MiB |  | CPU ≤ ×1.5, peak RSS ≤ 48 MiB | yes |",
		"| wall 110 ms = ×1.10 one round trip (100.0 ms) |  | ≤ ×1.2 | yes |",
		"| config replaced by a rename → first write (`linq-sync run`) | 20 changes, 10 subscriptions | median 2.5 ms, p90 4.0 ms (min 1.0, max 5.0) |  | median ≤ 20 ms | yes |",
		"| config rewritten in place → first write (`linq-sync run`; debounced) | 10 changes, 10 subscriptions | median 255.0 ms",
		"= ×1.30 one round trip (100.0 ms) |  | ≤ ×1.2 | **no** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
