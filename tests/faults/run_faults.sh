#!/usr/bin/env bash
# Fault campaign against a real broker (docs/RELIABILITY.md): starts Toxiproxy
# (scripts/toxiproxy.sh, built from the Go module proxy) and one Kafka broker (scripts/kafka.sh)
# whose PROXY listener is advertised at the proxy's port, runs tests/faults/faults.py, and
# always stops both.
#   tests/faults/run_faults.sh FRAUDD [SCENARIO...]
# Scenarios: broker_kill broker_stop latency bandwidth reset blackhole http_flood (default: all);
# only when named: sigkill_loop, eos_sigkill, eos_rebalance, eos_zombie, eos_poison (tests/faults/eos.py),
# rollout_shadow, rollout_canary, rollout_promote (tests/faults/rollout.py); and scale, soak
# (tests/faults/scale_soak.py, run by tests/faults/run_scale_soak.sh after the others, on a
# broker of their own).
# FR_FAULT_BLACKHOLE_S (default 60), FR_FAULT_STOP_S (15), FR_FAULT_RATE (3000 records/s),
# FR_FAULT_RESULTS (a file the RESULT lines are appended to), FR_KAFKA_VERSION.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
# scale and soak need no proxy: tests/faults/run_scale_soak.sh runs them
fault_names=(); scale_names=()
for s in "$@"; do
  case $s in scale|soak) scale_names+=("$s") ;; *) fault_names+=("$s") ;; esac
done
if ((${#scale_names[@]})) && ! ((${#fault_names[@]})); then
  exec "$here/tests/faults/run_scale_soak.sh" "$fraudd" "${scale_names[@]}"
fi
# shellcheck source=../../scripts/lib.sh
. "$here/scripts/lib.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/fraudd-faults.XXXXXX")
trap '"$here/scripts/toxiproxy.sh" stop "$work"; rm -rf "$work"' EXIT
FR_TOXIPROXY_API=$("$here/scripts/toxiproxy.sh" start "$work" | tail -1)
FR_KAFKA_PROXY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
export FR_TOXIPROXY_API FR_KAFKA_PROXY_PORT
set +e
"$here/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$here/.venv/bin/python" -X faulthandler "$here/tests/faults/faults.py" "$fraudd" ${fault_names[@]+"${fault_names[@]}"}
rc=$?
if ((${#scale_names[@]})); then
  "$here/tests/faults/run_scale_soak.sh" "$fraudd" "${scale_names[@]}" || rc=1
fi
set -e
exit $rc
