#!/usr/bin/env bash
# Integration tests of `fraudd run` against a real Kafka broker that this script starts
# (scripts/kafka.sh: KRaft, one node, jars from Maven Central) and always stops.
#   tests/integration/run_all.sh FRAUDD [SCENARIO...]
# FR_KAFKA_VERSION picks the broker version (default 3.9.1; docs/KAFKA.md lists what works).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
exec "$here/scripts/kafka.sh" with "${FR_KAFKA_VERSION:-3.9.1}" -- \
  "$here/.venv/bin/python" "$here/tests/integration/test_pipeline.py" "$fraudd" "$@"
