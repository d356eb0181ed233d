#!/usr/bin/env bash
# check-deploy.sh: run every deployment check (the systemd unit, the static binary
# and Dockerfile, the Kubernetes manifests, the GitHub workflow, the Prometheus
# rules) and say which failed.
# Each check also runs on its own: scripts/check-<name>.sh.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

checks=(systemd static k8s workflow prometheus)
# Booting a throw-away systemd to run the unit for real (check-systemd-run.sh) needs
# root with namespaces and cgroup2; ask for it with LINQ_SYNC_CHECK_SYSTEMD_RUN=1.
if [ "${LINQ_SYNC_CHECK_SYSTEMD_RUN:-0}" = 1 ]; then
	checks=(systemd systemd-run static k8s workflow prometheus)
fi
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
