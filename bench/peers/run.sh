#!/usr/bin/env bash
# fraudd side by side with a Python and a Kafka Streams peer, through one real Kafka broker
# (docs/BENCHMARKS.md (g), bench/peers/README.md). Installs what is missing (scripts/setup.sh,
# as root), builds fraudd (release) and the Streams peer, starts a broker (scripts/kafka.sh
# with), and runs bench/peers/side_by_side.py, which prints one line per system and round and a
# Markdown table.
#
#   bench/peers/run.sh                 200,000 records, 2 rounds (about 5 min on 2 cores; more if loaded)
#   bench/peers/run.sh --quick         20,000 records, 1 round: a smoke run (about 1-2 min)
#   bench/peers/run.sh --records N --rounds R --rate R --systems fraudd,python ...
#                                      (other options: side_by_side.py --help)
#   bench/peers/run.sh --check [python|streams]
#                                      no broker: the peers' results (or one peer's) against
#                                      `fraudd score` on 1,000 generated records (check.py)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$repo/scripts/lib.sh"
py="$repo/.venv/bin/python"
fraudd="$repo/build/release/fraudd"

"$repo/scripts/setup.sh" >/dev/null
"$repo/scripts/build.sh" release >/dev/null

if [ "${1:-}" = "--check" ]; then
  peers=${2:-python streams}
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/fraudd-peers.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  "$fraudd" generate --count 1000 --seed 11 --output "$tmp/tx.jsonl"
  "$fraudd" score --input "$tmp/tx.jsonl" --output "$tmp/fraudd.jsonl" --quiet
  rc=0
  for p in $peers; do
    case "$p" in
      python)  "$py" "$here/python_peer.py" score "$tmp/tx.jsonl" "$tmp/python.jsonl" ;;
      streams) java -cp "$("$here/streams/build.sh")" fraudd.peers.StreamsPeer score "$tmp/tx.jsonl" "$tmp/streams.jsonl" ;;
      *) echo "run.sh: --check python|streams, not '$p'" >&2; exit 2 ;;
    esac
    "$py" "$here/check.py" "$tmp/fraudd.jsonl" "$tmp/$p.jsonl" || rc=1
  done
  exit $rc
fi

cp=$("$here/streams/build.sh")
exec "$repo/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$py" "$here/side_by_side.py" --fraudd "$fraudd" --streams-cp "$cp" "$@"
