#!/usr/bin/env bash
# npm run images:build — builds mcpgw-registry and mcpgw-edge from
# deploy/Dockerfile with podman, on a machine that may reach no container
# registry at all.
#
# The Dockerfile is the one a Docker user builds; nothing here changes it. Its
# base image (node:22-bookworm-slim) is pulled when a registry answers;
# otherwise a stand-in is made locally under the same name:
#   - Debian bookworm minbase from debootstrap (the tarball is cached), imported
#     with `podman import`;
#   - Node 22 from the npm package node@22 (node_modules/node/bin/node, the
#     same binary the repo's scripts run) and npm from its npm tarball (cached),
#     at the paths the official image uses (/usr/local/bin, /usr/local/lib).
# Prints each image's size and build time on lines starting "image:".
#
# Env: MCPGW_IMAGE_TAG (default local), MCPGW_IMAGES_CACHE (default
# ~/.cache/mcpgw-images), MCPGW_IMAGES_PULL=0 to skip the pull attempt,
# DEBIAN_MIRROR (default: the first deb line apt uses, else deb.debian.org).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=deploy/images/lib.sh
. deploy/images/lib.sh

TAG="${MCPGW_IMAGE_TAG:-local}"
CACHE="${MCPGW_IMAGES_CACHE:-$HOME/.cache/mcpgw-images}"
mkdir -p "$CACHE"
NODE_IMAGE="$(sed -n 's/^ARG NODE_IMAGE=//p' deploy/Dockerfile)"
[ -n "$NODE_IMAGE" ] || die "no ARG NODE_IMAGE in deploy/Dockerfile"
# podman resolves the Dockerfile's short name to docker.io/library/... and
# finds a local image under that full name without asking any registry.
NODE_IMAGE_FQ="docker.io/library/$NODE_IMAGE"
DEBIAN_IMAGE="localhost/mcpgw-standin/debian:bookworm-slim"
NPM_SPEC="${MCPGW_STANDIN_NPM:-npm@10}"

need podman
echo "podman $(podman version --format '{{.Client.Version}}'), runtime $(podman info --format '{{.Host.OCIRuntime.Name}}')"

