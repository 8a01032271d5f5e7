#!/usr/bin/env bash
# The test suite.
#   scripts/test.sh           the whole suite (the default, and what CI runs; about 32 min on 2 cores)
#   scripts/test.sh --quick   for day-to-day work (a few minutes): the release build, its unit and
#                             CLI tests, ONNX Runtime parity, and the fastest scenario against a
#                             real Kafka broker (malformed: dead letters for every reject reason)
# Both install what is missing first. The whole suite:
#   1. release build: unit tests (ctest) and CLI tests (also: the ULB data's sha256)
#   2. ONNX Runtime parity: default model and every fixture, 10,000 records each
#   3. ASan+UBSan build: the same unit and CLI tests
#   4. ThreadSanitizer build: the ring stress test, the mock-cluster pipeline tests (model
#      swaps under load, the reloader), the HTTP and reload tests, the score drift window, and the
#      whole pipeline (demo on the in-process cluster; malformed, rebalance, rolling, the model
#      hot-reload scenarios reload + reload_url and score drift against the real broker)
#   5. integration: `fraudd run` against a real Kafka broker started from Maven Central jars
#      (tests/integration: 100k records, SIGTERM/SIGKILL restarts, dead letters, rebalance,
#      rolling updates with SIGTERM inside the rebalance, model hot reload from a file and a
#      URL under load, score drift read by a real Prometheus)
#      and TLS + SASL/SCRAM (tests/security: good and misconfigured clients, secrets never shown)
#   5b. fault campaign (broker, network): broker SIGKILL + restart, broker SIGSTOP past the
#      session timeout, and Toxiproxy between fraudd and the broker (latency, bandwidth cap,
#      connection resets, a 60 s blackhole), each mid-stream, checked by an independent client
#      (tests/faults, docs/RELIABILITY.md; about 5 min). Not here: the SIGKILL loop and the soak
#      (long; run by name)
#   5c. fault campaign (three brokers): a three-node KRaft cluster (replication factor 3, min ISR
#      2, acks=all), the node leading the most partitions SIGKILLed mid-stream and restarted,
#      twice (tests/faults/run_cluster.sh; under 2 min)
#   5d. scale out and in under backpressure: 1, 2, 3, 2, 1 processes in one group with a
#      saturated pipeline; every partition keeps flowing after each change, lost 0,
#      duplicates 0 (tests/faults/run_scale_soak.sh; about 2.5 min)
#   5e. exactly once: kafka.delivery exactly_once under 10 SIGKILLs, a rebalance, a zombie and a
#      poison record, checked by a read_committed client: lost 0, duplicates 0
#      (tests/faults/eos.py; about 5.5 min);
#      and the malformed and model hot-reload scenarios of 5. in that mode (FR_IT_DELIVERY)
#   5f. model rollouts: a shadow challenger (every result carries both models'), a 10 % canary
#      by card (the key's FNV-1a mixed by fmix64) and a promotion under load (config file rewritten, SIGHUP),
#      each result byte-identical to `fraudd score` with its model(s), lost 0, duplicates 0
#      (tests/faults/rollout.py; about 70 s)
#   6. libFuzzer: each target for FR_FUZZ_SECONDS (default 30) from its seed corpus
#   7. container image: docker/Dockerfile built with buildah (scripts/image.sh, no engine) and
#      run read-only as its non-root user: ldd, inspect, demo, and its own command against a
#      real broker (tests/image)
#   also: the alert rules (promtool), the Python benchmark peer's results against fraudd's
#      (bench/peers/run.sh --check python), and the Kubernetes manifests (tests/k8s: kustomize
#   build, strict decode into the real API types, the deployment rules; Go)
# Ends with one line "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
quick=0
case "${1:-}" in
  "") ;;
  --quick) quick=1 ;;
  -h|--help) sed -n '2,/^set /p' "$0" | sed '$d'; exit 0 ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac
"$here/scripts/setup.sh" || { echo "setup failed"; exit 1; }

passed=0; failed=0; failures=()
step() { # step NAME CMD...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
}
ctest_in() { ctest --test-dir "$1" --output-on-failure -j"$(nproc)"; }

step "build release" scripts/build.sh release
step "unit tests (release)" ctest_in build/release
step "onnx runtime parity" tests/parity/run_all.sh build/release/fraudd
if [ "$quick" = 1 ]; then
  step "kafka integration (malformed)" tests/integration/run_all.sh build/release/fraudd malformed
else
  step "build asan+ubsan" scripts/build.sh asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    step "unit tests (asan+ubsan)" ctest_in build/asan
  step "build tsan" scripts/build.sh tsan
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$here/tests/tsan.supp"
  step "unit tests (tsan)" ctest --test-dir build/tsan --output-on-failure -R "test_ring|test_offsets|test_pipeline_mock|test_pipeline_failures|test_http|test_reload|test_rollout_mock|test_drift"
  # the whole pipeline (consumer, rings, workers, producer, librdkafka's own threads) under TSan
  step "pipeline demo (tsan)" build/tsan/fraudd demo --count 20000
  # the Python peer of the side-by-side benchmark scores as fraudd does (1,000 records, ~5 s):
  # what makes docs/BENCHMARKS.md (g) a like-for-like comparison
  step "benchmark peer agrees with fraudd (python)" bench/peers/run.sh --check python
  step "alert rules (promtool)" bash -c 'promtool check rules monitoring/alerts.yaml && promtool test rules monitoring/alerts_test.yaml'
  # k8s/: kustomize builds, strict decoding into the real API types, the rules, and each
  # ConfigMap's fraudd.yaml through `fraudd check-config`
  step "kubernetes manifests" tests/k8s/run.sh build/release/fraudd
  step "kafka integration" tests/integration/run_all.sh build/release/fraudd
  # SASL_SSL (SCRAM-SHA-512, a CA the test makes): connects with secrets from ${VAR}s; a wrong
  # password, a plaintext client on the TLS port and an unknown CA: up, not ready, a clear error
  step "tls and sasl (real broker)" tests/security/run_sasl_tls.sh build/release/fraudd
  step "fault campaign (broker, network)" tests/faults/run_faults.sh build/release/fraudd
  step "fault campaign (three brokers)" tests/faults/run_cluster.sh build/release/fraudd
  step "fault campaign (scale out and in)" tests/faults/run_scale_soak.sh build/release/fraudd scale
  # kafka.delivery exactly_once against a real broker with a read_committed checker: 10 SIGKILLs,
  # a rebalance, a zombie, a poison record; lost 0, duplicates 0, byte-identical to fraudd score
  # (about 5.5 min)
  step "exactly once (real broker)" tests/faults/run_faults.sh build/release/fraudd eos_sigkill eos_rebalance eos_zombie eos_poison
  # the same mode keeps the behaviour of these integration scenarios (read_committed reader)
  FR_IT_DELIVERY=exactly_once step "exactly once: dead letters and model hot reload" \
    tests/integration/run_all.sh build/release/fraudd malformed reload reload_url
  # model.challenger: shadow, canary by card, a promotion under load (about 70 s)
  step "model rollouts (real broker)" tests/faults/run_faults.sh build/release/fraudd rollout_shadow rollout_canary rollout_promote
  step "kafka integration (tsan)" tests/integration/run_all.sh build/tsan/fraudd malformed rebalance rolling reload reload_url drift
  step "build fuzzers" scripts/build.sh fuzz
  step "fuzz" scripts/fuzz.sh "${FR_FUZZ_SECONDS:-30}"
  step "container image" tests/image/test_image.sh
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
