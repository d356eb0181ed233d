# linq-sync container image: a static binary on distroless, running as uid 65532.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t linq-sync .
#   docker run --rm --read-only \
#     -v "$PWD/config:/etc/linq-sync:ro" -v linq-sync-state:/var/lib/linq-sync \
#     -e LINQ_API_V3_API_KEY -p 127.0.0.1:9464:9464 linq-sync
#
# The root filesystem can be read-only: linq-sync writes only the signing secrets of
# the subscriptions it creates, under the /var/lib/linq-sync volume.

# Build on the builder's own platform and cross-compile: no emulation for multi-arch.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# No separate `go mod download` layer: go.mod also lists the packaging tool (nfpm) and
# its modules, about 120 MB the binary never imports. The build fetches only the
# modules it needs (about 6 MB) into the module cache mount, which outlives source edits.
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# scripts/build-static.sh runs:
#   CGO_ENABLED=0 go build -trimpath \
#     -ldflags "-s -w -X github.com/linq-sync/linq-sync/internal/version.Version=${VERSION}" \
#     ./cmd/linq-sync
# scripts/check-static.sh builds with the same script and checks the result is static
# and runs as a non-root user with a read-only config directory.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION ./scripts/build-static.sh /out/linq-sync
# The state directory, owned by the runtime user, so a fresh named volume mounted on it
# starts out writable by that user.
RUN install -d -m 0700 -o 65532 -g 65532 /out/state/secrets

# distroless/static: CA certificates, tzdata and /etc/passwd with "nonroot" (65532),
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="linq-sync" \
      org.opencontainers.image.description="Keep Linq webhook subscriptions equal to a YAML file" \
      org.opencontainers.image.source="https://github.com/linq-sync/linq-sync" \
      org.opencontainers.image.version="$VERSION"
COPY --from=build /out/linq-sync /usr/local/bin/linq-sync
COPY --from=build --chown=65532:65532 /out/state /var/lib/linq-sync
ENV LINQ_SYNC_FILE=/etc/linq-sync/subscriptions.yaml
VOLUME ["/var/lib/linq-sync"]
# Metrics (/metrics), liveness (/healthz) and readiness (/readyz).
EXPOSE 9464
USER 65532:65532
ENTRYPOINT ["linq-sync"]
# Listen on all interfaces inside the container (the port is only reachable where it
# is published) and keep signing secrets on the volume. Arguments given to
# `docker run IMAGE ...` replace this whole list, so repeat these two flags there.
CMD ["run", "--listen", "0.0.0.0:9464", "--secrets-dir", "/var/lib/linq-sync/secrets"]
