#!/usr/bin/env bash
# The container image: builds it (scripts/image.sh: buildah, no engine), then runs it the way a
# locked-down runtime would (tests/image/run_in_image.sh: read-only root, the image's numeric
# user, no capabilities) and checks
#   config   entrypoint fraudd, default command `run --config /etc/fraudd/fraudd.yaml`, a
#            numeric non-root user, port 8080 exposed, OCI labels; no compiler or headers in
#            the final image; its size under FR_IMAGE_MAX_MB (default 150)
#   runtime  ldd finds every library; `--version`, `inspect` (the embedded model),
#            `check-config` of the shipped config, as the image's user
#   ro root  the mechanism holds (root cannot write /, the same write succeeds read-write), and
#            `fraudd demo --count 20000` (in-process Kafka) succeeds on the read-only root
#   kafka    the image's own entrypoint + command against a real broker on 127.0.0.1
#            (scripts/kafka.sh): 2,000 keyed records in, one result per key out, /readyz and
#            /metrics served, SIGTERM exits 0. FR_IMAGE_NO_KAFKA=1 skips it.
#
#   tests/image/test_image.sh
# Prints one line per check (ok/FAIL) and the image facts; exits 1 if a check failed.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runin=$here/tests/image/run_in_image.sh
fails=0
ok()    { echo "ok   $*"; }
bad()   { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
bah()   { "$here/scripts/image.sh" buildah "$@"; }

# ---- kafka: run by kafka.sh with FR_KAFKA_BOOTSTRAP/FR_KAFKA_DIR set -----------------------
# test_image.sh kafka ROOT UID:GID WORKDIR -- ENTRYPOINT+CMD...  (image env in WORKDIR/env)
kafka_scenario() {
  local root=$1 user=$2 work=$3 boot=$FR_KAFKA_BOOTSTRAP n=2000 port pid t0 rc envs=()
  shift 4
  mapfile -t envs <"$work/env"
  for t in transactions:4 scores:4 scores-dlq:1; do
    "$here/scripts/kafka.sh" topic "$FR_KAFKA_DIR" "${t%:*}" "${t#*:}" 2>/dev/null ||
      { bad "kafka: create topic ${t%:*}"; return 1; }
  done
  "$runin" "$root" ro "$user" -- /usr/local/bin/fraudd generate --count $n --seed 11 >"$work/tx.jsonl"
  # keyed by id: the shipped config passes no fields through, so a result names its input by
  # the key it inherits
  python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["id"] + "\t" + l, end="")' "$work/tx.jsonl" |
    kcat -P -b "$boot" -t transactions -K $'\t' 2>"$work/kcat.log"
  check "kafka: $n generated records produced to 'transactions'" \
    test "$(kcat -C -b "$boot" -t transactions -o beginning -e -q | wc -l)" -eq $n
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # the image's entrypoint and default command as they are; only the HTTP port is moved off
  # 8080 (shared machine), and the broker comes in through the config's ${KAFKA_BOOTSTRAP}
  "$runin" "$root" ro "$user" "${envs[@]}" KAFKA_BOOTSTRAP="$boot" -- "$@" --http-port "$port" \
    2>"$work/run.log" &
  pid=$!
  trap "kill -KILL $pid 2>/dev/null" EXIT  # whatever happens below, no fraudd outlives the test
  t0=$SECONDS
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 $pid 2>/dev/null && (( SECONDS - t0 < 60 )) || break
    sleep 0.5
  done
  check "kafka: /readyz answers 200 (partitions assigned) from the read-only container" \
    curl -fsS "http://127.0.0.1:$port/readyz" -o /dev/null
  t0=$SECONDS
  while :; do
    kcat -C -b "$boot" -t scores -o beginning -e -q -f '%k\t%s\n' >"$work/out.jsonl" 2>/dev/null
    [ "$(wc -l <"$work/out.jsonl")" -ge $n ] || (( SECONDS - t0 > 90 )) || ! kill -0 $pid 2>/dev/null && break
    sleep 1
  done
  check "kafka: $n results on 'scores', one per input, keyed like it ($(wc -l <"$work/out.jsonl") results)" \
    python3 - "$work/tx.jsonl" "$work/out.jsonl" <<'PY'
import json, sys
ins = [json.loads(l)["id"] for l in open(sys.argv[1])]
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2])]
ids = [k for k, _ in rows]
outs = [json.loads(v) for _, v in rows]
ok = len(ids) == len(ins) and set(ids) == set(ins) and all("score" in o and "is_fraud" in o for o in outs)
sys.exit(0 if ok else 1)
PY
  check "kafka: nothing on 'scores-dlq'" \
    test "$(kcat -C -b "$boot" -t scores-dlq -o beginning -e -q | wc -l)" -eq 0
  curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" 2>/dev/null
  check "kafka: /metrics counts the $n records" \
    grep -qE "^fraudd_records_scored_total(\{[^}]*\})? $n\$" "$work/metrics.txt"
  kill -TERM $pid 2>/dev/null
  t0=$SECONDS
  while kill -0 $pid 2>/dev/null && (( SECONDS - t0 < 30 )); do sleep 0.2; done
  kill -0 $pid 2>/dev/null && { kill -KILL $pid; echo "fraudd ignored SIGTERM for 30 s" >>"$work/run.log"; }
  wait $pid; rc=$?
  check "kafka: SIGTERM drains and exits 0 (exit $rc)" test $rc -eq 0
  check "kafka: logged shutdown_complete on stderr" grep -q shutdown_complete "$work/run.log"
  [ $fails -eq 0 ] || { echo "--- fraudd's log:"; tail -20 "$work/run.log"; }
  [ $fails -eq 0 ]
}
if [ "${1:-}" = kafka ]; then shift; kafka_scenario "$@"; exit; fi

