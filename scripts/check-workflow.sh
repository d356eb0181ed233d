#!/usr/bin/env bash
# check-workflow.sh: the GitHub Actions example works and the check scripts are sound.
#
#   1. actionlint (pinned, from the Go module proxy) checks
#      examples/github-actions/pr-check.yml: syntax, expressions, contexts available where
#      used, and its run: scripts through shellcheck.
#   2. scripts/deploycheck asserts its shape: pull_request and push-to-main triggers,
#      top-level permissions, validate -o github, plan -o markdown with the
#      <!-- linq-sync-plan --> marker and the job summary, the offline plan against the
#      base branch for forks, apply with --secrets-dir, pinned actions.
#   3. The workflow's own run: scripts execute here, as the runner would run them
#      (bash -eo pipefail), in a scratch git repository whose "origin" has the base
#      branch: Validate; Plan without a token (the fork path: offline against the base
#      branch, against an empty config when the file is new, and an exported file with
#      ids pinned, which is an adoption, not an error); Plan with a token
#      against `linq-sync mock-api`; and Store new signing secrets with and without
#      secrets. Changes pending (exit 2) must not fail the step.
#   4. shellcheck checks scripts/*.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd shellcheck shellcheck
need_cmd git git

ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
WORKFLOW=examples/github-actions/pr-check.yml
MARKER='<!-- linq-sync-plan -->'

go run "$ACTIONLINT" -color=false "$WORKFLOW"
log "actionlint: $WORKFLOW is clean"
go run ./scripts/deploycheck workflow "$WORKFLOW"

