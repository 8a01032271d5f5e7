#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one node that is broker and controller) on 127.0.0.1,
# fetched from Maven Central, for integration tests and benchmarks (docs/KAFKA.md).
#
#   scripts/kafka.sh fetch [VERSION]          resolve the broker's jars (cached; Maven ~/.m2)
#   scripts/kafka.sh start DIR [VERSION]      start in DIR (free ports, fresh data); prints the
#                                             bootstrap address as its last line
#   scripts/kafka.sh restart DIR              start the broker of DIR again with its data, ports and
#                                             config (after a crash or a stop; for fault tests)
#   scripts/kafka.sh stop DIR                 stop it (TERM, then KILL after 20 s); always succeeds
#   scripts/kafka.sh topic DIR NAME PARTS     create a topic on the broker in DIR, wait for leaders
#   scripts/kafka.sh with VERSION -- CMD...   start in a temp dir, run CMD with FR_KAFKA_BOOTSTRAP
#                                             and FR_KAFKA_DIR set, always stop and clean up;
#                                             exits with CMD's status
#   scripts/kafka.sh latest PREFIX            newest release on Maven Central matching PREFIX
#                                             (e.g. 3.9 -> 3.9.2, 4 -> newest 4.x)
# A cluster (fault tests): N nodes on 127.0.0.1, each broker and controller, node.id K in DIR/nK,
# one cluster id; new topics, group offsets and transaction state get replication factor 3 and
# min ISR 2 (N >= 3):
#   scripts/kafka.sh cluster DIR [VERSION]    start FR_KAFKA_NODES (default 3) nodes, wait until
#                                             each is up and the metadata lists all of them;
#                                             prints the bootstrap list (every broker) last
#   scripts/kafka.sh kill DIR NODE            SIGKILL node NODE of the cluster in DIR, wait for it
#   scripts/kafka.sh restart DIR NODE         start node NODE again with its data; wait until the
#                                             metadata lists every node again
#   scripts/kafka.sh controller DIR           the node id of the active controller (the quorum's
#                                             leader; the metadata's "controller" is any broker)
#   `stop DIR` stops every node, `topic DIR` creates with replication factor min(N, 3), and
#   FR_KAFKA_NODES=3 scripts/kafka.sh with ... runs CMD against a cluster (FR_KAFKA_BOOTSTRAP
#   lists every broker, FR_KAFKA_NODES is passed on). FR_KAFKA_EXTRA_CONFIG and
#   FR_KAFKA_FORMAT_ARGS apply to every node (@DIR@ is the node's dir); FR_KAFKA_PROXY_PORT is
#   for one node only. FR_KAFKA_HEAP: the JVM's -Xmx (512m; 384m per node of a cluster).
#   FR_KAFKA_JVM_OPTS: the JVM's other options (default: -XX:+UseSerialGC -XX:TieredStopAtLevel=1,
#   small and quick to start; a latency benchmark can give Kafka's own G1 settings instead).
# VERSION defaults to $FR_KAFKA_VERSION, else the version set in scripts/lib.sh
# (kafka_default_version). Jars go to ${FR_KAFKA_HOME:-~/.cache/fraudd/kafka}.
# FR_KAFKA_PROXY_PORT=P (start, with): a second PLAINTEXT listener named PROXY on a free port,
# advertised as 127.0.0.1:P, for a TCP proxy (Toxiproxy) that listens on P and forwards to the
# address written to DIR/proxy_upstream; clients that bootstrap from P learn P from metadata
# and stay behind the proxy, clients of DIR/bootstrap talk to the broker directly.
set -euo pipefail
home=${FR_KAFKA_HOME:-$HOME/.cache/fraudd/kafka}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
default_version=$(kafka_version)
log4j_version=2.24.3
start_timeout=90

