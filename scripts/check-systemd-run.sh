#!/usr/bin/env bash
# check-systemd-run.sh: systemd/linq-sync.service really runs under systemd, sandbox and all.
#
# check-systemd.sh proves the unit is well-formed and scores 2.0 or lower; this proves it
# works. It boots a throw-away systemd as PID 1 of private namespaces (pid, mount, net,
# uts, ipc, cgroup), loads only its own units (the repository's unit unchanged, plus a
# drop-in that sends output to a file, orders it after the fake API and shortens
# WatchdogSec=), and checks that:
#   - the service becomes active: Type=notify's READY=1 arrives, the system-call filter,
#     DynamicUser=, PrivateUsers=, ProtectSystem= and the rest let linq-sync work, and
#     the token arrives through LoadCredential=;
#   - the first reconcile against `linq-sync mock-api` creates the example's
#     subscriptions and writes their secrets 0600 under a 0700 StateDirectory=;
#   - /readyz answers 200 on 127.0.0.1:9464;
#   - `systemctl reload` (SIGHUP) and an edit of /etc/linq-sync/subscriptions.yaml
#     both reload, and the edit is applied;
#   - watchdog pings keep it alive past WatchdogSec=;
#   - `systemd-analyze security` on the loaded unit scores 2.0 or lower;
#   - `systemctl stop` ends it cleanly (exit status 0).
#
# With PACKAGE=dist/linq-sync_..._<arch>.deb it checks the package instead of the
# repository's unit: `dpkg -i` inside the booted system installs it into a throw-away
# root (copy-on-write overlays of /usr and /var/lib, a copy of /etc), its postinst
# reloads that systemd and starts nothing, and the checks above then run on the
# installed /usr/lib/systemd/system/linq-sync.service and /usr/bin/linq-sync, after
# writing the token and env file as the postinst message says. Finally a second
# `dpkg -i` over it keeps the edited /etc/linq-sync/subscriptions.yaml (a conffile),
# and the service starts again with it.
#
# Nothing on the host changes: the booted systemd sees a copy of /etc, a private
# /usr/local/bin (or, for a package, overlays of /usr and /var/lib), and private tmpfs
# on /tmp, /var/tmp, /run, /var/lib, /var/log, /var/cache and /srv; it loads no unit
# but its own (SYSTEMD_UNIT_PATH; for a package, /usr/lib/systemd/system after them)
# and runs no generator. Needs root with CAP_SYS_ADMIN and cgroup2; where namespaces
# cannot be made it skips (exit 0, saying so), except in CI (CI=true), where it fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

MAX_EXPOSURE=2.0
[ "$(id -u)" = 0 ] || die "run as root"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd systemd-analyze systemd
need_cmd unshare util-linux
need_cmd nsenter util-linux
need_cmd ip iproute2
need_cmd curl curl
[ -x /lib/systemd/systemd ] || die "/lib/systemd/systemd not found"
if ! grep -qw cgroup2 /proc/filesystems || ! unshare --mount --pid --fork --cgroup true 2>/dev/null; then
	[ "${CI:-}" != true ] || die "this machine cannot make the namespaces (or has no cgroup2)"
	echo "check-systemd-run: skipped: this machine cannot make the namespaces (or has no cgroup2)"
	exit 0
fi
PACKAGE=${PACKAGE:-}
if [ -n "$PACKAGE" ]; then
	[ -f "$PACKAGE" ] || die "$PACKAGE not found"
	need_cmd dpkg dpkg
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
fi

S=$(mktemp -d)
ns_pid=
sd_pid=
cleanup() {
	# Killing PID 1 of the namespace ends everything in it.
	[ -z "$sd_pid" ] || kill -9 "$sd_pid" 2>/dev/null || true
	[ -z "$ns_pid" ] || kill -9 "$ns_pid" 2>/dev/null || true
	rm -rf "$S"
}
trap cleanup EXIT

