#!/usr/bin/env bash
# local-images.sh: build every image docker-compose.yml needs without pulling any, for machines
# with Docker and the Debian package mirror but no container registry (CI, air-gapped labs).
#
#   deploy/local-images.sh [--binary PATH] [--mirror URL] [--env-file FILE]
#   docker-compose --env-file deploy/local.env up -d
#
#   1. a Debian bookworm root filesystem from debootstrap (deploy/images/rootfs.sh), cached as
#      ${XDG_CACHE_HOME:-~/.cache}/emrlab/bookworm-rootfs-<hash>.tar.gz, where <hash> is that of
#      rootfs.sh, so the slow part (about 1.5 min) runs once per machine and script version;
#   2. `docker import` of it as emrlab-local/bookworm:<hash> (skipped when present);
#   3. on that base, from Debian packages: emrlab-local/postgres:15 (pg_stat_statements
#      preloaded), emrlab-local/redis:7, emrlab-local/prometheus:2, emrlab-local/pgbouncer:1.24
#      (Debian 13's package: transaction mode needs 1.21+, see pgbouncer.Dockerfile);
#      and emrlab-local/emrlab:latest from the root Dockerfile's `prebuilt` stage with the host's
#      binary (--binary, default target/release/emrlab: build it first with
#      `cargo build --release`);
#   4. writes the variables that point docker-compose.yml at them to deploy/local.env
#      (--env-file to write elsewhere) and prints them.
#
# Grafana, Jaeger and the OpenTelemetry collector have no Debian package: they are not built,
# and the local run leaves out the `observability` profile. Needs root for debootstrap the first
# time (or a cached tarball), and docker. Exits non-zero on the first failure.
set -Eeuo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${EMRLAB_BINARY:-target/release/emrlab}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
env_file=$repo/deploy/local.env
cache=${XDG_CACHE_HOME:-$HOME/.cache}/emrlab

die() { echo "local-images: $*" >&2; exit 1; }
step() { echo "local-images: $*" >&2; }

while (($#)); do
    case $1 in
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
        --env-file) env_file=${2:?--env-file needs a path}; shift 2 ;;
        -h | --help) sed -n '2,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (is dockerd running, may you use it?)"
[[ $binary = /* ]] || binary=$repo/$binary
[[ -x $binary ]] || die "no emrlab binary at $binary: run 'cargo build --release' or pass --binary PATH"

# ---- 1-2: the base image -----------------------------------------------------------------
key=$(sha256sum "$repo/deploy/images/rootfs.sh" | cut -c1-12)
base=emrlab-local/bookworm:$key
tarball=$cache/bookworm-rootfs-$key.tar.gz
if docker image inspect "$base" >/dev/null 2>&1; then
    step "base image $base present"
else
    if [[ -s $tarball ]]; then
        step "root filesystem cached at $tarball"
    else
        step "making the bookworm root filesystem with debootstrap (once per version of rootfs.sh)"
        start=$SECONDS
        "$repo/deploy/images/rootfs.sh" "$tarball" "$mirror"
        step "root filesystem made in $((SECONDS - start))s: $tarball"
    fi
    docker import --message "emrlab local base: debootstrap bookworm minbase (rootfs.sh $key)" \
        "$tarball" "$base" >/dev/null
    step "imported $base"
fi
docker tag "$base" emrlab-local/bookworm:latest

# ---- 3: the images on top of it -----------------------------------------------------------
build() { # TAG DOCKERFILE CONTEXT [docker build args…]
    local tag=$1 file=$2 context=$3 start=$SECONDS
    shift 3
    # The legacy builder (no buildx here) warns that it is deprecated on every build; keep the rest.
    docker build --quiet --build-arg "BASE_IMAGE=$base" --tag "$tag" --file "$file" "$@" "$context" 2>&1 >/dev/null |
        { grep -vE '^DEPRECATED: The legacy builder|Install the buildx component|docs\.docker\.com/go/buildx|^ *$' >&2 || true; }
    ((PIPESTATUS[0] == 0)) || die "building $tag from $file failed"
    step "built $tag ($((SECONDS - start))s)"
}
images=$repo/deploy/images
# The package images in parallel: each spends most of its time in apt downloading, not on a CPU
# (cold, one after another took 2.5 min here). A failed build has said why; name them all.
pids=()
build emrlab-local/postgres:15 "$images/postgres.Dockerfile" "$images" & pids+=($!)
build emrlab-local/redis:7 "$images/redis.Dockerfile" "$images" & pids+=($!)
build emrlab-local/prometheus:2 "$images/prometheus.Dockerfile" "$images" & pids+=($!)
build emrlab-local/pgbouncer:1.24 "$images/pgbouncer.Dockerfile" "$images" & pids+=($!)
failures=0
for pid in "${pids[@]}"; do wait "$pid" || failures=$((failures + 1)); done
((failures == 0)) || die "$failures image build(s) failed (see above)"

# The emrlab image is the root Dockerfile's `prebuilt` stage (one definition of the runtime),
# built from a context of just the binary and the health check rather than the whole clone.
context=$(mktemp -d "${TMPDIR:-/tmp}/emrlab-image.XXXXXX")
trap 'rm -rf -- "$context"' EXIT
mkdir -p "$context/target/release" "$context/deploy/images"
ln "$binary" "$context/target/release/emrlab" 2>/dev/null || cp "$binary" "$context/target/release/emrlab"
cp "$images/emrlab-healthcheck" "$context/deploy/images/"
build emrlab-local/emrlab:latest "$repo/Dockerfile" "$context" \
    --target prebuilt --build-arg "RUNTIME_IMAGE=$base"

# ---- 4: the variables for docker-compose ---------------------------------------------------
cat >"$env_file" <<ENV
# Written by deploy/local-images.sh: docker-compose.yml on locally built images.
#   docker-compose --env-file deploy/local.env up -d
EMRLAB_IMAGE=emrlab-local/emrlab:latest
POSTGRES_IMAGE=emrlab-local/postgres:15
REDIS_IMAGE=emrlab-local/redis:7
PROMETHEUS_IMAGE=emrlab-local/prometheus:2
PGBOUNCER_IMAGE=emrlab-local/pgbouncer:1.24
ENV
step "wrote $env_file:"
grep -v '^#' "$env_file"