# 3. Run the steps.
work=$(mktemp -d)
mock_pid=
cleanup() {
	[ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/bin/linq-sync" ./cmd/linq-sync
for s in Validate Plan 'Store new signing secrets'; do
	go run ./scripts/deploycheck step "$WORKFLOW" "$([ "$s" = 'Store new signing secrets' ] && echo apply || echo check)" "$s" >"$work/step-${s// /-}.sh"
done

# git_q runs git with a fixed identity and no user or system configuration.
git_q() { GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -c user.name=ci -c user.email=ci@example.com -c init.defaultBranch=main "$@"; }

# A base repository whose main has examples/subscriptions.yaml, and a pull-request
# checkout that changes one subscription's events (an update) and adds one (a create).
git_q init -q "$work/upstream"
cp examples/subscriptions.yaml "$work/upstream/subscriptions.yaml"
git_q -C "$work/upstream" add subscriptions.yaml
git_q -C "$work/upstream" commit -q -m base
git_q clone -q --depth=1 "file://$work/upstream" "$work/pr"
sed -i 's/^      - message.failed$/      - message.read/' "$work/pr/subscriptions.yaml"
cmp -s examples/subscriptions.yaml "$work/pr/subscriptions.yaml" && die "could not make the pull-request change: examples/subscriptions.yaml lacks a '      - message.failed' line"
printf '  - name: ci-added\n    target_url: https://ci.example.com/hook\n    subscribed_events: [message.received]\n' >>"$work/pr/subscriptions.yaml"
git_q -C "$work/pr" commit -q -am 'pull request'
# The runner's checkout has no remote-tracking branch for the base: the step fetches it.
git_q -C "$work/pr" update-ref -d refs/remotes/origin/main

# run_step NAME [VAR=value...]: run a step's script as the runner does, in the
# pull-request checkout, with fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
run_step() {
	local name=$1
	shift
	rm -rf "$work/runner" && mkdir -p "$work/runner/temp"
	: >"$work/runner/output" && : >"$work/runner/summary"
	(cd "$work/pr" && env -u LINQ_API_V3_API_KEY -u LINQ_API_V3_BASE_URL \
		GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
		PATH="$work/bin:$PATH" RUNNER_TEMP="$work/runner/temp" \
		GITHUB_OUTPUT="$work/runner/output" GITHUB_STEP_SUMMARY="$work/runner/summary" \
		LINQ_SYNC_FILE=subscriptions.yaml BASE_REF=main LINQ_API_V3_API_KEY= "$@" \
		bash --noprofile --norc -eo pipefail "$work/step-${name// /-}.sh") >"$work/runner/log" 2>&1
}

# expect_plan WHAT CODE PATTERN...: the Plan step succeeded, reported exit code CODE and
# wrote a summary with the marker and every PATTERN.
expect_plan() {
	local what=$1 code=$2
	shift 2
	grep -qx "exit-code=$code" "$work/runner/output" || { cat "$work/runner/log" >&2; die "Plan ($what): GITHUB_OUTPUT lacks exit-code=$code"; }
	[ "$(head -n1 "$work/runner/summary")" = "$MARKER" ] || die "Plan ($what): the job summary does not start with $MARKER"
	for p in "$@"; do
		grep -qF -- "$p" "$work/runner/summary" || { cat "$work/runner/summary" >&2; die "Plan ($what): the job summary lacks $p"; }
	done
	log "Plan ($what): ok, exit code $code"
}

run_step Validate || { cat "$work/runner/log" >&2; die "the Validate step failed on a valid file"; }
printf '  - name: Bad Name\n    target_url: http://x\n    subscribed_events: []\n' >>"$work/pr/subscriptions.yaml"
if run_step Validate; then die "the Validate step passed an invalid file"; fi
grep -q '^::error file=subscriptions.yaml,line=[0-9]*,col=[0-9]*::' "$work/runner/log" || { cat "$work/runner/log" >&2; die "the Validate step printed no ::error file=...,line=...,col=...:: annotation"; }
git_q -C "$work/pr" checkout -q -- subscriptions.yaml
log "Validate: ok (passes a valid file; annotates and fails an invalid one)"

run_step Plan || { cat "$work/runner/log" >&2; die "the Plan step failed without a token"; }
expect_plan "fork, offline against origin/main" 2 ci-added "~ update" message.read

git_q -C "$work/upstream" rm -q subscriptions.yaml
git_q -C "$work/upstream" commit -q -m 'no file yet'
run_step Plan || { cat "$work/runner/log" >&2; die "the Plan step failed when the file is new"; }
expect_plan "fork, file new in the pull request" 2 ci-added crm-messages

# The adoption pull request: the file is new and is an export, every id pinned. Offline
# that is an adoption of unknown state (exit 2), never an error.
printf 'version: 1\nsubscriptions:\n  - name: crm\n    id: 6f1c2b1e-0000-4000-8000-000000000001\n    target_url: https://hooks.example.com/crm\n    subscribed_events: [message.received]\n' >"$work/pr/subscriptions.yaml"
git_q -C "$work/pr" commit -q -am 'adopt the account'
run_step Plan || { cat "$work/runner/log" >&2; die "the Plan step failed on an exported file"; }
expect_plan "fork, adopting an exported file" 2 "= adopt" "Offline plan" "It cannot know"
if grep -q 'cannot be planned' "$work/runner/summary"; then die "Plan (adoption): the summary calls an adoption an error"; fi
git_q -C "$work/pr" reset -q --hard HEAD~1

"$work/bin/linq-sync" mock-api --listen 127.0.0.1:0 >/dev/null 2>"$work/mock.log" &
mock_pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/^mock-api listening on \(http:[^ ]*\)$/\1/p' "$work/mock.log")
	[ -n "$url" ] && break
	kill -0 "$mock_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$url" ] || { cat "$work/mock.log" >&2; die "linq-sync mock-api did not start"; }
run_step Plan LINQ_API_V3_API_KEY=test-token LINQ_API_V3_BASE_URL="$url" ||
	{ cat "$work/runner/log" >&2; die "the Plan step failed with a token"; }
grep -q 'planning against the Linq account' "$work/runner/log" || die "the Plan step with a token did not plan against the account"
expect_plan "token, against the API" 2 ci-added crm-messages

run_step 'Store new signing secrets' || { cat "$work/runner/log" >&2; die "'Store new signing secrets' failed with no secrets"; }
grep -q 'no new signing secrets' "$work/runner/log" || die "'Store new signing secrets' did not say there were none"
# With a secret present the unedited step must fail loudly, never pass silently.
rm -rf "$work/runner" && mkdir -p "$work/runner/temp/linq-secrets"
echo 'whsec_dGVzdA==' >"$work/runner/temp/linq-secrets/ci-added.secret"
if (cd "$work/pr" && RUNNER_TEMP="$work/runner/temp" bash --noprofile --norc -eo pipefail "$work/step-Store-new-signing-secrets.sh") >"$work/store.log" 2>&1; then
	die "'Store new signing secrets' passed although a secret was not stored anywhere"
fi
grep -q '^::error::new signing secret for subscription "ci-added"' "$work/store.log" || { cat "$work/store.log" >&2; die "'Store new signing secrets' did not name the unstored secret"; }
if grep -q 'whsec_' "$work/store.log"; then die "'Store new signing secrets' printed a secret"; fi
log "Store new signing secrets: ok (quiet with none; fails, naming it, with an unstored one)"

# 4. The scripts themselves.
shellcheck -x scripts/*.sh
log "shellcheck: scripts/*.sh are clean"
echo "check-workflow: ok"