# ---- build ------------------------------------------------------------------------------
. "$here/scripts/lib.sh"
apt_install_missing kcat curl python3 >/dev/null
t_start=$SECONDS
img=$("$here/scripts/image.sh" build | tail -1) && [ -n "$img" ] || { bad "image build"; exit 1; }
ok "image $img built ($((SECONDS - t_start)) s)"
version=$(sed -n 's/^project(fraudd VERSION \([0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
work=$(mktemp -d "${TMPDIR:-/tmp}/fraudd-image.XXXXXX")
ctr=
cleanup() {
  [ -n "$ctr" ] && { bah umount "$ctr" >/dev/null 2>&1; bah rm "$ctr" >/dev/null 2>&1; }
  rm -rf "$work"
}
trap cleanup EXIT

# ---- image config -----------------------------------------------------------------------
bah inspect --type image "$img" >"$work/inspect.json" || { bad "buildah inspect $img"; exit 1; }
python3 - "$work/inspect.json" >"$work/facts" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["OCIv1"]
c = d["config"]
print("entrypoint=" + json.dumps(c.get("Entrypoint")))
print("cmd=" + json.dumps(c.get("Cmd")))
print("user=" + c.get("User", ""))
print("ports=" + " ".join(sorted(c.get("ExposedPorts", {}))))
print("layers=%d" % len(d["rootfs"]["diff_ids"]))
print("version_label=" + c.get("Labels", {}).get("org.opencontainers.image.version", ""))
print("title_label=" + c.get("Labels", {}).get("org.opencontainers.image.title", ""))
PY
fact() { sed -n "s/^$1=//p" "$work/facts"; }
user=$(fact user)
check "entrypoint is /usr/local/bin/fraudd ($(fact entrypoint))" test "$(fact entrypoint)" = '["/usr/local/bin/fraudd"]'
check "default command runs the shipped config ($(fact cmd))" \
  test "$(fact cmd)" = '["run", "--config", "/etc/fraudd/fraudd.yaml"]'
check "user is numeric and not root ($user)" \
  bash -c '[[ $1 =~ ^[0-9]+:[0-9]+$ ]] && [ "${1%%:*}" -ne 0 ] && [ "${1#*:}" -ne 0 ]' _ "$user"
check "port 8080/tcp exposed ($(fact ports))" test "$(fact ports)" = 8080/tcp
check "OCI labels: title fraudd, version $version" \
  test "$(fact title_label):$(fact version_label)" = "fraudd:$version"
mapfile -t envs < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["OCIv1"]["config"].get("Env", [])))' "$work/inspect.json")
printf '%s\n' "${envs[@]}" >"$work/env"
mapfile -t argv < <(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["OCIv1"]["config"]; print("\n".join(c["Entrypoint"] + c["Cmd"]))' "$work/inspect.json")

ctr=$(bah from --pull=never --quiet "$img") && mnt=$(bah mount "$ctr") || { bad "buildah from/mount $img"; exit 1; }
present=()
for f in usr/bin/gcc usr/bin/cc usr/bin/c++ usr/bin/g++ usr/bin/cmake usr/bin/ninja usr/bin/make \
         usr/bin/ld usr/bin/protoc-c usr/include/librdkafka usr/include/simdjson.h; do
  [ -e "$mnt/$f" ] && present+=("/$f")
done
check "no compiler, build tool or -dev header in the final image (${present[*]:-none})" test ${#present[@]} -eq 0
size_mb=$(du -sxm "$mnt" | cut -f1)
check "root filesystem ${size_mb} MB <= ${FR_IMAGE_MAX_MB:-150} MB" test "$size_mb" -le "${FR_IMAGE_MAX_MB:-150}"

# ---- the read-only mechanism itself -----------------------------------------------------
out=$("$runin" "$mnt" ro 0:0 -- /bin/sh -c 'echo x >/ro-probe' 2>&1); rc=$?
check "read-only root: even root's write to / fails with EROFS ($(tr -d '\n' <<<"$out"))" \
  bash -c '[ $1 -ne 0 ] && grep -q "Read-only file system" <<<"$2"' _ $rc "$out"
check "control: the same write succeeds on a read-write root" \
  "$runin" "$mnt" rw 0:0 -- /bin/sh -c 'echo x >/rw-probe && rm /rw-probe'
out=$("$runin" "$mnt" ro "$user" -- /bin/sh -c 'echo "$(id -u):$(id -g):$(id -G)"; grep CapEff /proc/self/status')
check "runs as $user, no other groups, no capabilities ($(tr '\n\t' '  ' <<<"$out"))" \
  bash -c '[ "$(sed -n 1p <<<"$1")" = "${2%:*}:${2#*:}:${2#*:}" ] && grep -q "CapEff:.0000000000000000" <<<"$1"' _ "$out" "$user"
check "runs as $user: cannot write /tmp either" \
  bash -c '! "$@" 2>/dev/null' _ "$runin" "$mnt" ro "$user" -- /bin/sh -c 'echo x >/tmp/probe'

# ---- the binary, as the image's user on the read-only root ------------------------------
out=$("$runin" "$mnt" ro "$user" -- ldd /usr/local/bin/fraudd 2>&1); rc=$?
check "ldd: every library found ($(grep -c '=>' <<<"$out") linked$(grep 'not found' <<<"$out" | tr -s ' \t\n' ' '))" \
  bash -c '[ $1 -eq 0 ] && ! grep -q "not found" <<<"$2" && grep -q librdkafka <<<"$2"' _ $rc "$out"
out=$("$runin" "$mnt" ro "$user" "${envs[@]}" -- /usr/local/bin/fraudd --version 2>&1)
check "fraudd --version prints fraudd $version ($out)" test "$out" = "fraudd $version"
out=$("$runin" "$mnt" ro "$user" "${envs[@]}" -- /usr/local/bin/fraudd inspect 2>&1)
check "fraudd inspect: the embedded default model ($(sed -n 's/^version: *//p' <<<"$out"))" \
  bash -c 'grep -q "^model: *<embedded default model>" <<<"$1" && grep -q "^compiled plan" <<<"$1"' _ "$out"
check "fraudd check-config /etc/fraudd/fraudd.yaml (the shipped config is valid)" \
  "$runin" "$mnt" ro "$user" "${envs[@]}" -- /usr/local/bin/fraudd check-config /etc/fraudd/fraudd.yaml --quiet >/dev/null 2>&1
t0=$SECONDS
out=$("$runin" "$mnt" ro "$user" "${envs[@]}" -- /usr/local/bin/fraudd demo --count 20000 --http-port 0 2>&1); rc=$?
check "fraudd demo --count 20000 on the read-only root, exit $rc in $((SECONDS - t0)) s ($(tail -1 <<<"$out" | cut -c1-80))" \
  bash -c '[ $1 -eq 0 ] && grep -q "20000 transactions in, 20000 results out" <<<"$2"' _ $rc "$out"

# ---- the image's own command against a real broker --------------------------------------
if [ "${FR_IMAGE_NO_KAFKA:-0}" != 1 ]; then
  t0=$SECONDS
  # shellcheck source=../../scripts/lib.sh
  . "$here/scripts/lib.sh"
  "$here/scripts/kafka.sh" with "$(kafka_version)" -- "$0" kafka "$mnt" "$user" "$work" -- "${argv[@]}" ||
    fails=$((fails + 1))
  echo "     (kafka scenario: $((SECONDS - t0)) s)"
fi

echo "image $img: $size_mb MB root filesystem, $(bah images --format '{{.Size}}' "$img" | head -1) in storage," \
  "$(fact layers) layers, user $user; test took $((SECONDS - t_start)) s"
[ $fails -eq 0 ]
