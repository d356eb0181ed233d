#!/usr/bin/env bash
# check-static.sh: the binary the container image ships is static and runs unprivileged.
#
#   1. Build from a copy of exactly the files .dockerignore lets into the image's build
#      context, with scripts/build-static.sh, the script the Dockerfile runs.
#   2. The binary has no dynamic section and no interpreter (runs on distroless/static
#      or scratch), no symbol table (-s -w), was built with CGO_ENABLED=0 and -trimpath,
#      and carries the version stamped with -X.
#   3. As uid/gid 65532 (the image's "nonroot"), with a cleared environment, no token and
#      a read-only config directory (0555, file 0444) as the working directory:
#      `linq-sync version` prints that version and `linq-sync validate -f` accepts
#      examples/subscriptions.yaml.
#
# Runs as root (to switch user); needs Go, readelf (binutils) and setpriv (util-linux).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

RUN_UID=65532
RUN_GID=65532
VERSION=0.0.0-check-static
EXAMPLE=examples/subscriptions.yaml

[ "$(id -u)" = 0 ] || die "run as root: the check switches to uid $RUN_UID"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd readelf binutils
need_cmd setpriv util-linux
[ -f "$EXAMPLE" ] || die "$EXAMPLE not found"
# The Dockerfile keeps its shape: a cross-compiling build stage that runs
# scripts/build-static.sh, and a minimal non-root final stage (no engine runs
# here to build it, so its lines are checked).
# shellcheck disable=SC2016 # the patterns match a literal $ in the Dockerfile
for want in \
	'^FROM --platform=\$BUILDPLATFORM golang:1\.26 AS build$' \
	'^    GOOS=\$TARGETOS GOARCH=\$TARGETARCH VERSION=\$VERSION \./scripts/build-static\.sh ' \
	'^FROM gcr\.io/distroless/static-debian12:nonroot$' \
	'^USER 65532:65532$' \
	'^EXPOSE 9464$' \
	'^ENTRYPOINT \["linq-sync"\]$' \
	'^CMD \["run"' \
	'^VOLUME \["/var/lib/linq-sync"\]$'; do
	grep -qE -- "$want" Dockerfile || die "Dockerfile: no line matches $want"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"

# 1. The build context: every path that a "!" line re-includes after the leading "*",
# minus what the "**/NAME" lines exclude. Other pattern shapes are refused rather than
# guessed at, so this copy cannot silently drift from what docker would send.
ctx="$work/context"
mkdir "$ctx"
saw_star=0
excludes=()
while IFS= read -r pat || [ -n "$pat" ]; do
	case $pat in
	'' | '#'*) continue ;;
	'*') saw_star=1 ;;
	'!'*)
		pat=${pat#!}
		pat=${pat%/}
		# Globs such as *.go expand here, at the top level, as docker matches them.
		for p in $pat; do
			[ -e "$p" ] || continue
			mkdir -p "$ctx/$(dirname "$p")"
			cp -a "$p" "$ctx/$p"
		done
		;;
	'**/'*) excludes+=("${pat#\*\*/}") ;;
	*) die ".dockerignore: pattern $pat is not understood by this check; extend check-static.sh" ;;
	esac
done <.dockerignore
[ "$saw_star" = 1 ] || die ".dockerignore must start from '*' (an allow list) for this check"
for ex in "${excludes[@]}"; do
	ex=${ex%/}
	find "$ctx" -depth -name "$ex" -exec rm -rf {} +
done

bin="$work/bin/linq-sync"
log "building $bin from the image's build context"
(cd "$ctx" && VERSION=$VERSION ./scripts/build-static.sh "$bin")
chmod 0755 "$work/bin" "$bin"

# 2. Static, stripped, as the Dockerfile asks.
dyn=$(LC_ALL=C readelf -d "$bin" 2>&1 || true)
case $dyn in
*'There is no dynamic section'*) ;;
*) printf '%s\n' "$dyn" >&2; die "$bin has a dynamic section: it is not statically linked" ;;
esac
if LC_ALL=C readelf -l "$bin" | grep -q 'INTERP'; then
	die "$bin asks for a program interpreter (dynamic loader)"
fi
if LC_ALL=C readelf -S "$bin" | grep -qE '\.symtab\b'; then
	die "$bin has a symbol table: -ldflags -s was not applied"
fi
info=$(go version -m "$bin")
# (-trimpath keeps -ldflags out of the build info; the version check below covers -X.)
for want in 'CGO_ENABLED=0' '-trimpath=true'; do
	grep -qF -- "$want" <<<"$info" || { printf '%s\n' "$info" >&2; die "build settings lack $want"; }
done
if command -v file >/dev/null 2>&1; then
	log "file: $(file -b "$bin")"
fi
log "$bin is static and stripped ($(stat -c %s "$bin") bytes)"

# 3. Unprivileged run from a read-only config directory.
conf="$work/etc/linq-sync"
mkdir -p "$conf"
cp "$EXAMPLE" "$conf/subscriptions.yaml"
chmod 0444 "$conf/subscriptions.yaml"
chmod 0555 "$conf" "$work/etc"

# as_nonroot CMD...: run CMD as 65532:65532 with no supplementary groups, no
# capabilities, no new privileges and only a minimal environment, in $conf.
as_nonroot() {
	(cd "$conf" && setpriv --reuid="$RUN_UID" --regid="$RUN_GID" --clear-groups \
		--inh-caps=-all --bounding-set=-all --no-new-privs \
		env -i PATH=/usr/bin:/bin HOME=/nonexistent LANG=C.UTF-8 "$@")
}

if as_nonroot sh -c ': >probe' 2>/dev/null; then
	die "uid $RUN_UID could write to $conf: the read-only setup is broken"
fi

out=$(as_nonroot "$bin" version 2>&1) || { printf '%s\n' "$out" >&2; die "'linq-sync version' failed as uid $RUN_UID"; }
grep -qF -- "$VERSION" <<<"$out" || { printf '%s\n' "$out" >&2; die "'linq-sync version' does not print $VERSION"; }
log "version as uid $RUN_UID: $(head -n1 <<<"$out")"

out=$(as_nonroot "$bin" validate -f subscriptions.yaml 2>&1) || {
	printf '%s\n' "$out" >&2
	die "'linq-sync validate -f subscriptions.yaml' failed as uid $RUN_UID in a read-only directory"
}
log "validate as uid $RUN_UID: ok"

[ -z "$(find "$conf" -mindepth 1 ! -name subscriptions.yaml)" ] || die "linq-sync left files in the config directory"
echo "check-static: ok"
