#!/usr/bin/env bash
# check-image.sh: build the container image from the Dockerfile with podman, and run it
# as users will.
#
# No image registry is reachable here, so the two base images the Dockerfile's FROM
# lines name are built locally first, under those exact names, with the same shape:
#   - golang:1.26 (docker.io/library/golang:1.26): this machine's Go toolchain
#     (/usr/local/go) on a static busybox, with GOPATH=/go and the same PATH. Its
#     GOPROXY is file:///go-modproxy, a read-only bind of this machine's module cache
#     (GOFLAGS=-mod=mod, GOSUMDB=off), so the build downloads nothing;
#   - gcr.io/distroless/static-debian12:nonroot: CA certificates, tzdata, /etc/passwd
#     and /etc/group with root and nonroot (65532), /home/nonroot and /tmp, USER 65532;
#     nothing else (no shell, no package manager, no libc).
# Anywhere a registry is reachable, `docker build .` or `podman build .` pulls the real
# ones; the Dockerfile is the same file either way. The stand-ins are rebuilt only when
# the Go version or this script changes (a label records both).
#
# Then, as a user would run it:
#   podman run --read-only (and no tmpfs), the config directory mounted read-only, the
#   token from a file (0400, owned by 65532), a named volume on /var/lib/linq-sync,
# with --network=host so that it reaches `linq-sync mock-api` on the host's 127.0.0.1
# and listens on 127.0.0.1 only (never on a non-loopback address). It checks that the
# process runs as 65532, /healthz and /metrics answer on its port, the first reconcile
# applied the file (a plan from the host against the fake API is clean), the signing
# secrets are on the volume (0600, owned by 65532), and `podman stop` (SIGTERM, 10 s
# stop timeout) ends it with exit code 0, not a SIGKILL. Prints the image size.
#
# podman runs with scripts/podman/containers.conf (CONTAINERS_CONF): runc, cgroupfs,
# no default ulimits. Runs as root; installs podman, runc and busybox-static from
# Debian when missing.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

[ "$(id -u)" = 0 ] || die "run as root"
command -v go >/dev/null 2>&1 || die "go is not on PATH"
need_cmd podman podman
need_cmd runc runc
need_cmd busybox busybox-static
need_cmd curl curl
need_cmd ss iproute2
export CONTAINERS_CONF=$PWD/scripts/podman/containers.conf

VERSION=${VERSION:-0.0.0-check-image}
IMAGE=localhost/linq-sync:check
BUILDER=docker.io/library/golang:1.26
BASE=gcr.io/distroless/static-debian12:nonroot
GOROOT_HOST=$(go env GOROOT)
MODPROXY=$(go env GOMODCACHE)/cache/download
STOP_TIMEOUT=10
RUN_UID=65532

