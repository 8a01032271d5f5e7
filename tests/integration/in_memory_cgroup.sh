#!/usr/bin/env bash
# Runs a command inside a memory cgroup the way a container runtime would show it one: the
# command's process joins CGROUP (a directory the caller made under the host's cgroupfs and
# gave a limit), then enters a new cgroup namespace and a private mount namespace with its
# own cgroupfs mounted where the host's is, so /sys/fs/cgroup shows CGROUP as the root, with
# its limit, as in a Kubernetes pod. cgroup v2 and v1 (the memory controller) both work.
#
#   tests/integration/in_memory_cgroup.sh CGROUP -- CMD...
#
# The command is exec'd all the way down, so this script's pid is the command's (for signals).
set -euo pipefail
[ $# -ge 3 ] && [ "$2" = "--" ] || { sed -n '2,9p' "$0" >&2; exit 2; }
cg=$1; shift 2
echo $$ >"$cg/cgroup.procs"
exec unshare --mount --cgroup --propagation private -- bash -c '
  set -e
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup
  else
    umount -l /sys/fs/cgroup/memory && mount -t cgroup -o memory memory /sys/fs/cgroup/memory
  fi
  exec "$@"' _ "$@"