# The stage: binary, /etc copy with the config, token and env file, and the units.
# For a package, only the .deb: the config, token and env file are written after it is
# installed, and the binary and unit are the ones it installs.
mkdir -p "$S/bin" "$S/units/linq-sync.service.d" "$S/empty" "$S/pkg"
cp -a /etc "$S/etc"
rm -rf "$S/etc/linq-sync"
if [ -n "$PACKAGE" ]; then
	cp "$PACKAGE" "$S/pkg/linq-sync.deb"
	mkdir -p "$S/usr.upper" "$S/usr.work" "$S/varlib.upper" "$S/varlib.work"
	bin=/usr/bin/linq-sync
	unit_path=/run/check/units:/usr/lib/systemd/system
	wants=
else
	go build -o "$S/bin/linq-sync" ./cmd/linq-sync
	install -d -m 0755 "$S/etc/linq-sync"
	install -m 0644 examples/subscriptions.yaml "$S/etc/linq-sync/subscriptions.yaml"
	install -m 0600 /dev/null "$S/etc/linq-sync/token"
	echo test-token >"$S/etc/linq-sync/token"
	printf 'LINQ_API_V3_BASE_URL=http://127.0.0.1:4010\nLINQ_SYNC_LOG_LEVEL=debug\n' >"$S/etc/linq-sync/linq-sync.env"
	cp "${UNIT:-systemd/linq-sync.service}" "$S/units/linq-sync.service"
	bin=/usr/local/bin/linq-sync
	unit_path=/run/check/units
	wants="mock-api.service linq-sync.service"
fi
cat >"$S/units/linq-sync.service.d/check.conf" <<'EOF'
[Unit]
After=mock-api.service
[Service]
StandardOutput=append:/run/linq-sync.log
StandardError=inherit
WatchdogSec=3s
EOF
cat >"$S/units/mock-api.service" <<EOF
[Unit]
Description=fake Linq API
[Service]
ExecStart=$bin mock-api --listen 127.0.0.1:4010 --token test-token
StandardOutput=append:/run/mock-api.log
StandardError=inherit
EOF
for t in sysinit basic shutdown; do
	printf '[Unit]\nDescription=%s (check)\nDefaultDependencies=no\n' "$t" >"$S/units/$t.target"
done
printf '[Unit]\nDescription=System Slice (check)\nDefaultDependencies=no\n' >"$S/units/system.slice"
printf '[Unit]\nDescription=linq-sync check\nWants=%s\n' "$wants" >"$S/units/check.target"

# The throw-away root's file systems: a private /usr/local/bin, or, for a package,
# copy-on-write overlays of /usr and /var/lib (dpkg's database) for dpkg to write into.
if [ -n "$PACKAGE" ]; then
	root_mounts="mount -t overlay overlay -o lowerdir=/usr,upperdir=$S/usr.upper,workdir=$S/usr.work /usr
for d in /var/log /var/cache /srv; do mount -t tmpfs -o mode=0755 tmpfs \"\$d\"; done
mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$S/varlib.upper,workdir=$S/varlib.work /var/lib"
else
	root_mounts="mount --bind $S/bin /usr/local/bin
for d in /var/lib /var/log /var/cache /srv; do mount -t tmpfs -o mode=0755 tmpfs \"\$d\"; done"
fi

cat >"$S/boot.sh" <<EOF
#!/bin/bash
set -eu
mount --make-rprivate /
mount --bind "$S/etc" /etc
$root_mounts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/check/units /run/check/empty /run/check/pkg
mount --bind "$S/units" /run/check/units
mount --bind "$S/pkg" /run/check/pkg
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "\$d"; done
ip link set lo up
umount -R /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# New peer groups inside this namespace only, so the mounts PID 1 makes (credentials)
# reach the services' namespaces as they do on a host.
mount --make-rshared /
exec env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin \\
	SYSTEMD_UNIT_PATH=$unit_path SYSTEMD_GENERATOR_PATH=/run/check/empty \\
	SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/check/empty \\
	/lib/systemd/systemd --system --unit=check.target --log-target=null
