#!/usr/bin/env bash
# check-deploy.sh: run every deployment check (issue 4) and say which failed.
# Each check also runs on its own: scripts/check-<name>.sh.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

checks=(systemd static k8s workflow prometheus)
failed=()
for c in "${checks[@]}"; do
	echo "==> scripts/check-$c.sh"
	if ! bash "scripts/check-$c.sh"; then
		failed+=("$c")
	fi
done
passed=$((${#checks[@]} - ${#failed[@]}))
[ "${#failed[@]}" = 0 ] || echo "failed deployment checks: ${failed[*]}"
echo "check-deploy: $passed passed, ${#failed[@]} failed"
[ "${#failed[@]}" = 0 ]
