#!/usr/bin/env bash
# Prints the path of a Go toolchain of at least 1.26, the version the manifest tests need
# (tests/k8s/go.mod) and Toxiproxy's build uses (scripts/toxiproxy.sh):
#   - the `go` on PATH when it is new enough;
#   - else Go 1.26.8 from the Go module proxy: the zip `GOTOOLCHAIN` switching downloads
#     (module golang.org/toolchain), unpacked once into ~/.cache/fraudd/go/go1.26.8 and reused.
#     Debian bookworm's golang-go is 1.19, and sum.golang.org, which a `go` would ask, is not
#     always reachable, so the zip's SHA-256 is pinned below (checked on 2026-12-07: its bin/go
#     and compiler are byte for byte those of the official go1.26.8 linux-amd64 release).
#
#   scripts/go.sh            the path of `go` (installs the toolchain when needed; prints
#                            nothing else on stdout)
#
# GOPROXY's first entry is the proxy asked (https://proxy.golang.org when it is unset, "direct"
# or "off"); FR_GO_HOME overrides the cache root. Use the printed go with GOTOOLCHAIN=local.
set -euo pipefail
want=go1.26.8
min_minor=26
home=${FR_GO_HOME:-$HOME/.cache/fraudd/go}

die() { echo "go.sh: $*" >&2; exit 1; }

minor_of() { # the minor version of the go at $1 (0 when it does not run)
  GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed -nE 's/^go1\.([0-9]+).*/\1/p' | grep . || echo 0
}

if command -v go >/dev/null && [ "$(minor_of "$(command -v go)")" -ge "$min_minor" ]; then
  command -v go
  exit 0
fi

case "$(uname -m)" in
  x86_64) arch=amd64; sha=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7 ;;
  aarch64) arch=arm64; sha=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99 ;;
  *) die "no pinned Go toolchain for $(uname -m); install Go $min_minor or newer on PATH" ;;
esac
dir=$home/$want
bin=$dir/bin/go
ready() { [ -x "$bin" ] && GOTOOLCHAIN=local "$bin" version 2>/dev/null | grep -q "^go version $want "; }
if ready; then echo "$bin"; exit 0; fi

mkdir -p "$home"
exec 9>"$home/.lock" # two installs at once take turns
flock 9
if ! ready; then
  proxy=${GOPROXY:-}
  proxy=${proxy%%,*}
  proxy=${proxy%%|*}
  case "$proxy" in "" | direct | off) proxy=https://proxy.golang.org ;; esac
  module=v0.0.1-$want.linux-$arch
  tmp=$(mktemp -d "$home/get.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "go.sh: fetching $want (linux-$arch, about 70 MB) from $proxy" >&2
  curl -fsS --retry 3 -m 900 -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/$module.zip" ||
    die "download from $proxy failed"
  echo "$sha  $tmp/go.zip" | sha256sum -c --quiet - >/dev/null 2>&1 ||
    die "$module.zip from $proxy: SHA-256 $(sha256sum "$tmp/go.zip" | cut -d' ' -f1), expected $sha"
  unzip -q "$tmp/go.zip" -d "$tmp/x"
  src=$tmp/x/golang.org/toolchain@$module
  [ -d "$src/bin" ] || die "$module.zip holds no bin/"
  # module zips need not keep file modes: mark the commands executable, as go's own switch does
  chmod +x "$src"/bin/* "$src"/pkg/tool/*/*
  rm -rf "$dir"
  mv "$src" "$dir"
  ready || die "$bin does not run as $want"
  echo "go.sh: $want installed in $dir" >&2
fi
echo "$bin"
