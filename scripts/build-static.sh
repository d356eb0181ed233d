#!/usr/bin/env sh
# build-static.sh [OUT]: build linq-sync as the release and the container image ship it:
# a static, stripped binary with no cgo and no build paths, stamped with $VERSION.
# The Dockerfile, `make build` and scripts/check-static.sh all call this one script, so
# the binary the checks examine is the binary the image contains.
# GOOS and GOARCH pass through from the environment for cross builds.
set -eu
OUT=${1:-bin/linq-sync}
VERSION=${VERSION:-dev}
cd "$(dirname "$0")/.."
CGO_ENABLED=0 exec go build -trimpath \
	-ldflags "-s -w -X github.com/linq-sync/linq-sync/internal/version.Version=${VERSION}" \
	-o "$OUT" ./cmd/linq-sync
