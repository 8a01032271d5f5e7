#!/usr/bin/env bash
# Integration tests of `fraudd run` against a real Kafka broker that this script starts
# (scripts/kafka.sh: KRaft, one node, jars from Maven Central) and always stops.
#   tests/integration/run_all.sh FRAUDD [SCENARIO...]
# FR_KAFKA_VERSION picks the broker version (default: scripts/lib.sh's kafka_default_version;
# docs/KAFKA.md lists what works).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
# shellcheck source=../../scripts/lib.sh
. "$here/scripts/lib.sh"
# the broker runs its log cleaner (the compacted scenario); a caller's own extra config wins
export FR_KAFKA_EXTRA_CONFIG=${FR_KAFKA_EXTRA_CONFIG:-$here/tests/integration/broker.properties}
exec "$here/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$here/.venv/bin/python" "$here/tests/integration/test_pipeline.py" "$fraudd" "$@"
