#!/usr/bin/env bash
# Fault campaign, three brokers (docs/RELIABILITY.md, "Three brokers"): starts a KRaft cluster of
# three nodes on 127.0.0.1 (FR_KAFKA_NODES=3 scripts/kafka.sh with: replication factor 3, min ISR
# 2), runs tests/faults/cluster.py (the partition leaders SIGKILLed mid-stream and restarted),
# and always stops the cluster. About 1 min 40 s.
#   tests/faults/run_cluster.sh FRAUDD
# FR_CLUSTER_RATE (2000 records/s), FR_CLUSTER_ROUNDS (2), FR_CLUSTER_DOWN_S (15),
# FR_FAULT_RESULTS (a file the RESULT line is appended to), FR_KAFKA_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# shellcheck source=../../scripts/lib.sh
. "$here/scripts/lib.sh"
FR_KAFKA_NODES=3 exec "$here/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$here/.venv/bin/python" -X faulthandler "$here/tests/faults/cluster.py" "$fraudd"
