#!/usr/bin/env bash
# Which Kafka broker versions work with the librdkafka we link (docs/KAFKA.md).
#
#   tests/integration/broker_compat.sh PROBE [VERSION...]
#
# PROBE is the kafka_probe binary (tests/integration/kafka_probe.c). For each VERSION (default:
# the Kafka version set in scripts/lib.sh and the newest 4.x on Maven Central) it fetches the broker,
# starts it in a temp dir, runs the probe (consumer group, idempotent producer, transactions),
# stops it, and finally prints a table. With kcat on PATH it also records the protocol
# features librdkafka enabled against that broker. Logs go to ${FR_COMPAT_LOGS:-a temp dir}.
# Exits 0 only if every check passed on every version.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
kafka=$here/scripts/kafka.sh
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
probe=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$probe" ] || { echo "broker_compat.sh: $1 is not an executable" >&2; exit 2; }
shift
if [ $# -eq 0 ]; then
  # shellcheck source=../../scripts/lib.sh
  . "$here/scripts/lib.sh"
  set -- "$(kafka_version)" "$("$kafka" latest 4)"
fi
logs=${FR_COMPAT_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/fraudd-compat.XXXXXX")}
mkdir -p "$logs"

cell() { # cell FILE CHECK -> "ok" or the failure reason
  local line
  line=$(grep -E "^(ok|FAIL) $2(:|$)" "$1" | tail -1 || true)
  case "$line" in
    "ok $2") echo ok ;;
    "") echo "no result" ;;
    *) echo "${line#FAIL "$2": }" ;;
  esac
}

rows=() features=() status=0
for v in "$@"; do
  out=$logs/$v.out
  echo "== Kafka $v" >&2
  t0=$SECONDS
  if ! "$kafka" fetch "$v" 2>"$logs/$v.fetch.log"; then
    cat "$logs/$v.fetch.log" >&2
    rows+=("| $v | fetch failed | fetch failed | fetch failed |"); status=1; continue
  fi
  tf=$((SECONDS - t0)); t0=$SECONDS
  # the probe's topics and ids are per run; kcat (if any) shows librdkafka's enabled features
  set +e
  TMPDIR=$logs "$kafka" with "$v" -- bash -c '
    if command -v kcat >/dev/null; then
      kcat -L -b "$FR_KAFKA_BOOTSTRAP" -m 5 -X debug=feature,broker 2>&1 |
        grep -o "Updated enabled protocol features to .*" | tail -1 >"$1.features"
    fi
    "$2" "$FR_KAFKA_BOOTSTRAP" "compat-$3"' _ "$out" "$probe" "${v//./-}" >"$out" 2>"$logs/$v.log"
  rc=$?
  set -e
  cat "$out" >&2
  [ $rc -eq 0 ] || { status=1; tail -5 "$logs/$v.log" >&2; }
  echo "   fetch ${tf} s, start + probe + stop $((SECONDS - t0)) s, exit $rc" >&2
  rows+=("| $v | $(cell "$out" consumer-group) | $(cell "$out" idempotent-producer) | $(cell "$out" transactions) |")
  [ -s "$out.features" ] && features+=("$v: $(sed 's/Updated enabled protocol features to //' "$out.features")")
done

# every broker ran in a directory under $logs (kafka.sh with uses TMPDIR); none may be left
if pgrep -f "kafka.Kafka $logs/" >/dev/null; then
  echo "broker_compat.sh: a broker of this run is still running" >&2; status=1
fi
echo
echo "librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?') (probe: $probe), logs in $logs"
echo "| version | consumer group | idempotent producer | transactions |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ ${#features[@]} -gt 0 ]; then
  echo
  echo "librdkafka's enabled protocol features per broker:"
  printf '  %s\n' "${features[@]}"
fi
exit $status
