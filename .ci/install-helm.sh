#!/usr/bin/env bash
# Builds a pinned helm from the Go module proxy once and caches it.
# helm is not packaged in Debian and only the package registries are reachable,
# so a release tarball download is not an option; `go install` is.
# Prints the path of the helm binary on the last line of stdout.
set -euo pipefail

HELM_MODULE="${HELM_MODULE:-helm.sh/helm/v4/cmd/helm}"
HELM_VERSION="${HELM_VERSION:-v4.3.1}"
HELM_CACHE="${HELM_CACHE:-$HOME/.cache/mcpgw-tools}"
bin_dir="$HELM_CACHE/helm-$HELM_VERSION/bin"
helm="$bin_dir/helm"

# `helm version` reports what the linker stamped in; without -X it would say
# only "vMAJOR.MINOR", so the build below stamps the full pinned version.
cached_version() {
  if [ -x "$helm" ]; then "$helm" version --template '{{.Version}}' 2>/dev/null || true; fi
}

if [ "$(cached_version)" != "$HELM_VERSION" ]; then
  command -v go >/dev/null || { echo "install-helm: go is not on PATH" >&2; exit 1; }
  mkdir -p "$bin_dir"
  echo "install-helm: building $HELM_MODULE@$HELM_VERSION (once; cached in $bin_dir)" >&2
  start=$(date +%s)
  # The release Makefile stamps the version with -X; do the same so
  # `helm version` (and .Capabilities.HelmVersion) say the real version.
  # The variable lives in internal/version of the module's major version.
  version_pkg="${HELM_MODULE%/cmd/helm}/internal/version"
  CGO_ENABLED=0 GOBIN="$bin_dir" \
    go install -trimpath -ldflags "-s -w -X $version_pkg.version=$HELM_VERSION" \
    "$HELM_MODULE@$HELM_VERSION" >&2
  echo "install-helm: built in $(( $(date +%s) - start ))s" >&2
  got="$(cached_version)"
  if [ "$got" != "$HELM_VERSION" ]; then
    echo "install-helm: built helm reports version '$got', expected $HELM_VERSION" >&2
    exit 1
  fi
fi

echo "$helm"
