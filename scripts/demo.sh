#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds, and runs the
# streaming pipeline (Kafka consumer -> rings -> workers -> producer) for 10 seconds against
# an in-process Kafka, generated transactions in, scores out. Options: fraudd demo --help.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" --no-python
"$here/scripts/build.sh" release
exec "$here/build/release/fraudd" demo "$@"
