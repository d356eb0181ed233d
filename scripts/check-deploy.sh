#!/usr/bin/env bash
# check-deploy.sh: run every deployment check (the systemd unit, the static binary
# and Dockerfile, the Kubernetes manifests, the GitHub workflow, the Prometheus
# rules) and say which failed.
# Each check also runs on its own: scripts/check-<name>.sh.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

# systemd-run and package boot a throw-away systemd (root, namespaces, cgroup2) to run
# the repository's unit and the installed .deb's unit for real.
checks=(systemd systemd-run package static k8s workflow prometheus)
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
