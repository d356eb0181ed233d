#!/usr/bin/env bash
# Runs every benchmark of the project in one go and prints one Markdown table
# (also written to bench/results.md): plan cost at 100, 1,000 and 10,000
# subscriptions (diff alone and the whole process, and at 10,000 against
# yaml.v3 parsing the same file), plan wall time at 100 ms per call in round
# trips, calls per apply against the minimum, apply speed-up with
# --concurrency, how fast `linq-sync run` reacts to a replaced and to a
# rewritten file (and its reconcile at 100 ms per call), and an idle
# daemon's CPU and memory.
#
# Usage: bench/run.sh            (from anywhere inside a checkout; ~3 minutes)
# Environment:
#   BENCH_IDLE_SECONDS  idle period of the daemon (default 60)
#   BENCH_PLAN_RUNS     timed runs of `linq-sync plan` per size (default 5)
#   BENCH_PLAN_RUNS_10K timed runs at 10,000, alternating with yaml.v3 alone (default 15)
#   BENCH_OUT           where to write the table (default bench/results.md)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

IDLE_SECONDS="${BENCH_IDLE_SECONDS:-60}"
PLAN_RUNS="${BENCH_PLAN_RUNS:-5}"
PLAN_RUNS_10K="${BENCH_PLAN_RUNS_10K:-15}"
OUT="${BENCH_OUT:-bench/results.md}"

