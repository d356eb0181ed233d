#!/usr/bin/env bash
# check-workflow.sh: the GitHub Actions example and the check scripts are sound.
#
#   1. actionlint (pinned, from the Go module proxy) checks
#      examples/github-actions/pr-check.yml: syntax, expressions, contexts available where
#      used, and its run: scripts through shellcheck.
#   2. scripts/deploycheck asserts its shape: pull_request and push-to-main triggers,
#      top-level permissions, validate -o github, plan -o markdown with the
#      <!-- linq-sync-plan --> marker and the job summary, the offline plan against the
#      base branch for forks, apply with --secrets-dir, pinned actions.
#   3. shellcheck checks scripts/*.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd shellcheck shellcheck

ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
WORKFLOW=examples/github-actions/pr-check.yml

go run "$ACTIONLINT" -color=false "$WORKFLOW"
log "actionlint: $WORKFLOW is clean"
go run ./scripts/deploycheck workflow "$WORKFLOW"
shellcheck -x scripts/*.sh
log "shellcheck: scripts/*.sh are clean"
echo "check-workflow: ok"
