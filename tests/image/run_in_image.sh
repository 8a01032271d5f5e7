#!/usr/bin/env bash
# Runs a command in a container's root filesystem the way a locked-down runtime would: a
# read-only root, a numeric non-root user with no supplementary groups and no capabilities,
# the image's environment only, the host's network. No OCI runtime is needed (none runs here):
#
#   tests/image/run_in_image.sh ROOT ro|rw UID:GID [VAR=VALUE...] -- CMD...
#
# ROOT is a mounted container (`scripts/image.sh buildah mount CTR`). In a private mount
# namespace ROOT is bind-mounted onto itself and, for `ro`, remounted read-only, so even root
# cannot write to it (EROFS); /proc is a fresh procfs, /dev and /sys are the host's (sys
# read-only). No /tmp or other writable mount is added: whatever the command writes fails.
# Everything mounted here disappears with the namespace. chroot --userspec drops to UID:GID
# after entering ROOT and clears the groups; as a non-zero uid the process has no capabilities.
# The command is exec'd all the way down, so this script's pid is the command's (for signals).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,15p' "$0" >&2; exit 2; }
root=$1 mode=$2 user=$3; shift 3
envs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "run_in_image.sh: no command" >&2; exit 2; }
case "$mode" in ro|rw) ;; *) echo "run_in_image.sh: mode is ro or rw, not '$mode'" >&2; exit 2 ;; esac
exec unshare --mount --propagation private -- bash -c '
  set -e
  root=$1 mode=$2 user=$3 nenv=$4; shift 4
  envs=("${@:1:nenv}"); shift "$nenv"
  mount --bind "$root" "$root"
  [ "$mode" = rw ] || mount -o remount,bind,ro "$root"
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mount -o remount,bind,ro "$root/sys"
  exec chroot --userspec="$user" --groups="${user#*:}" "$root" \
    /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" "$@"
' _ "$root" "$mode" "$user" "${#envs[@]}" "${envs[@]}" "$@"
