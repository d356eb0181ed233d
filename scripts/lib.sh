# shellcheck shell=bash
# Helpers shared by the scripts/check-*.sh deployment checks. Source it; do not run it.

# log prints a progress line on stderr, prefixed with the calling script's name.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# die prints an error on stderr and exits 1.
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

_apt_updated=
# need_cmd CMD PACKAGE installs Debian's PACKAGE with apt-get when CMD is not on PATH,
# so the checks pass on a fresh machine as well as on one that has the tools already.
need_cmd() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "$cmd is missing and apt-get is not available to install $pkg"
	log "$cmd not found; installing Debian package $pkg"
	if [ -z "$_apt_updated" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
		_apt_updated=1
	fi
	# Packages such as prometheus ship a service; keep it from starting here while it
	# installs (a policy-rc.d that says "no" is how Debian containers do that).
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Use-Pty=0 "$pkg" >&2 || rc=$?
	[ -z "$made_policy" ] || rm -f "$policy"
	[ "$rc" = 0 ] || die "apt-get install $pkg failed"
	command -v "$cmd" >/dev/null 2>&1 || die "$pkg is installed but $cmd is still not on PATH"
}

# repo_root prints the repository's top directory (the parent of scripts/).
repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds. Past the
# deadline it fails through the caller's show_failure (which prints the service's state)
# if there is one, else die; a caller's still_running, if defined, is asked each round,
# so a process that has exited fails at once instead of at the deadline.
wait_for() {
	local deadline=$((SECONDS + $1)) what=$2 fail=die
	shift 2
	declare -F show_failure >/dev/null && fail=show_failure
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || "$fail" "timed out waiting for: $what"
		if declare -F still_running >/dev/null && ! still_running; then
			"$fail" "it exited while waiting for: $what"
		fi
		sleep 0.2
	done
}
