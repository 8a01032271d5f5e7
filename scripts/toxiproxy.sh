#!/usr/bin/env bash
# Toxiproxy (Shopify's TCP proxy that injects network faults: latency, bandwidth caps, resets,
# blackholes), built from the Go module proxy, for the fault tests (tests/faults, docs/RELIABILITY.md).
#
#   scripts/toxiproxy.sh install        build the pinned server once into
#                                       ~/.cache/fraudd/toxiproxy/VERSION/ (idempotent); prints its path
#   scripts/toxiproxy.sh start DIR      start the server in DIR, its HTTP API on a free 127.0.0.1
#                                       port; prints the API address (http://127.0.0.1:PORT) as its last line
#   scripts/toxiproxy.sh stop DIR       stop it (TERM, then KILL after 5 s); succeeds if nothing runs
#
# The version is pinned here; `go install` checks the module against the Go checksum database
# (sum.golang.org, through the module proxy), and install refuses a binary whose embedded module
# version (`go version -m`) is not the pinned one. v2.12.0 (2025-03) needs Go 1.23 (its go.mod);
# the `go` is scripts/go.sh's (1.26 or newer: the one on PATH, or Go 1.26.8 from the module
# proxy on a machine without it, such as a fresh Debian bookworm, whose golang-go is 1.19).
# FR_TOXIPROXY_HOME overrides the cache root.
set -euo pipefail
toxiproxy_version=v2.12.0
home=${FR_TOXIPROXY_HOME:-$HOME/.cache/fraudd/toxiproxy}
scripts=$(cd "$(dirname "$0")" && pwd)
bin=$home/$toxiproxy_version/toxiproxy-server

die() { echo "toxiproxy.sh: $*" >&2; exit 1; }

built_ok() { # the binary exists and embeds the pinned module version
  [ -x "$bin" ] && GOTOOLCHAIN=local "$go" version -m "$bin" 2>/dev/null |
    grep -qE "^[[:space:]]mod[[:space:]]+github.com/Shopify/toxiproxy/v2[[:space:]]+$toxiproxy_version[[:space:]]"
}

install() {
  go=$("$scripts/go.sh") || die "no Go toolchain (scripts/go.sh)"
  if built_ok; then echo "$bin"; return; fi
  mkdir -p "$home/$toxiproxy_version"
  exec 9>"$home/$toxiproxy_version/.lock"   # two installs at once take turns
  flock 9
  if ! built_ok; then
    local tmp; tmp=$(mktemp -d "$home/$toxiproxy_version/gobin.XXXXXX")
    echo "toxiproxy.sh: building github.com/Shopify/toxiproxy/v2/cmd/server@$toxiproxy_version" >&2
    # outside any module (cd /), so no go.mod around us changes what is built
    (cd / && GOBIN=$tmp GOFLAGS=-mod=mod GOTOOLCHAIN=local "$go" install "github.com/Shopify/toxiproxy/v2/cmd/server@$toxiproxy_version") ||
      { rm -rf "$tmp"; die "go install failed"; }
    mv "$tmp/server" "$bin"
    rm -rf "$tmp"
    built_ok || die "$bin does not embed module version $toxiproxy_version"
  fi
  exec 9>&-
  echo "$bin"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() { # start DIR
  local dir=$1 port t0=$SECONDS
  install >/dev/null
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/toxiproxy.pid" ] && kill -0 "$(cat "$dir/toxiproxy.pid")" 2>/dev/null &&
    die "a toxiproxy server already runs in $dir"
  port=$(free_port)
  nohup "$bin" -host 127.0.0.1 -port "$port" >"$dir/toxiproxy.log" 2>&1 &
  echo $! > "$dir/toxiproxy.pid"
  until curl -sf "http://127.0.0.1:$port/version" >/dev/null 2>&1; do
    kill -0 "$(cat "$dir/toxiproxy.pid")" 2>/dev/null || { tail -20 "$dir/toxiproxy.log" >&2; die "server exited"; }
    (( SECONDS - t0 > 20 )) && { stop "$dir"; die "server API not up after 20 s"; }
    sleep 0.1
  done
  echo "http://127.0.0.1:$port" > "$dir/toxiproxy.api"
  echo "toxiproxy.sh: $toxiproxy_version API at http://127.0.0.1:$port (log $dir/toxiproxy.log)" >&2
  echo "http://127.0.0.1:$port"
}

stop() { # stop DIR
  local dir=$1 pid i
  [ -f "$dir/toxiproxy.pid" ] || return 0
  pid=$(cat "$dir/toxiproxy.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/toxiproxy.pid"
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install ;;
  start)   [ $# -eq 1 ] || die "usage: start DIR"; start "$1" ;;
  stop)    [ $# -eq 1 ] || die "usage: stop DIR"; stop "$1" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