die() { echo "kafka.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

fetch() { # fetch VERSION -> prints the libs dir; tools (kafka-tools jar alone) go to VERSION/tools
  local v=$1 dir="$home/$1"
  [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "not a Kafka release version: '$v'"
  if [ -f "$dir/.fetched" ] && [ -f "$dir/.tools-fetched" ]; then echo "$dir/libs"; return; fi
  mkdir -p "$dir"
  # two fetches of one version at once (parallel test runs) take turns
  exec 9>"$dir/.lock"
  flock 9
  if [ ! -f "$dir/.fetched" ]; then
    # Kafka 3.x logs through slf4j 1.7 (binding log4j-slf4j-impl); 4.x needs slf4j 2, which has
    # to be declared directly, or Maven's nearest-wins picks a 1.7 a transitive dependency brings
    local logdeps="<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>$log4j_version</version></dependency>"
    case "$v" in 4.*) logdeps="<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>$log4j_version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>" ;;
    esac
    cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fraudd.test</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>$v</version><scope>runtime</scope></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>$log4j_version</version></dependency>
    $logdeps
  </dependencies>
</project>
EOF
    echo "kafka.sh: fetching Kafka $v from Maven Central into $dir/libs" >&2
    rm -rf "$dir/libs"
    (cd "$dir" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
       -DoutputDirectory="$dir/libs" >"$dir/mvn.log" 2>&1) ||
      { tail -20 "$dir/mvn.log" >&2; die "maven could not resolve kafka_2.13:$v"; }
    touch "$dir/.fetched"
  fi
  # TopicCommand is in kafka-tools (not kafka_2.13); its own transitive dependencies (Connect,
  # Jetty) are not needed for it, everything else it uses is in libs/, so only the one jar
  if [ ! -f "$dir/.tools-fetched" ]; then
    rm -rf "$dir/tools"
    (cd "$dir" && mvn -B -q dependency:copy -Dartifact="org.apache.kafka:kafka-tools:$v" \
       -DoutputDirectory="$dir/tools" >"$dir/mvn-tools.log" 2>&1) ||
      { tail -20 "$dir/mvn-tools.log" >&2; die "maven could not resolve kafka-tools:$v"; }
    touch "$dir/.tools-fetched"
  fi
  exec 9>&-
  echo "$dir/libs"
}

latest() { # latest PREFIX: Maven resolves the newest version in a range (a pom-only lookup)
  local p=$1 lo hi tmp
  case "$p" in
    *.*.*) echo "$p"; return ;;
    *.*)   lo=$p.0; hi=$p.999999 ;;
    *)     lo=$p.0.0; hi=$p.999999.999999 ;;
  esac
  tmp=$(mktemp -d)
  cat > "$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fraudd.test</groupId><artifactId>kafka-latest</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies><dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
    <version>[$lo,$hi]</version><type>pom</type>
    <exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>
  </dependency></dependencies>
</project>
EOF
  if (cd "$tmp" && mvn -B -q -U dependency:list -DoutputFile="$tmp/out.txt" >"$tmp/mvn.log" 2>&1); then
    sed -n 's/.*org\.apache\.kafka:kafka_2\.13:pom:\([^:]*\):.*/\1/p' "$tmp/out.txt"
    rm -rf "$tmp"
  else
    tail -5 "$tmp/mvn.log" >&2; rm -rf "$tmp"; die "no kafka_2.13 release matches $p"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

