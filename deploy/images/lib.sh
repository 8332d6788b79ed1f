# Shared by deploy/images/*.sh: podman settings for this machine kind and
# small helpers. Sourced, not run.

# Ulimits and the OCI runtime that work in our CI sandbox (see the file).
# A CONTAINERS_CONF already set by the caller wins.
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is not installed (apt-get install -y podman buildah debootstrap podman-compose runc)"; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1fs", e - s }'; }
human() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1000000 }'; }
