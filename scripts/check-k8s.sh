#!/usr/bin/env bash
# check-k8s.sh: the Kubernetes example in deploy/kubernetes/ parses and keeps its promises.
#
#   1. Every YAML file under deploy/ and examples/ parses (strictly: duplicate keys fail).
#   2. scripts/deploycheck decodes every manifest strictly into client-go's typed
#      objects (an unknown field fails, with its line) and asserts the sidecar's
#      settings: the config is a ConfigMap mounted as a directory (no subPath
#      anywhere), the token a Secret file read with --token-file, /healthz and /readyz
#      probes on 9464, --listen 0.0.0.0:9464, runAsNonRoot as 65532,
#      readOnlyRootFilesystem, no privilege escalation, capabilities dropped, the
#      RuntimeDefault seccomp profile, resources and the prometheus.io annotations;
#      with --secrets kubernetes:NS, also --leader-elect for several replicas, no PVC,
#      the Role granting exactly secrets get/list/create/update/patch and leases
#      get/create/update, bound to the pod's ServiceAccount, whose token only the
#      linq-sync container mounts, and each subscription's Secret mounted by the app
#      as an optional volume.
#   3. The subscriptions.yaml inside the ConfigMap passes `linq-sync validate`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
command -v go >/dev/null 2>&1 || die "go is not on PATH"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mapfile -t files < <(find deploy examples -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
[ "${#files[@]}" -gt 0 ] || die "no YAML files found"
go run ./scripts/deploycheck yaml "${files[@]}"
log "parsed ${#files[@]} YAML files"

go run ./scripts/deploycheck k8s -extract "$work" deploy/kubernetes/*.yaml

go build -o "$work/linq-sync" ./cmd/linq-sync
"$work/linq-sync" validate -f "$work/subscriptions.yaml" ||
	die "the subscriptions.yaml in deploy/kubernetes/configmap.yaml does not validate"
echo "check-k8s: ok"
