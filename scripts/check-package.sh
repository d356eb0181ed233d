#!/usr/bin/env bash
# check-package.sh: the .deb is what Debian expects, installs, and its service runs.
#
#   1. Build dist/linq-sync_<version>_<arch>.deb for this machine's architecture with
#      scripts/dist.sh (as `make package` does).
#   2. Its contents: the binary, the unit on /usr/bin, the conffile, alerts and schema,
#      and the completions for bash, zsh and fish (unless built without them).
#   3. Debian's lintian (as an unprivileged user) reports no error. The warnings that
#      remain are listed in README.md (Install) with their reasons; the ones the package
#      overrides are in packaging/lintian-overrides, with theirs.
#   4. scripts/check-systemd-run.sh with PACKAGE=: dpkg -i into a throw-away root under
#      a throw-away systemd; the installed unit starts, reaches READY against
#      `linq-sync mock-api`, reloads and stops; a second dpkg -i keeps an edited config.
#
# Runs as root; needs Go, dpkg, lintian (installed from Debian if missing) and what
# check-systemd-run.sh needs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

[ "$(id -u)" = 0 ] || die "run as root"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd dpkg-deb dpkg
need_cmd lintian lintian
need_cmd setpriv util-linux

arch=$(dpkg --print-architecture)
case $arch in amd64 | arm64) ;; *) die "no package for architecture $arch" ;; esac

# 1. Build.
ARCHES=$arch FORMATS=deb ./scripts/dist.sh packages
deb=dist/linq-sync_$(./scripts/dist.sh version)_$arch.deb
[ -f "$deb" ] || die "$deb was not built"
log "$deb: $(stat -c %s "$deb") bytes"

# 2. Contents.
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
listing=$(dpkg-deb -c "$deb" | awk '{ print $1, $NF }')
want=(
	'-rwxr-xr-x ./usr/bin/linq-sync'
	'-rw-r--r-- ./usr/lib/systemd/system/linq-sync.service'
	'-rw-r--r-- ./etc/linq-sync/subscriptions.yaml'
	'-rw-r--r-- ./usr/share/linq-sync/alerts.yaml'
	'-rw-r--r-- ./usr/share/linq-sync/subscriptions.schema.json'
	'-rw-r--r-- ./usr/share/doc/linq-sync/copyright'
)
if [ "${LINQ_SYNC_ALLOW_NO_COMPLETIONS:-0}" != 1 ] || [ -f dist/.build/completions/linq-sync.bash ]; then
	want+=(
		'-rw-r--r-- ./usr/share/bash-completion/completions/linq-sync'
		'-rw-r--r-- ./usr/share/zsh/vendor-completions/_linq-sync'
		'-rw-r--r-- ./usr/share/fish/vendor_completions.d/linq-sync.fish'
	)
else
	log "WARNING: no shell completions in the package (LINQ_SYNC_ALLOW_NO_COMPLETIONS=1)"
fi
for w in "${want[@]}"; do
	grep -qxF -- "$w" <<<"$listing" || { printf '%s\n' "$listing" >&2; die "$deb lacks: $w"; }
done
if [ -n "${want[6]:-}" ]; then
	# The bash completion loads and registers itself for linq-sync.
	dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/bash-completion/completions/linq-sync >"$home/completion.bash"
	bash -c '. "$1" && complete -p linq-sync' _ "$home/completion.bash" >/dev/null ||
		die "the packaged bash completion does not register a completion for linq-sync"
fi
conffiles=$(dpkg-deb --info "$deb" conffiles)
[ "$conffiles" = /etc/linq-sync/subscriptions.yaml ] || die "conffiles are '$conffiles', want /etc/linq-sync/subscriptions.yaml"
if grep -q '/usr/local/bin' <(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/lib/systemd/system/linq-sync.service); then
	die "the packaged unit still names /usr/local/bin"
fi
if grep -qE '^\./(var|usr/lib/sysusers\.d|usr/lib/tmpfiles\.d)/' <<<"$(dpkg-deb -c "$deb" | awk '{ print $NF }')"; then
	die "the package ships files under /var or sysusers/tmpfiles snippets: DynamicUser= and StateDirectory= need none"
fi
log "contents: binary, unit on /usr/bin, one conffile, alerts, schema${want[6]:+, completions (bash registers)}"

# The .rpm, built from the same configuration, if rpm is here to read it: the same
# files, and the config file marked %config(noreplace).
if command -v rpm >/dev/null 2>&1; then
	ARCHES=$arch FORMATS=rpm ./scripts/dist.sh packages
	rpmfile=${deb%.deb}.rpm
	files=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmfile")
	for f in /usr/bin/linq-sync /usr/lib/systemd/system/linq-sync.service /usr/share/linq-sync/alerts.yaml; do
		grep -qE " $f\$" <<<"$files" || { printf '%s\n' "$files" >&2; die "$rpmfile lacks $f"; }
	done
	grep -qx 'cn /etc/linq-sync/subscriptions.yaml' <<<"$files" ||
		{ printf '%s\n' "$files" >&2; die "$rpmfile: /etc/linq-sync/subscriptions.yaml is not %config(noreplace)"; }
	log "$rpmfile: same files; subscriptions.yaml is %config(noreplace)"
fi

# 3. lintian, unprivileged (it warns when run as root), with a private HOME.
chown nobody "$home"
lint() { setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$home" lintian "$@" "$(realpath "$deb")" 2>&1; }
rc=0
out=$(lint --info --display-info --pedantic) || rc=$?
if grep -q '^E: ' <<<"$out" || [ "$rc" != 0 ]; then
	printf '%s\n' "$out" >&2
	die "lintian reports errors (exit $rc)"
fi
# Once more to show the overridden tags too (--show-overrides exits 2 when an
# overridden tag is an error, so only the run above decides).
summary=$(lint --pedantic --display-info --show-overrides | grep -E '^[EWIPXO]: ' || true)
printf '%s\n' "${summary:-(no tags)}" | sed 's/^/lintian: /' >&2
log "lintian: no errors ($(grep -c '^W: ' <<<"$summary" || true) warnings, $(grep -c '^O: ' <<<"$summary" || true) overridden)"

# 4. Install and run for real.
PACKAGE=$deb bash scripts/check-systemd-run.sh
echo "check-package: ok"