log() { printf '== %s\n' "$*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/linq-sync-bench.XXXXXX")"
mock_pid=""
idle_pid=""
cleanup() {
  # Only the processes this script started, by their id.
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  if [ -n "$idle_pid" ]; then kill "$idle_pid" 2>/dev/null || true; wait "$idle_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# GNU time reports peak RSS; Debian ships it in the "time" package.
if [ ! -x /usr/bin/time ]; then
  log "installing GNU time (/usr/bin/time is missing)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends time >/dev/null
fi

log "building linq-sync and the harness"
go build -o "$work/linq-sync" ./cmd/linq-sync
go build -o "$work/harness" ./bench/harness
bin="$work/linq-sync"
h="$work/harness"
records="$work/records.jsonl"
: >"$records"

# The idle daemon does nothing for a minute, so it is measured in the
# background while the other rows run; it makes no calls and its CPU time
# is its own.
log "idle daemon: ${IDLE_SECONDS}s in the background"
"$h" idle -bin "$bin" -seconds "$IDLE_SECONDS" >"$work/idle.jsonl" 2>"$work/idle.err" &
idle_pid=$!

log "diff alone: go test -bench BenchmarkCompute (internal/diff)"
go test -run '^$' -bench '^BenchmarkCompute$' -benchmem -benchtime 0.5s -count 3 ./internal/diff | tee "$work/gobench-diff.txt" >&2
"$h" gobench <"$work/gobench-diff.txt" >>"$records"

log "parts of a 10,000 plan: go test -bench BenchmarkYAMLDecode, BenchmarkParseConfig, BenchmarkList (internal/synth)"
go test -run '^$' -bench '^Benchmark(YAMLDecode|ParseConfig|List)$/^10000$' -benchmem -benchtime 10x -count 1 ./internal/synth | tee "$work/gobench-parts.txt" >&2
"$h" gobench <"$work/gobench-parts.txt" >>"$records"

export LINQ_API_V3_API_KEY=test-token
for n in 100 1000 10000; do
  log "linq-sync plan, whole process, $n subscriptions ($PLAN_RUNS timed runs after a warm-up)"
  "$bin" mock-api --listen 127.0.0.1:0 --seed-count "$n" >/dev/null 2>"$work/mock-$n.log" &
  mock_pid=$!
  url=""
  for _ in $(seq 1 500); do
    url="$(sed -n 's/^mock-api listening on //p' "$work/mock-$n.log")"
    [ -n "$url" ] && break
    kill -0 "$mock_pid" 2>/dev/null || { cat "$work/mock-$n.log" >&2; exit 1; }
    sleep 0.02
  done
  [ -n "$url" ] || { echo "mock-api did not start" >&2; exit 1; }
  export LINQ_API_V3_BASE_URL="$url"
  "$h" gen -kind drift -n "$n" -o "$work/plan-$n.yaml"

  rc=0
  "$bin" plan -f "$work/plan-$n.yaml" >/dev/null 2>"$work/plan-$n.err" || rc=$?
  if [ "$rc" -ne 2 ]; then
    echo "linq-sync plan exited $rc, want 2 (changes pending):" >&2
    cat "$work/plan-$n.err" >&2
    exit 1
  fi
  # At 10,000 the plan is compared with yaml.v3 alone on the same file:
  # their runs alternate, so that both see the same machine, and there are
  # more of them, as the ratio is a goal.
  runs="$PLAN_RUNS"
  if [ "$n" -eq 10000 ]; then
    runs="$PLAN_RUNS_10K"
    log "yaml.v3 alone on the same file, whole process, alternating with the plan ($runs timed runs each after a warm-up)"
    "$h" yaml -f "$work/plan-$n.yaml"
  fi
  reports=()
  yaml_reports=()
  for r in $(seq 1 "$runs"); do
    rc=0
    /usr/bin/time -v -o "$work/time-$n-$r.txt" "$bin" plan -f "$work/plan-$n.yaml" >/dev/null 2>/dev/null || rc=$?
    [ "$rc" -eq 2 ] || { echo "linq-sync plan exited $rc in run $r" >&2; exit 1; }
    reports+=("$work/time-$n-$r.txt")
    if [ "$n" -eq 10000 ]; then
      /usr/bin/time -v -o "$work/time-yaml-$r.txt" "$h" yaml -f "$work/plan-$n.yaml"
      yaml_reports+=("$work/time-yaml-$r.txt")
    fi
  done
  "$h" timev -n "$n" "${reports[@]}" >>"$records"
  if [ "$n" -eq 10000 ]; then
    "$h" timev -kind yaml -n "$n" "${yaml_reports[@]}" >>"$records"
  fi

  kill "$mock_pid"
  wait "$mock_pid" 2>/dev/null || true
  mock_pid=""
done
unset LINQ_API_V3_BASE_URL LINQ_API_V3_API_KEY

log "calls per apply against the minimum"
"$h" calls -bin "$bin" >>"$records"

log "apply of 1,000 creates with 20 ms per call at --concurrency 1, 4, 8, 16 (about 40 s)"
"$h" concurrency -bin "$bin" -n 1000 -latency 20ms -levels 1,4,8,16 >>"$records"

log "linq-sync plan with 100 ms per call, against one round trip"
"$h" latency -bin "$bin" -latency 100ms -runs "$PLAN_RUNS" >>"$records"

log "file rename to first write in linq-sync run (20 renames)"
"$h" rename -bin "$bin" -count 20 >>"$records"

log "in-place rewrite to first write in linq-sync run (10 rewrites)"
"$h" rename -bin "$bin" -mode in-place -count 10 >>"$records"

log "rename to first write in linq-sync run with 100 ms per call (5 renames)"
"$h" rename -bin "$bin" -latency 100ms -count 5 >>"$records"

log "waiting for the idle daemon"
if ! wait "$idle_pid"; then
  idle_pid=""
  cat "$work/idle.err" >&2
  exit 1
fi
idle_pid=""
cat "$work/idle.jsonl" >>"$records"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
mem_gib="$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then rev="$rev+changes"; fi
machine="$(nproc) cores (${cpu:-unknown CPU}), ${mem_gib} GiB, Linux $(uname -r), $(go env GOVERSION), commit $rev, $(date -u +%Y-%m-%d); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

"$h" report -in "$records" -machine "$machine" >"$work/table.md"
mkdir -p "$(dirname "$OUT")"
cp "$work/table.md" "$OUT"
cat "$work/table.md"
