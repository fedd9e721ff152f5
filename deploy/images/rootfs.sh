#!/usr/bin/env bash
# rootfs.sh: make a minimal Debian bookworm root filesystem tarball with debootstrap, for
# `docker import` as the local base image (deploy/local-images.sh). No registry is needed:
# only the Debian package mirror. Needs root (debootstrap chroots).
#
#   deploy/images/rootfs.sh OUT.tar.gz [MIRROR]
#
# local-images.sh caches OUT keyed by this file's hash: edit this script and the next run
# makes a fresh tarball. Like debian:bookworm-slim: minbase, no recommends, no docs or man
# pages, no apt lists (each image runs apt-get update itself).
set -euo pipefail

die() { echo "rootfs: $*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: rootfs.sh OUT.tar.gz [MIRROR]"
out=$1
mirror=${2:-http://deb.debian.org/debian}
[[ $EUID -eq 0 ]] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null; then
    # Debian's package, like the rest of what the project installs for itself (scripts/pg-up).
    echo "rootfs: installing debootstrap" >&2
    { apt-get update -qq -o DPkg::Lock::Timeout=300 &&
        apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap; } >&2 ||
        die "apt-get install debootstrap failed"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/emrlab-rootfs.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
root=$work/root

# ca-certificates: a service calling an https vendor; tzdata: timestamps in logs.
debootstrap --variant=minbase --include=ca-certificates,tzdata bookworm "$root" "$mirror" >"$work/log" 2>&1 || {
    tail -n 30 "$work/log" >&2
    die "debootstrap failed (log above)"
}

cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
# What debian:bookworm-slim does: no recommends, no docs, and a clean apt cache after each install.
cat >"$root/etc/apt/apt.conf.d/90emrlab" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
APT
cat >"$root/etc/dpkg/dpkg.cfg.d/90emrlab-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
# No service may start while a package installs inside a build.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
: >"$root/etc/machine-id"

mkdir -p "$(dirname -- "$out")"
tar --numeric-owner -C "$root" -czf "$out.partial" .
mv -- "$out.partial" "$out"