work=$(mktemp -d)
name=linq-sync-check-$$
volume=linq-sync-check-$$
mock_pid=
cleanup() {
	podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
	podman volume rm -f "$volume" >/dev/null 2>&1 || true
	[ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null || true
	# Untagged images (earlier builds' stages, replaced stand-ins) would pile up run
	# after run; the tagged ones stay for the next run's layer cache.
	podman image prune -f >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# current REF: the image REF exists and carries the label for $key.
current() {
	if [ "$(podman image inspect -f '{{index .Labels "io.linq-sync.stand-in"}}' "$1" 2>/dev/null)" = "$key" ]; then
		log "stand-in $1 is current"
		return 0
	fi
	return 1
}
# stand_in REF TARDIR CHANGES...: podman import TARDIR as REF, labelled with $key.
stand_in() {
	local ref=$1 dir=$2
	shift 2
	local changes=() c
	for c in "$@" "LABEL io.linq-sync.stand-in=$key"; do changes+=(--change "$c"); done
	tar --sort=name --owner=0 --group=0 --numeric-owner -C "$dir" -cf - . |
		podman import -q "${changes[@]}" - "$ref" >/dev/null
	log "stand-in $ref built ($(podman image inspect -f '{{.Size}}' "$ref") bytes)"
}

key="$(go env GOVERSION)-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
std_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The builder: busybox for the Dockerfile's shell steps, the Go toolchain, root's home.
if ! current "$BUILDER"; then
b=$work/builder
# Merged /usr, as on Debian: /bin and /sbin are links to usr/bin (#!/usr/bin/env works).
mkdir -p "$b/usr/bin" "$b/etc" "$b/root" "$b/tmp" "$b/go" "$b/usr/local" "$b/go-modproxy"
ln -s usr/bin "$b/bin" && ln -s usr/bin "$b/sbin"
chmod 1777 "$b/tmp"
cp "$(command -v busybox)" "$b/usr/bin/busybox"
for applet in $(busybox --list); do [ -e "$b/usr/bin/$applet" ] || ln -s busybox "$b/usr/bin/$applet"; done
# busybox has no install(1), which the Dockerfile runs: GNU install and its libraries.
for top in lib lib64; do
	[ ! -L "/$top" ] || { mkdir -p "$b/usr/$top" && ln -s "$(readlink "/$top")" "$b/$top"; }
done
for f in /usr/bin/install $(ldd /usr/bin/install | grep -oE '/[^ ]+'); do
	mkdir -p "$b$(dirname "$f")"
	cp -L "$f" "$b$f"
done
cp -a "$GOROOT_HOST" "$b/usr/local/go"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$b/etc/passwd"
printf 'root:x:0:\n' >"$b/etc/group"
stand_in "$BUILDER" "$b" \
	"ENV PATH=/go/bin:/usr/local/go/bin:$std_path" "ENV GOPATH=/go" "ENV GOTOOLCHAIN=local" \
	"ENV GOPROXY=file:///go-modproxy" "ENV GOSUMDB=off" "ENV GOFLAGS=-mod=mod" "WORKDIR /go"
rm -rf "$b"
fi

# The distroless-shaped base.
if ! current "$BASE"; then
d=$work/base
mkdir -p "$d/etc/ssl/certs" "$d/usr/share" "$d/home/nonroot" "$d/tmp"
chmod 1777 "$d/tmp"
chmod 0700 "$d/home/nonroot" && chown "$RUN_UID:$RUN_UID" "$d/home/nonroot"
cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
cp -a /usr/share/zoneinfo "$d/usr/share/zoneinfo"
cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$d/etc/group"
printf 'hosts: files dns\n' >"$d/etc/nsswitch.conf"
stand_in "$BASE" "$d" \
	"ENV PATH=$std_path" "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
	"USER $RUN_UID" "WORKDIR /home/nonroot"
fi

# The image, from the repository's Dockerfile, unchanged.
[ -d "$MODPROXY" ] || die "no module cache at $MODPROXY: run go mod download"
log "building $IMAGE from the Dockerfile (VERSION=$VERSION)"
start=$SECONDS
# docker buildx sets TARGETOS and TARGETARCH itself; podman 4.3 does not, so pass them.
podman build -q --pull=never --network=none --build-arg VERSION="$VERSION" \
	--build-arg TARGETOS="$(go env GOOS)" --build-arg TARGETARCH="$(go env GOARCH)" \
	-v "$MODPROXY:/go-modproxy:ro" -t "$IMAGE" . >/dev/null
size=$(podman image inspect -f '{{.Size}}' "$IMAGE")
log "built in $((SECONDS - start)) s; image size: $size bytes ($((size / 1024 / 1024)) MiB)"

out=$(podman run --rm --pull=never "$IMAGE" version)
grep -qF -- "$VERSION" <<<"$out" || die "'linq-sync version' in the image prints '$out', not $VERSION"

if podman run --rm --pull=never --entrypoint /bin/sh "$IMAGE" -c true >/dev/null 2>&1; then
	die "the image has a shell: its base is not distroless-shaped"
fi
log "'linq-sync version' in the image: $(head -n1 <<<"$out"); no shell in the image"

# Two free loopback ports: the fake API and the container's listener.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		[ -n "$(ss -Htln "sport = :$p")" ] || { echo "$p"; return; }
	done
}
api_port=$(free_port)
port=$(free_port)
[ "$port" != "$api_port" ] || port=$((api_port + 1))

# The fake API on the host.
go build -o "$work/linq-sync" ./cmd/linq-sync
"$work/linq-sync" mock-api --listen "127.0.0.1:$api_port" --token test-token >"$work/mock-api.log" 2>&1 &
mock_pid=$!

# What a user prepares: the config directory and a token file only 65532 can read.
mkdir -p "$work/config"
cp examples/subscriptions.yaml "$work/config/"
chmod 0555 "$work/config" && chmod 0444 "$work/config/subscriptions.yaml"
(umask 077 && echo test-token >"$work/token")
chown "$RUN_UID:$RUN_UID" "$work/token" && chmod 0400 "$work/token"
podman volume create "$volume" >/dev/null

podman run -d --name "$name" --pull=never --read-only --read-only-tmpfs=false \
	--network=host --stop-timeout "$STOP_TIMEOUT" \
	-v "$work/config:/etc/linq-sync:ro" \
	-v "$work/token:/run/secrets/linq-token:ro" \
	-v "$volume:/var/lib/linq-sync" \
	-e LINQ_API_V3_BASE_URL="http://127.0.0.1:$api_port" \
	"$IMAGE" run --token-file /run/secrets/linq-token \
	--listen "127.0.0.1:$port" --secrets-dir /var/lib/linq-sync/secrets >/dev/null

show_failure() {
	podman logs "$name" >&2 || true
	die "$*"
}
# still_running: for wait_for (lib.sh).
still_running() { [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ]; }
wait_for 30 "/readyz on 127.0.0.1:$port" curl -fsS "http://127.0.0.1:$port/readyz"

pid=$(podman inspect -f '{{.State.Pid}}' "$name")
ids=$(awk '/^Uid:|^Gid:/ { print $1, $2, $3 }' "/proc/$pid/status" | tr '\n' ' ')
[ "$ids" = "Uid: $RUN_UID $RUN_UID Gid: $RUN_UID $RUN_UID " ] || show_failure "the process runs as $ids, want $RUN_UID"
log "the process runs as uid/gid $RUN_UID"

curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || show_failure "/healthz failed"
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics") || show_failure "/metrics failed"
grep -q '^linq_sync_changes_applied_total{action="create"} [1-9]' <<<"$metrics" ||
	show_failure "/metrics shows no applied creates"
log "/healthz, /readyz and /metrics answer on 127.0.0.1:$port"

# Applied: the plan from the host against the same fake API has nothing to do.
rc=0
plan=$(LINQ_API_V3_BASE_URL="http://127.0.0.1:$api_port" LINQ_API_V3_API_KEY=test-token \
	"$work/linq-sync" plan -f "$work/config/subscriptions.yaml" 2>&1) || rc=$?
[ "$rc" = 0 ] || { printf '%s\n' "$plan" >&2; show_failure "a plan after the container's reconcile exits $rc, want 0 (no changes)"; }
log "the file is applied: a plan from the host against the fake API is clean"

mnt=$(podman volume inspect -f '{{.Mountpoint}}' "$volume")
want=$(grep -c '^  - name:' examples/subscriptions.yaml)
n=$(find "$mnt/secrets" -name '*.secret' | wc -l)
[ "$n" = "$want" ] || show_failure "$n secret files on the volume, want $want"
perms=$(find "$mnt/secrets" -name '*.secret' -printf '%m %U:%G\n' | sort -u)
[ "$perms" = "600 $RUN_UID:$RUN_UID" ] || show_failure "secret files are '$perms', want '600 $RUN_UID:$RUN_UID'"
log "volume: $n secrets, mode 0600, owned by $RUN_UID:$RUN_UID"

podman stop -t "$STOP_TIMEOUT" "$name" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || show_failure "after SIGTERM the container exited $code, want 0 (137 means it was killed after ${STOP_TIMEOUT}s)"
log "podman stop (SIGTERM, stop timeout ${STOP_TIMEOUT}s): exit code 0"
echo "check-image: ok (image $size bytes)"