EOF
chmod 0755 "$S/boot.sh"

setsid unshare --pid --fork --mount --uts --ipc --net --cgroup --mount-proc "$S/boot.sh" \
	</dev/null >"$S/boot.log" 2>&1 &
ns_pid=$!
disown "$ns_pid" # its end, when cleanup kills it, is expected: no job notice
for _ in $(seq 100); do
	sd_pid=$(pgrep -P "$ns_pid" -x systemd || true)
	[ -n "$sd_pid" ] && break
	kill -0 "$ns_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$sd_pid" ] || { cat "$S/boot.log" >&2; die "systemd did not start in the namespaces"; }

# inside CMD...: run CMD in the booted system's namespaces.
inside() { nsenter -t "$sd_pid" -a "$@"; }
# show_failure: print the unit's state and output, then fail.
show_failure() {
	inside systemctl --no-pager status linq-sync >&2 || true
	inside cat /run/linq-sync.log >&2 || true
	die "$*"
}
# metric SERIES: the value of one series on /metrics (empty when absent).
metric() {
	inside curl -s http://127.0.0.1:9464/metrics | awk -v s="$1" '$1 == s { print $2 }'
}
# metric_at_least SERIES N: the series exists and is N or more.
metric_at_least() {
	local v
	v=$(metric "$1")
	[ -n "$v" ] && awk -v v="$v" -v n="$2" 'BEGIN { exit !(v >= n) }'
}

# install_package: dpkg -i the package inside; its output goes to $S/dpkg.log.
install_package() {
	inside env DEBIAN_FRONTEND=noninteractive dpkg -i /run/check/pkg/linq-sync.deb >"$S/dpkg.log" 2>&1 ||
		{ cat "$S/dpkg.log" >&2; die "dpkg -i $PACKAGE failed"; }
}
if [ -n "$PACKAGE" ]; then
	install_package
	grep -q 'installed, not started' "$S/dpkg.log" || { cat "$S/dpkg.log" >&2; die "the postinst did not say how to start the service"; }
	state=$(inside systemctl show -p LoadState -p ActiveState -p UnitFileState -p FragmentPath linq-sync | sort | tr '\n' ' ')
	[ "$state" = "ActiveState=inactive FragmentPath=/usr/lib/systemd/system/linq-sync.service LoadState=loaded UnitFileState=disabled " ] ||
		show_failure "after dpkg -i: $state (want the unit loaded from the package, inactive, disabled)"
	inside test -f /etc/linq-sync/subscriptions.yaml || die "the package did not install /etc/linq-sync/subscriptions.yaml"
	# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
	inside dpkg-query -W -f='${Conffiles}\n' linq-sync | grep -q '^ /etc/linq-sync/subscriptions.yaml ' ||
		die "/etc/linq-sync/subscriptions.yaml is not a conffile"
	log "dpkg -i $(basename "$PACKAGE"): unit loaded from /usr/lib/systemd/system, not started, not enabled"
	# What the postinst message tells the administrator to do (the token), plus the fake
	# API's address for this check.
	inside sh -c 'umask 077 && echo test-token >/etc/linq-sync/token'
	inside sh -c 'printf "LINQ_API_V3_BASE_URL=http://127.0.0.1:4010\nLINQ_SYNC_LOG_LEVEL=debug\n" >/etc/linq-sync/linq-sync.env'
	inside systemctl start mock-api
	inside systemctl start --no-block linq-sync
fi

wait_for 30 "linq-sync.service active" sh -c "[ \"\$(nsenter -t $sd_pid -a systemctl is-active linq-sync)\" = active ]"
log "linq-sync.service is active (READY=1 received) under systemd $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"

code=$(inside curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/readyz || true)
[ "$code" = 200 ] || show_failure "/readyz answered $code, want 200"

