#!/usr/bin/env bash
# Builds fraudd's container image from docker/Dockerfile without a Docker engine: Debian's
# buildah, vfs storage and chroot isolation, all state under build/image/ (but for buildah's
# blob-info cache, see below).
#
#   scripts/image.sh [build]         build localhost/fraudd:VERSION (VERSION from CMakeLists.txt)
#   scripts/image.sh save FILE       write that image to FILE as an OCI archive (for
#                                    `podman load`, `skopeo copy oci-archive:FILE docker://...`)
#   scripts/image.sh buildah ARGS... run buildah on this storage (images, inspect, from, ...)
#
# No registry is reachable here, so the base image is made locally: a minimal bookworm rootfs
# from the Debian mirror (debootstrap --variant=minbase, trimmed like the slim image: no docs,
# man pages or locales, no apt lists), committed as localhost/fraudd-base:bookworm and passed
# as BASE_IMAGE. The rootfs is cached in build/image/rootfs (a stamp marks it complete and names
# the version of the recipe below); the base image is remade when the rootfs is. Real builds
# leave BASE_IMAGE at its default. Prints the image name as its last line.
# FR_BUILD_JOBS: compile jobs (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$here/build/image
mirror=http://deb.debian.org/debian
suite=bookworm
base=localhost/fraudd-base:$suite
version=$(sed -n 's/^project(fraudd VERSION \([0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
image=localhost/fraudd:$version

# vfs: layers are plain directories, so no overlay or fuse-overlayfs mounts are needed (the
# price: every layer is a full copy on disk). chroot isolation: no OCI runtime and no user
# namespaces; RUN steps are chroots with /proc, /sys and /dev mounted by buildah, sharing the
# host's network, so apt-get reaches the mirror. BUILDAH_ISOLATION makes `image.sh buildah run`
# use it too. Layer blobs in the making go to TMPDIR (default /var/tmp), kept here as well. The
# one thing outside: containers/image keeps its blob-info cache (64 KB) in
# /var/lib/containers/cache when run as root, and buildah 1.28 has no option to move it.
export BUILDAH_ISOLATION=chroot
bah() {
  mkdir -p "$dir/tmp"
  TMPDIR=$dir/tmp buildah --root "$dir/storage" --runroot "$dir/run" --storage-driver vfs "$@"
}

rootfs() { # a complete minbase rootfs in $dir/rootfs, made once per version of this function
  local tmp=$dir/rootfs.tmp recipe
  recipe=$(declare -f rootfs | sha256sum | cut -c1-16)
  [ "$(cut -d' ' -f1 "$dir/rootfs/.fraudd-rootfs" 2>/dev/null)" = "$recipe" ] && return
  echo "image.sh: debootstrap $suite (minbase) from $mirror" >&2
  rm -rf "$tmp" "$dir/rootfs"
  mkdir -p "$dir"
  debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; echo "image.sh: debootstrap failed" >&2; exit 1; }
  # apt sources of a stock Debian image: the release, its updates and security
  rm -f "$tmp/etc/apt/sources.list"
  cat > "$tmp/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # what the slim image leaves out, now and for every package installed later
  cat > "$tmp/etc/dpkg/dpkg.cfg.d/slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
SLIM
  cat > "$tmp/etc/apt/apt.conf.d/docker-clean" <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
  find "$tmp/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$tmp"/usr/share/{man,info,locale,lintian}/* "$tmp"/var/lib/apt/lists/* \
         "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/log/* \
         "$tmp"/tmp/* "$tmp/etc/hostname" "$tmp/etc/resolv.conf"
  # device nodes belong to the runtime (it mounts /dev), not to a layer
  rm -rf "${tmp:?}"/dev/*
  echo "$recipe $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp/.fraudd-rootfs"
  mv "$tmp" "$dir/rootfs"
}

base_image() { # localhost/fraudd-base:SUITE from the rootfs, unless it is already made from it
  local stamp have ctr mnt
  stamp=$(cat "$dir/rootfs/.fraudd-rootfs")
  have=$(bah inspect --type image --format '{{index .ImageAnnotations "fraudd.rootfs"}}' "$base" 2>/dev/null || true)
  [ "$have" = "$stamp" ] && return
  echo "image.sh: committing the rootfs as $base" >&2
  ctr=$(bah from --pull=never scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$dir/rootfs" --exclude=./.fraudd-rootfs -cf - . | tar -C "$mnt" -xpf -
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash --annotation "fraudd.rootfs=$stamp" \
    --label "org.opencontainers.image.description=Debian $suite minbase from $mirror" "$ctr"
  bah commit --rm --quiet "$ctr" "$base" >/dev/null
}

prune_stale() { # untagged images that this build did not use: the cache of older sources
  # (vfs stores each layer as a full copy, ~500 MB per build-stage step, so they pile up)
  local used id
  used=$(sed -n 's/^--> \([0-9a-f]\{8,\}\)$/\1/p' "$dir/build.log")
  for id in $(bah images --all --filter dangling=true --noheading --format '{{.ID}}'); do
    grep -q "^${id:0:8}" <<<"$used" || bah rmi "$id" >/dev/null 2>&1 || true
  done
}

build() {
  local t0=$SECONDS revision
  . "$here/scripts/lib.sh"
  apt_install_missing buildah debootstrap
  rootfs
  base_image
  revision=$(git -C "$here" rev-parse HEAD 2>/dev/null || echo unknown)
  echo "image.sh: building $image from docker/Dockerfile" >&2
  # --layers caches each step in the storage, so a rebuild after a source change starts at the
  # COPY; --pull=never: the base is local (and a registry is out of reach anyway)
  bah bud --isolation chroot --layers --pull=never \
    --build-arg BASE_IMAGE="$base" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" --build-arg BUILD_JOBS="${FR_BUILD_JOBS:-2}" \
    -f "$here/docker/Dockerfile" -t "$image" "$here" >"$dir/build.log" 2>&1 ||
    { tail -40 "$dir/build.log" >&2; echo "image.sh: build failed (log: $dir/build.log)" >&2; exit 1; }
  prune_stale
  echo "image.sh: $image built in $((SECONDS - t0)) s, $(bah images --format '{{.Size}}' "$image" | head -1)" >&2
  echo "$image"
}

cmd=${1:-build}; shift || true
case "$cmd" in
  build)   build ;;
  save)    [ $# -eq 1 ] || { echo "usage: image.sh save FILE" >&2; exit 2; }
           bah push --quiet "$image" "oci-archive:$1:$image" ;;
  buildah) bah "$@" ;;
  *)       sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
