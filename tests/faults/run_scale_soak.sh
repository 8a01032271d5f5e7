#!/usr/bin/env bash
# Fault campaign, scale and soak (docs/RELIABILITY.md): starts one Kafka broker
# (scripts/kafka.sh), runs tests/faults/scale_soak.py, and always stops it.
#   tests/faults/run_scale_soak.sh FRAUDD [scale] [soak]     (default: scale)
# scale: 1 -> 2 -> 3 -> 2 -> 1 processes under backpressure, about 2.5 minutes;
# soak: FR_SOAK_S seconds (default 1800) at FR_SOAK_RATE records/s (2000), a second process
# joining and leaving every FR_SOAK_CYCLE_S (180). FR_FAULT_RESULTS: a file the RESULT lines
# are appended to. FR_KAFKA_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
# shellcheck source=../../scripts/lib.sh
. "$here/scripts/lib.sh"
exec "$here/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$here/.venv/bin/python" -X faulthandler "$here/tests/faults/scale_soak.py" "$fraudd" "$@"
