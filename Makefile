# Developer and release shortcuts. CI runs .ci/run; `make check-deploy` is the part of it
# that checks the deployment files (systemd unit, image build, Kubernetes, workflow, alerts).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE   ?= linq-sync

.PHONY: build test image image-check package dist check-deploy clean

## build: a static, stripped bin/linq-sync, built as the container image builds it
build:
	VERSION=$(VERSION) ./scripts/build-static.sh bin/linq-sync

## test: the unit and integration tests, as the README gives them
test:
	go test -race ./...

## image: the container image $(IMAGE):$(VERSION) (needs a Docker engine)
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

## package: dist/linq-sync_<version>_<arch>.deb and .rpm for amd64 and arm64 (nfpm, via go tool)
package:
	VERSION=$(VERSION) ./scripts/dist.sh packages

## dist: the packages, plus linux and darwin tarballs (amd64, arm64) and dist/SHA256SUMS
dist:
	VERSION=$(VERSION) ./scripts/dist.sh packages tarballs sums verify

## image-check: build the image with podman from local stand-ins for its base images and run it
image-check:
	VERSION=$(VERSION) ./scripts/check-image.sh

## check-deploy: systemd-analyze, static binary, Kubernetes, workflow and promtool checks
check-deploy:
	./scripts/check-deploy.sh

clean:
	rm -rf bin dist
