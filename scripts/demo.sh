#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds,
# and scores a generated sample stream with the built-in model.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" --no-python
"$here/scripts/build.sh" release
exec "$here/build/release/fraudd" demo "$@"
