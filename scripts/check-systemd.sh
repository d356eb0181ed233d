#!/usr/bin/env bash
# check-systemd.sh: the systemd unit in systemd/ is valid and tightly sandboxed.
#
#   1. the settings the deployment relies on are present (Type=notify, not notify-reload, ...);
#   2. `systemd-analyze verify` reports nothing (it exits 0 even on unknown keys, so any
#      output at all is a failure);
#   3. `systemd-analyze security --offline=true` scores the unit MAX_EXPOSURE (2.0) or lower.
#
# Needs no running systemd and no binary at /usr/local/bin: verify runs against a
# throw-away root (--root) holding a copy of the host's unit directory and stub
# executables at the paths ExecStart= and ExecReload= name.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

UNIT=${UNIT:-systemd/linq-sync.service}
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}

need_cmd systemd-analyze systemd
[ -f "$UNIT" ] || die "$UNIT not found"

# 1. Required settings, one per line, matched as whole lines.
# shellcheck disable=SC2016 # literal unit lines, $MAINPID included
required=(
	'Type=notify'
	'ExecReload=/bin/kill -HUP $MAINPID'
	'Restart=on-failure'
	'LoadCredential=linq-token:/etc/linq-sync/token'
	'EnvironmentFile=-/etc/linq-sync/linq-sync.env'
	'DynamicUser=yes'
	'StateDirectoryMode=0700'
	'ConfigurationDirectory=linq-sync'
	'ProtectSystem=strict'
	'ProtectHome=yes'
	'PrivateTmp=yes'
	'NoNewPrivileges=yes'
	'CapabilityBoundingSet='
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'
	'SystemCallFilter=@system-service'
	'UMask=0077'
)
missing=0
for line in "${required[@]}"; do
	if ! grep -qxF -- "$line" "$UNIT"; then
		log "$UNIT lacks the line: $line"
		missing=1
	fi
done
grep -qE '^WatchdogSec=[1-9]' "$UNIT" || { log "$UNIT lacks WatchdogSec="; missing=1; }
grep -qE '^ExecStart=/usr/local/bin/linq-sync run ' "$UNIT" || { log "$UNIT: ExecStart= must run /usr/local/bin/linq-sync run"; missing=1; }
grep -qE '^StateDirectory=linq-sync( |$)' "$UNIT" || { log "$UNIT lacks StateDirectory=linq-sync"; missing=1; }
if grep -qE '^Type=notify-reload' "$UNIT"; then
	log "$UNIT: Type=notify-reload is rejected by systemd < 253 (Debian 12)"
	missing=1
fi
[ "$missing" = 0 ] || die "$UNIT lacks required settings"
log "required settings present"

# 2. systemd-analyze verify in a throw-away root.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd/system" "$root/usr/local/bin" "$root/bin"
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -d "$d" ]; then
		cp -a "$d/." "$root/usr/lib/systemd/system/"
		break
	fi
done
[ -e "$root/usr/lib/systemd/system/sysinit.target" ] || die "no systemd unit directory to copy (sysinit.target not found)"
for exe in /usr/local/bin/linq-sync /bin/kill; do
	printf '#!/bin/sh\nexit 0\n' >"$root$exe"
	chmod 0755 "$root$exe"
done
cp "$UNIT" "$root/etc/systemd/system/linq-sync.service"

# verify_in_root UNITNAME prints what systemd-analyze verify says about the unit in $root.
verify_in_root() {
	(cd "$root" && systemd-analyze verify --man=no --root="$root" "$1" 2>&1) || echo "exit status $?"
}

# Guard against a systemd-analyze that stays quiet whatever it is given: a unit with an
# unknown key and a bad value must produce output, or this check proves nothing.
{
	cat "$UNIT"
	printf '[Service]\nNoSuchKey=1\nProtectSystem=sideways\n'
} >"$root/etc/systemd/system/linq-sync-broken.service"
if [ -z "$(verify_in_root linq-sync-broken.service)" ]; then
	die "systemd-analyze verify reported nothing for a broken unit; cannot trust it here"
fi
rm "$root/etc/systemd/system/linq-sync-broken.service"

out=$(verify_in_root linq-sync.service)
if [ -n "$out" ]; then
	printf '%s\n' "$out" >&2
	die "systemd-analyze verify $UNIT reported problems"
fi
log "systemd-analyze verify: clean"

# 3. Exposure score. --threshold takes tenths: 20 means 2.0.
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
set +e
report=$(systemd-analyze security --offline=true --threshold="$threshold" "$UNIT" 2>&1)
status=$?
set -e
score=$(printf '%s\n' "$report" | sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*$/\1/p')
[ -n "$score" ] || { printf '%s\n' "$report" >&2; die "could not read the overall exposure level"; }
printf '%s\n' "$report" | grep -E '^✗|Overall' >&2 || true
if [ "$status" != 0 ] || awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
	die "systemd-analyze security: exposure $score is above $MAX_EXPOSURE"
fi
echo "systemd-analyze security --offline=true $UNIT: exposure $score (limit $MAX_EXPOSURE)"
echo "check-systemd: ok"
