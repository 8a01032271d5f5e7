#!/usr/bin/env bash
# Builds the Kafka Streams peer with Maven (dependencies from Maven Central, cached in ~/.m2)
# into build/peers/streams: classes/ and lib/ (every runtime jar). Prints the class path to
# run it with: java -cp "$(bench/peers/streams/build.sh)" fraudd.peers.StreamsPeer ...
# Needs a JDK (javac): scripts/setup.sh installs openjdk-17-jdk-headless.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out="$repo/build/peers/streams"
command -v javac >/dev/null || { echo "streams/build.sh: no javac; run scripts/setup.sh (installs a JDK)" >&2; exit 1; }
mkdir -p "$out"
# up to date: nothing in the source tree is newer than the last build
if [ -f "$out/.built" ] && [ -z "$(find "$here/pom.xml" "$here/src" -newer "$out/.built" -print -quit)" ]; then
  echo "$out/classes:$out/lib/*"
  exit 0
fi
rm -rf "$out/classes" "$out/lib"
if ! (cd "$here" && mvn -B -q package -Dpeer.build.dir="$out" >"$out/mvn.log" 2>&1); then
  tail -30 "$out/mvn.log" >&2
  echo "streams/build.sh: maven failed (whole log: $out/mvn.log)" >&2
  exit 1
fi
touch "$out/.built"
echo "streams/build.sh: built into $out" >&2
echo "$out/classes:$out/lib/*"
