#!/usr/bin/env bash
# check-prometheus.sh: the alerting rules in examples/prometheus/ are valid and work.
#
#   1. `promtool check rules` accepts alerts.yaml.
#   2. `promtool test rules alerts_test.yaml` shows every alert firing on a synthetic
#      series, staying quiet before its `for:` and ignoring series that must not count.
#   3. Every linq_sync_* metric the rules use is one that internal/metrics (or, for the
#      endpoint probes, internal/probe) defines, so a renamed metric cannot leave an
#      alert that never fires.
#
# promtool comes from Debian's prometheus package, installed when missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need_cmd promtool prometheus

RULES=examples/prometheus/alerts.yaml
TESTS=examples/prometheus/alerts_test.yaml

promtool check rules "$RULES"
promtool test rules "$TESTS"

missing=0
used=$(grep -v '^[[:space:]]*#' "$RULES" | grep -oE 'linq_sync_[a-z0-9_]+' | sort -u)
for name in $used; do
	short=${name#linq_sync_}
	if ! grep -qF "\"$short\"" --include='*.go' --exclude='*_test.go' -r internal/metrics internal/probe; then
		log "$RULES uses $name, which neither internal/metrics nor internal/probe defines"
		missing=1
	fi
done
[ "$missing" = 0 ] || die "alert rules refer to unknown metrics"
log "the rules use $(wc -w <<<"$used") linq_sync_* metrics, all defined in internal/metrics or internal/probe"
echo "check-prometheus: ok"
