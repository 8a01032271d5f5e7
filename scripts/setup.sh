#!/usr/bin/env bash
# Installs everything fraudd needs to build and test on Debian (bookworm),
# as root. Idempotent: only missing packages are installed, so a second run
# takes a second. Usage: scripts/setup.sh [--no-python]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Build: compiler, CMake, protobuf-c (ONNX decoding, code generated from
# libonnx-dev's onnx.proto), simdjson (per-record JSON), jansson (all other
# JSON), cmocka (unit tests), clang + its runtime (libFuzzer targets),
# librdkafka (Kafka clients), libyaml (config), libmicrohttpd (metrics and
# health endpoints); libcurl (tests' HTTP client) and prometheus (promtool and
# a real Prometheus server for the metrics tests).
# Integration tests: a JRE and Maven fetch and run a real Kafka broker from
# Maven Central (scripts/kafka.sh); kcat is a second, independent client.
# Benchmarks: the JDK (javac) builds the Kafka Streams peer (bench/peers/streams).
# clang-format: scripts/format-check.sh (informational).
# Go 1.26 or newer (the manifest tests, tests/k8s; Toxiproxy for the fault tests,
# scripts/toxiproxy.sh): the `go` on PATH, else Go 1.26.8 from the Go module proxy, pinned by
# its SHA-256 (scripts/go.sh; Debian bookworm's golang-go is 1.19, too old); unzip unpacks it.
pkgs=(build-essential cmake ninja-build pkg-config
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      libsimdjson-dev libjansson-dev libcmocka-dev
      clang libclang-rt-14-dev
      librdkafka-dev libyaml-dev libmicrohttpd-dev
      libcurl4-openssl-dev prometheus curl openssl
      openjdk-17-jre-headless openjdk-17-jdk-headless maven kcat
      clang-format unzip)

# shellcheck source=lib.sh
. "$here/scripts/lib.sh"
apt_install_missing "${pkgs[@]}"
"$here/scripts/go.sh" >/dev/null

if [[ "${1:-}" != "--no-python" ]]; then
  "$here/scripts/setup-python.sh"
fi