# --- Debian bookworm minbase -------------------------------------------------
debian_tarball() {
  local tar="$CACHE/debian-bookworm-minbase-slim.tar"
  if [ -s "$tar" ]; then echo "$tar"; return; fi
  need debootstrap
  local mirror="${DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror="$(grep -rhoE '^(deb|URIs:) +(\[[^]]*\] +)?https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -oE 'https?://[^ ]+' | head -n 1 || true)"
  fi
  mirror="${mirror:-http://deb.debian.org/debian}"
  local dir
  dir="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  log "debootstrap --variant=minbase bookworm from $mirror (once; cached as $tar)"
  local t0; t0=$(now)
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$CACHE/debootstrap.log" >&2; rm -rf "$dir"; die "debootstrap failed"; }
  # Slim like the official -slim images: no docs, man pages or apt lists, and
  # dpkg told to keep leaving them out of later installs.
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/* "$dir"/tmp/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
  cat >"$dir/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  # What the official debian images ship: apt drops downloaded .debs and its
  # binary caches after every install (otherwise `apt-get install tini` in the
  # Dockerfile leaves ~80 MB behind), and fetches no translations.
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  tar -C "$dir" -cf "$tar.partial" . && mv "$tar.partial" "$tar"
  rm -rf "$dir"
  log "debian rootfs: $(du -h "$tar" | cut -f1) in $(since "$t0")"
  echo "$tar"
}

ensure_debian() {
  podman image exists "$DEBIAN_IMAGE" && return
  local tar; tar="$(debian_tarball)"
  podman import -q --message "debootstrap --variant=minbase bookworm (mcpgw stand-in)" "$tar" "$DEBIAN_IMAGE" >/dev/null
}

# --- node:22-bookworm-slim stand-in -------------------------------------------
ensure_node_image() {
  if podman image exists "$NODE_IMAGE_FQ"; then
    log "$NODE_IMAGE: present ($(podman image inspect --format '{{index .Labels "org.mcpgw.standin"}}' "$NODE_IMAGE_FQ" | sed 's/^true$/stand-in/;s/^$/pulled/'))"
    return
  fi
  if [ "${MCPGW_IMAGES_PULL:-1}" != 0 ] && timeout 30 podman pull -q "$NODE_IMAGE_FQ" >/dev/null 2>&1; then
    log "$NODE_IMAGE: pulled"
    return
  fi
  log "$NODE_IMAGE: no registry answered; making a stand-in"
  local t0; t0=$(now)
  ensure_debian
  local node="$ROOT/node_modules/node/bin/node"
  [ -x "$node" ] || die "$node missing: run npm ci first (Node 22 comes from the node@22 devDependency)"
  local version; version="$("$node" --version)"
  case "$version" in v22.*) ;; *) die "node_modules/node is $version, expected v22.x" ;; esac
  local npm_tgz
  npm_tgz="$(ls "$CACHE"/npm-*.tgz 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$npm_tgz" ]; then
    (cd "$CACHE" && "$node" "$(npm_cli)" pack --silent "$NPM_SPEC" >/dev/null) || die "npm pack $NPM_SPEC failed"
    npm_tgz="$(ls "$CACHE"/npm-*.tgz | sort -V | tail -n 1)"
  fi
  local ctx; ctx="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" RETURN
  cp "$node" "$ctx/node"
  mkdir "$ctx/npm" && tar -xzf "$npm_tgz" -C "$ctx/npm" --strip-components=1
  # Egress through a TLS-intercepting proxy (our CI sandbox's is): npm inside
  # the build must trust the CA the host's npm trusts. Only the stand-in gets
  # it, as a cafile in npm's builtin npmrc (read whatever --prefix says); a pulled official base is left as it is.
  local ca="${MCPGW_STANDIN_CA:-$(npm config get cafile 2>/dev/null || true)}" ca_step=""
  case "$ca" in ""|null|undefined) ca="${NODE_EXTRA_CA_CERTS:-}" ;; esac
  if [ -n "$ca" ] && [ "$ca" != null ] && [ "$ca" != undefined ] && [ -s "$ca" ]; then
    cp "$ca" "$ctx/ca.crt"
    ca_step="COPY ca.crt /usr/local/share/mcpgw-standin/ca.crt
RUN echo 'cafile=/usr/local/share/mcpgw-standin/ca.crt' >> /usr/local/lib/node_modules/npm/npmrc"
    log "$NODE_IMAGE stand-in: npm trusts the host's CA bundle $ca"
  fi
  # The official image's layout: node and npm under /usr/local, a `node`
  # user with uid 1000, CMD node.
  cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
LABEL org.mcpgw.standin=true org.mcpgw.standin.node=$version org.mcpgw.standin.npm=$(basename "$npm_tgz" .tgz)
ENV NODE_VERSION=${version#v}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
$ca_step
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
CMD ["node"]
EOF
  podman build -q --pull=never -t "$NODE_IMAGE_FQ" "$ctx" >/dev/null || die "building the $NODE_IMAGE stand-in failed"
  log "$NODE_IMAGE: stand-in with node $version, $(basename "$npm_tgz" .tgz) in $(since "$t0")"
}

# The npm the host runs (to `npm pack` npm itself); any npm will do.
npm_cli() {
  local cli
  cli="$(readlink -f "$(command -v npm)" 2>/dev/null || true)"
  [ -n "$cli" ] && [ -f "$cli" ] || die "npm not on PATH"
  echo "$cli"
}

# --- the two images -----------------------------------------------------------
build_target() { # TARGET IMAGE
  local target="$1" image="$2" t0 secs
  log "building $image (--target $target)"
  t0=$(now)
  # --network host: npm ci and apt-get reach the package registries.
  # --pull=never: the base must be the local image (pulled or stand-in).
  # --layers: reuse cached layers between runs (Docker's default; podman's too,
  # said out loud).
  # --format docker: the OCI image format has no HEALTHCHECK; podman would
  # drop the Dockerfile's with a warning, Docker keeps it.
  if ! podman build --layers --format docker --pull=never --network host \
      -f deploy/Dockerfile --target "$target" -t "$image" . >"$CACHE/build-$target.log" 2>&1; then
    tail -n 40 "$CACHE/build-$target.log" >&2
    die "podman build --target $target failed (full log: $CACHE/build-$target.log)"
  fi
  secs="$(since "$t0")"
  local size; size="$(podman image inspect --format '{{.Size}}' "$image")"
  printf 'image: %-24s %8s  built in %s  (%s cached steps of %s)\n' "$image" "$(human "$size")" "$secs" \
    "$(grep -c -- '--> Using cache' "$CACHE/build-$target.log" || true)" "$(grep -cE 'STEP [0-9]+/[0-9]+:' "$CACHE/build-$target.log" || true)" \
    | tee -a "$CACHE/last-build.txt.partial"
}

t_all=$(now)
rm -f "$CACHE/last-build.txt.partial"
ensure_node_image
build_target registry "localhost/mcpgw-registry:$TAG"
build_target edge "localhost/mcpgw-edge:$TAG"
echo "images:build done in $(since "$t_all") at $(date -u +%FT%TZ)" | tee -a "$CACHE/last-build.txt.partial"
# images:smoke prints these with its own figures.
mv "$CACHE/last-build.txt.partial" "$CACHE/last-build.txt"
