#!/usr/bin/env bash
# kube-env.sh: provides the kube-apiserver and etcd binaries the Kubernetes
# integration tests run against, and prints the directory that holds both.
#
#   export LINQ_SYNC_KUBE_BIN=$(scripts/kube-env.sh)
#
# kube-apiserver is built once with `go build` from the Go module proxy's
# k8s.io/kubernetes module, in a throwaway module under the cache directory
# that requires it and replaces each k8s.io/* staging module (the ones the
# kubernetes go.mod points at ./staging/src/...) with its published release.
# The binary is cached and reused; nothing of Kubernetes' code lives in this
# repository. etcd comes from Debian's etcd-server package.
#
# Environment:
#   KUBE_VERSION      kubernetes release to build (default v1.37.2)
#   LINQ_SYNC_CACHE   cache root (default ~/.cache/linq-sync)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=${KUBE_VERSION:-v1.37.2}
# The staging modules are released as v0.MINOR.PATCH alongside v1.MINOR.PATCH.
staging_version=v0.${version#v1.}
cache=${LINQ_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/linq-sync}/kube
bin=$cache/$version/bin
mkdir -p "$bin"

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# One build at a time: concurrent callers wait for the first one's binary.
exec 9>"$cache/.lock"
flock 9

if [ ! -x "$bin/kube-apiserver" ]; then
	build=$cache/$version/build
	rm -rf "$build"
	mkdir -p "$build"
	cd "$build"
	log "building kube-apiserver $version (once; this takes several minutes)"
	start=$(date +%s)
	cat >go.mod <<-EOF
		module linq-sync.invalid/kubebuild

		go 1.26.0
	EOF
	# The kubernetes go.mod names its staging modules with replace directives
	# pointing into ./staging; derive the list from it rather than hard-coding.
	kmod=$(go mod download -json "k8s.io/kubernetes@$version" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[ -f "$kmod" ] || die "could not download the go.mod of k8s.io/kubernetes@$version"
	mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$kmod" | sort -u)
	[ "${#staging[@]}" -gt 0 ] || die "no staging modules found in $kmod"
	log "replacing ${#staging[@]} staging modules with $staging_version"
	args=()
	for m in "${staging[@]}"; do args+=("-replace=$m=$m@$staging_version"); done
	go mod edit "-require=k8s.io/kubernetes@$version" "${args[@]}"
	# -mod=mod lets go build record the checksums of the graph it resolves.
	CGO_ENABLED=0 GOFLAGS='-mod=mod -buildvcs=false' \
		go build -trimpath -ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
	mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
	log "built kube-apiserver in $(($(date +%s) - start))s"
	cd - >/dev/null
	rm -rf "$build"
fi

need_cmd etcd etcd-server
ln -sf "$(command -v etcd)" "$bin/etcd"

"$bin/kube-apiserver" --version >&2
printf '%s\n' "$bin"
