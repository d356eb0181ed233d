#!/usr/bin/env bash
# run.sh checks linq-sync against the official TypeScript SDK: it installs
# the pinned @linqapp/sdk (npm ci); checks that the endpoint probes'
# signatures verify with the SDK's client.webhooks.unwrap() (probegen, then
# probe-check.mjs); then builds linq-sync, starts `linq-sync mock-api` on a
# free loopback port, runs sdk-check.mjs against it and stops the server.
# Exit status is 0 only if every check passed.
#
# LINQ_SYNC_BIN, when set, is used instead of building ./cmd/linq-sync.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
tmp=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
	echo "run.sh: Node 20 or later is required, found $(node --version)" >&2
	exit 1
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

echo "run.sh: checking the endpoint probes' signatures with @linqapp/sdk"
(cd "$root" && go run ./conformance/probegen) >"$tmp/probes.json"
node "$here/probe-check.mjs" "$tmp/probes.json"

if [[ -n ${LINQ_SYNC_BIN:-} ]]; then
	bin=$LINQ_SYNC_BIN
else
	(cd "$root" && go build -o "$tmp/linq-sync" ./cmd/linq-sync)
	bin=$tmp/linq-sync
fi

# Port 0 lets the kernel pick a free port, with no window for another
# process to take it; mock-api prints the address it got.
token="conformance-$RANDOM$RANDOM"
"$bin" mock-api --listen 127.0.0.1:0 --token "$token" >/dev/null 2>"$tmp/mock-api.log" &
pid=$!

addr=
deadline=$((SECONDS + 20))
while :; do
	addr=$(grep -o 'http://127\.0\.0\.1:[0-9][0-9]*' "$tmp/mock-api.log" | head -n 1 || true)
	[[ -n $addr ]] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "run.sh: mock-api exited before listening:" >&2
		cat "$tmp/mock-api.log" >&2
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		echo "run.sh: mock-api did not report its address within 20s" >&2
		exit 1
	fi
	sleep 0.1
done
echo "run.sh: checking @linqapp/sdk against $addr"

LINQ_API_V3_BASE_URL=$addr LINQ_API_V3_API_KEY=$token node "$here/sdk-check.mjs"