answers() { # answers HOST:PORT: a metadata request (kcat) or, without kcat, a TCP connect
  if have kcat; then kcat -L -b "$1" -m 5 >/dev/null 2>&1
  else (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; fi
}

broker_java() { # broker_java DIR LIBS CLASS ARGS...: becomes the broker's JVM (small heap:
  # 2 cores, shared), immune to hangups like nohup; run it in a subshell, `(broker_java ...)`,
  # or in the background, `broker_java ... &`, where $! is then the JVM's pid
  local dir=$1 libs=$2; shift 2
  local -a jvm
  read -r -a jvm <<< "${FR_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
  trap '' HUP
  exec java -Xms256m "-Xmx${FR_KAFKA_HEAP:-512m}" "${jvm[@]}" \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$libs/*" "$@"
}

start() { # start DIR VERSION
  local dir=$1 v=$2 libs port cport id t0
  libs=$(fetch "$v")
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && die "a broker already runs in $dir"
  rm -rf "$dir/data" "$dir/broker.log" "$dir/server.log"
  port=$(free_port); cport=$(free_port)
  while [ "$cport" = "$port" ]; do cport=$(free_port); done
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port" protomap="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  rm -f "$dir/proxy_upstream"
  if [ -n "${FR_KAFKA_PROXY_PORT:-}" ]; then
    local pport
    [[ $FR_KAFKA_PROXY_PORT =~ ^[0-9]+$ ]] || die "FR_KAFKA_PROXY_PORT is not a port: '$FR_KAFKA_PROXY_PORT'"
    pport=$(free_port)
    while [ "$pport" = "$port" ] || [ "$pport" = "$cport" ]; do pport=$(free_port); done
    listeners+=",PROXY://127.0.0.1:$pport"
    advertised+=",PROXY://127.0.0.1:$FR_KAFKA_PROXY_PORT"
    protomap+=",PROXY:PLAINTEXT"
    echo "127.0.0.1:$pport" > "$dir/proxy_upstream"
  fi
  # Static voters work on 3.9 and 4.x alike (format without --standalone)
  server_properties 1 "1@127.0.0.1:$cport" "$listeners" "$advertised" "$protomap" "$dir/data" 1 1 \
    > "$dir/server.properties"
  extra_config "$dir" "$port" "$cport"
  log4j_files "$dir"
  echo "$v" > "$dir/version"
  id=$(cluster_id)
  format "$dir" "$libs" "$id"
  echo "127.0.0.1:$port" > "$dir/bootstrap"
  launch "$dir" "$libs"
}

extra_config() { # extra_config DIR PORT CPORT
  # A test's own broker settings (a SASL_SSL listener, say): FR_KAFKA_EXTRA_CONFIG names a file
  # appended to server.properties (a later line overrides an earlier one) with @PORT@ (the
  # PLAINTEXT port), @CPORT@ (the controller's), @XPORT@ (one more free port, also written to
  # DIR/xport) and @DIR@ replaced; FR_KAFKA_FORMAT_ARGS adds words to the storage format
  # (e.g. --add-scram 'SCRAM-SHA-512=[name=U,password=P]', credentials made at format time).
  local dir=$1 port=$2 cport=$3
  rm -f "$dir/xport"
  if [ -n "${FR_KAFKA_EXTRA_CONFIG:-}" ]; then
    local xport; xport=$(free_port)
    while [ "$xport" = "$port" ] || [ "$xport" = "$cport" ]; do xport=$(free_port); done
    sed "s|@PORT@|$port|g; s|@CPORT@|$cport|g; s|@XPORT@|$xport|g; s|@DIR@|$dir|g" \
      "$FR_KAFKA_EXTRA_CONFIG" >> "$dir/server.properties"
    echo "$xport" > "$dir/xport"
  fi
}

format() { # format DIR LIBS CLUSTER_ID: the storage format of DIR's log dir
  local dir=$1 libs=$2 id=$3 fmt_extra=()
  [ -n "${FR_KAFKA_FORMAT_ARGS:-}" ] && read -ra fmt_extra <<<"$FR_KAFKA_FORMAT_ARGS"
  (broker_java "$dir" "$libs" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" "${fmt_extra[@]}") \
    >"$dir/format.log" 2>&1 ||
    { cat "$dir/format.log" >&2; die "storage format failed in $dir"; }
}

server_properties() { # server_properties NODE_ID VOTERS LISTENERS ADVERTISED PROTOMAP LOGDIR RF MIN_ISR
  cat <<EOF
process.roles=broker,controller
node.id=$1
controller.quorum.voters=$2
listeners=$3
advertised.listeners=$4
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$5
log.dirs=$6
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=$7
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$7
transaction.state.log.min.isr=$8
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.enable=false
EOF
}

log4j_files() { # log4j_files DIR: the broker's log config (to DIR/server.log) and the tools' (stderr)
  cat > "$1/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $1/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = warn
EOF
  cat > "$1/tools-log4j2.properties" <<EOF
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

cluster_id() {
  # a cluster id is 16 random bytes, base64url without padding, made here to save a JVM start.
  # Like Kafka's Uuid.randomUuid (StorageTool random-uuid), never one that starts with "-":
  # format's argument parser takes "-t -xyz" for a missing argument (1 start in 64 failed so)
  python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): break
print(s)'
}

nodes_of() { # nodes_of DIR -> the number of nodes of the cluster in DIR (0: a one-node DIR)
  if [ -f "$1/nodes" ]; then cat "$1/nodes"; else echo 0; fi
}

cluster() { # cluster DIR VERSION
  local dir=$1 v=$2 n=${FR_KAFKA_NODES:-3} libs id k ports=() voters="" boot="" t0=$SECONDS
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || die "FR_KAFKA_NODES is not a number of nodes: '$n'"
  [ -z "${FR_KAFKA_PROXY_PORT:-}" ] || die "FR_KAFKA_PROXY_PORT is for one node, not a cluster"
  export FR_KAFKA_HEAP=${FR_KAFKA_HEAP:-384m}
  libs=$(fetch "$v")
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  for k in $(seq "$n"); do
    [ -f "$dir/n$k/pid" ] && kill -0 "$(cat "$dir/n$k/pid")" 2>/dev/null && die "node $k already runs in $dir"
  done
  # 2 distinct free ports per node: PLAINTEXT and CONTROLLER
  while [ "${#ports[@]}" -lt $((2 * n)) ]; do
    local p; p=$(free_port)
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  for k in $(seq "$n"); do
    voters+="${voters:+,}$k@127.0.0.1:${ports[2 * k - 1]}"
    boot+="${boot:+,}127.0.0.1:${ports[2 * k - 2]}"
  done
  local rf=$((n < 3 ? n : 3)) isr=$((n < 3 ? 1 : 2))
  id=$(cluster_id)
  echo "$n" > "$dir/nodes"; echo "$v" > "$dir/version"; echo "$boot" > "$dir/bootstrap"
  log4j_files "$dir"  # the tools' config (topic)
  for k in $(seq "$n"); do
    local nd="$dir/n$k" port=${ports[2 * k - 2]} cport=${ports[2 * k - 1]}
    mkdir -p "$nd"
    rm -rf "$nd/data" "$nd"/broker.log* "$nd"/server.log*
    { server_properties "$k" "$voters" "PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport" \
        "PLAINTEXT://127.0.0.1:$port" "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" "$nd/data" "$rf" "$isr"
      echo "default.replication.factor=$rf"
      echo "min.insync.replicas=$isr"
    } > "$nd/server.properties"
    extra_config "$nd" "$port" "$cport"
    log4j_files "$nd"
    echo "$v" > "$nd/version"
    echo "127.0.0.1:$port" > "$nd/bootstrap"
    format "$nd" "$libs" "$id"
  done
  # all JVMs at once: a node finishes its start-up only once a quorum of controllers runs
  for k in $(seq "$n"); do spawn "$dir/n$k" "$libs"; done
  for k in $(seq "$n"); do
    (ready "$dir/n$k" "$t0") >/dev/null || { stop "$dir"; die "node $k of the cluster in $dir did not start"; }
  done
  cluster_ready "$dir" "$t0" || { stop "$dir"; die "the metadata does not list all $n brokers"; }
  echo "kafka.sh: a cluster of $n Kafka $v nodes up at $boot in $((SECONDS - t0)) s (logs in $dir/n*)" >&2
  echo "$boot"
}

cluster_ready() { # cluster_ready DIR T0: until the metadata (from each node) lists every broker
  local dir=$1 t0=$2 n k b; n=$(nodes_of "$dir")
  have kcat || return 0  # without kcat: each node answered (ready), nothing more is checked
  for k in $(seq "$n"); do
    b=$(cat "$dir/n$k/bootstrap")
    until [ "$(kcat -L -b "$b" -m 5 2>/dev/null | sed -n 's/^ *\([0-9]*\) brokers:$/\1/p')" = "$n" ]; do
      (( SECONDS - t0 > start_timeout )) && return 1
      sleep 0.25
    done
  done
}

node_dir() { # node_dir DIR NODE
  local n; n=$(nodes_of "$1")
  [ "$n" -gt 0 ] || die "no cluster was started in $1"
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le "$n" ] || die "no node $2 in the cluster in $1 (1..$n)"
  echo "$1/n$2"
}

kill_node() { # kill_node DIR NODE: SIGKILL, wait until the JVM is gone
  local nd pid; nd=$(node_dir "$1" "$2")
  [ -f "$nd/pid" ] || die "node $2 does not run"
  pid=$(cat "$nd/pid")
  kill -KILL "$pid" 2>/dev/null || die "node $2 (pid $pid) does not run"
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  die "node $2 (pid $pid) still runs 10 s after SIGKILL"
}

controller() { # controller DIR -> the quorum leader's node id (MetadataQuorumCommand)
  local id
  id=$(tool "$1" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(cat "$1/bootstrap")" \
    describe --status | sed -n 's/^LeaderId: *\([0-9-]*\)$/\1/p')
  [ -n "$id" ] || die "no quorum leader found"
  echo "$id"
}

restart_node() { # restart_node DIR NODE
  local dir t0=$SECONDS nd; dir=$(cd "$1" && pwd); nd=$(node_dir "$dir" "$2")
  FR_KAFKA_HEAP=${FR_KAFKA_HEAP:-384m} restart "$nd" >/dev/null
  cluster_ready "$dir" "$t0" || die "node $2 restarted, but the metadata does not list every broker"
  echo "kafka.sh: node $2 back, the metadata lists every broker ($((SECONDS - t0)) s)" >&2
  cat "$nd/bootstrap"
}

launch() { # launch DIR LIBS: start the JVM of an already configured and formatted DIR, wait until ready
  spawn "$1" "$2"
  ready "$1" "$SECONDS"
}

spawn() { # spawn DIR LIBS: start the JVM of an already configured and formatted DIR
  broker_java "$1" "$2" kafka.Kafka "$1/server.properties" >"$1/broker.log" 2>&1 &
  echo $! > "$1/pid"
}

ready() { # ready DIR T0: wait until the broker of DIR has started and answers (T0: $SECONDS at its start)
  local dir=$1 t0=$2 v port
  v=$(cat "$dir/version"); port=$(cat "$dir/bootstrap"); port=${port##*:}
  until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      tail -30 "$dir/broker.log" "$dir/server.log" >&2 || true
      stop "$dir"; die "broker exited during start-up"
    fi
    if (( SECONDS - t0 > start_timeout )); then stop "$dir"; die "broker not started after $start_timeout s"; fi
    sleep 0.25
  done
  until answers "127.0.0.1:$port"; do
    (( SECONDS - t0 > start_timeout )) && { stop "$dir"; die "broker does not answer metadata requests"; }
    sleep 0.25
  done
  echo "kafka.sh: Kafka $v up at 127.0.0.1:$port in $((SECONDS - t0)) s (logs in $dir)" >&2
  echo "127.0.0.1:$port"
}

restart() { # restart DIR: the same config, ports and data; the previous logs are kept with a suffix
  local dir=$1 libs n=1
  [ -f "$dir/server.properties" ] && [ -f "$dir/version" ] || die "no broker was started in $dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pid" ]; then # a broker just killed may take a moment to go
    for _ in $(seq 40); do kill -0 "$(cat "$dir/pid")" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$(cat "$dir/pid")" 2>/dev/null && die "the broker in $dir still runs"
  fi
  libs=$(fetch "$(cat "$dir/version")")
  while [ -e "$dir/server.log.$n" ]; do n=$((n + 1)); done
  [ -f "$dir/server.log" ] && mv "$dir/server.log" "$dir/server.log.$n"
  [ -f "$dir/broker.log" ] && mv "$dir/broker.log" "$dir/broker.log.$n"
  launch "$dir" "$libs"
}

stop() { # stop DIR (every node of a cluster at once)
  local dir=$1 pid i n k
  n=$(nodes_of "$dir")
  if [ "$n" -gt 0 ]; then
    for k in $(seq "$n"); do stop "$dir/n$k" & done
    wait
    return 0
  fi
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka.sh: broker $pid ignored TERM for 20 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  fi
  rm -f "$dir/pid"
}

leaders() { # leaders DIR NAME -> number of partitions of NAME that have a leader
  local b; b=$(cat "$1/bootstrap")
  if have kcat; then
    kcat -L -b "$b" -t "$2" -m 5 2>/dev/null | grep -cE '^ +partition [0-9]+, leader [0-9]+,' || true
  else
    tool "$1" org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe --topic "$2" \
      2>/dev/null | grep -cE 'Leader: [0-9]+' || true
  fi
}

tool() { # tool DIR CLASS ARGS...: a Kafka CLI tool of the broker's version
  local dir=$1 cls=$2 libs; shift 2
  [ -f "$dir/version" ] || die "no broker was started in $dir"
  libs=$(fetch "$(cat "$dir/version")")
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$dir/tools-log4j2.properties" \
    -cp "$libs/*:${libs%/libs}/tools/*" "$cls" "$@"
}

topic() { # topic DIR NAME PARTITIONS
  local dir=$1 name=$2 parts=$3 t0=$SECONDS rf
  [ -f "$dir/bootstrap" ] || die "no broker was started in $dir"
  rf=$(nodes_of "$dir"); rf=$((rf > 3 ? 3 : rf < 1 ? 1 : rf))
  tool "$dir" org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat "$dir/bootstrap")" \
    --create --topic "$name" --partitions "$parts" --replication-factor "$rf" >&2 ||
    die "could not create topic $name"
  until [ "$(leaders "$dir" "$name")" -ge "$parts" ]; do
    (( SECONDS - t0 > 30 )) && die "topic $name: no leader for all $parts partitions after 30 s"
    sleep 0.25
  done
}

cmd=${1:-}; shift || true
case "$cmd" in
  fetch)  fetch "${1:-$default_version}" >/dev/null ;;
  latest) [ $# -ge 1 ] || die "usage: latest PREFIX"; latest "$1" ;;
  start)  [ $# -ge 1 ] || die "usage: start DIR [VERSION]"; start "$1" "${2:-$default_version}" ;;
  restart) case $# in 1) restart "$1" ;; 2) restart_node "$1" "$2" ;; *) die "usage: restart DIR [NODE]" ;; esac ;;
  cluster) [ $# -ge 1 ] || die "usage: cluster DIR [VERSION]"; cluster "$1" "${2:-$default_version}" ;;
  kill)   [ $# -eq 2 ] || die "usage: kill DIR NODE"; kill_node "$1" "$2" ;;
  controller) [ $# -eq 1 ] || die "usage: controller DIR"; controller "$1" ;;
  stop)   [ $# -ge 1 ] || die "usage: stop DIR"; stop "$1" ;;
  topic)  [ $# -eq 3 ] || die "usage: topic DIR NAME PARTITIONS"; topic "$1" "$2" "$3" ;;
  with)
    v=${1:-$default_version}; shift || true
    [ "${1:-}" = "--" ] && shift
    [ $# -ge 1 ] || die "usage: with VERSION -- CMD..."
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/fraudd-kafka.XXXXXX")
    child=
    trap 'stop "$tmp"; rm -rf "$tmp"' EXIT
    # on INT/TERM pass the signal on to CMD, then the EXIT trap stops the broker
    trap '[ -n "$child" ] && kill -INT "$child" 2>/dev/null; exit 130' INT
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 143' TERM
    if [ "${FR_KAFKA_NODES:-1}" != 1 ]; then
      FR_KAFKA_BOOTSTRAP=$(cluster "$tmp" "$v" | tail -1)
      export FR_KAFKA_NODES
    else
      FR_KAFKA_BOOTSTRAP=$(start "$tmp" "$v" | tail -1)
    fi
    export FR_KAFKA_BOOTSTRAP FR_KAFKA_DIR=$tmp
    # CMD runs as a child that `wait` watches, so a signal to kafka.sh is handled at once
    # rather than after CMD ends (stdin is passed on explicitly: a background job would get
    # /dev/null)
    set +e
    "$@" <&0 &
    child=$!
    wait "$child"
    rc=$?
    set -e
    exit $rc ;;
  *) sed -n '2,39p' "$0" >&2; exit 2 ;;
esac