n=$(inside sh -c 'ls /var/lib/private/linq-sync/secrets/ | grep -c "\.secret$"')
want=$(grep -c '^  - name:' examples/subscriptions.yaml)
[ "$n" = "$want" ] || show_failure "$n secret files, want one per subscription ($want)"
perms=$(inside sh -c "stat -c '%a %U' /var/lib/private/linq-sync/secrets /var/lib/private/linq-sync/secrets/*.secret" | sort -u)
bad=$(grep -vE '^(700|600) ' <<<"$perms" | grep -v '^$' || true)
[ -z "$bad" ] || show_failure "secret permissions are not 0700/0600: $bad"
grep -q ' root$' <<<"$perms" && show_failure "secrets are owned by root, not the dynamic user"
log "first reconcile: $n secrets, $(head -n1 <<<"$perms" | cut -d' ' -f2) owns them, modes 0700/0600"

pid=$(inside systemctl show -p MainPID --value linq-sync)
reloads=$(metric 'linq_sync_config_reloads_total{result="success"}')
inside systemctl reload linq-sync
wait_for 10 "a reload after SIGHUP" metric_at_least 'linq_sync_config_reloads_total{result="success"}' $((${reloads:-0} + 1))
[ "$(inside systemctl show -p MainPID --value linq-sync)" = "$pid" ] || show_failure "systemctl reload restarted the process"
inside sed -i 's/^      - message.failed$/      - message.read/' /etc/linq-sync/subscriptions.yaml
wait_for 10 "the edited file to be applied" metric_at_least 'linq_sync_changes_applied_total{action="update"}' 1
log "systemctl reload (SIGHUP) reloads in place; an edit of the file is seen and applied"

# WatchdogSec=3s here: alive and never restarted 5 s later means the pings arrive.
start=$(inside systemctl show -p ExecMainStartTimestampMonotonic --value linq-sync)
sleep 5
state=$(inside systemctl show -p ActiveState -p NRestarts -p ExecMainStartTimestampMonotonic linq-sync | sort | tr '\n' ' ')
[ "$state" = "ActiveState=active ExecMainStartTimestampMonotonic=$start NRestarts=0 " ] ||
	show_failure "after the watchdog window: $state"
log "watchdog: still running after 5 s with WatchdogSec=3s"

report=$(inside systemd-analyze security --no-pager linq-sync)
score=$(sed -n 's/^.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*$/\1/p' <<<"$report")
[ -n "$score" ] || show_failure "could not read the exposure level"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }' && show_failure "exposure $score is above $MAX_EXPOSURE"
log "systemd-analyze security linq-sync (loaded unit): exposure $score"

inside systemctl stop linq-sync
result=$(inside systemctl show -p Result -p ExecMainStatus linq-sync | sort | tr '\n' ' ')
[ "$result" = "ExecMainStatus=0 Result=success " ] || show_failure "after stop: $result"
log "systemctl stop: clean exit"

if [ -n "$PACKAGE" ]; then
	inside cp /etc/linq-sync/subscriptions.yaml /run/edited.yaml
	install_package
	inside cmp -s /etc/linq-sync/subscriptions.yaml /run/edited.yaml ||
		die "a second dpkg -i replaced the edited /etc/linq-sync/subscriptions.yaml"
	left=$(inside sh -c 'ls /etc/linq-sync/ | grep -E "\.dpkg-(new|dist|old)$"' || true)
	[ -z "$left" ] || die "a second dpkg -i left $left beside the edited config"
	grep -q 'upgraded' "$S/dpkg.log" || { cat "$S/dpkg.log" >&2; die "the postinst did not report the upgrade"; }
	[ "$(inside systemctl is-active linq-sync || true)" = inactive ] || show_failure "the second dpkg -i started the service"
	inside systemctl start linq-sync
	inside grep -q '^      - message.read$' /etc/linq-sync/subscriptions.yaml || die "the edit is gone"
	log "second dpkg -i: the edited conffile is kept (no .dpkg-new), nothing started; it starts again on it"
	inside systemctl stop linq-sync
fi
echo "check-systemd-run: ok (exposure $score${PACKAGE:+, package $(basename "$PACKAGE")})"
