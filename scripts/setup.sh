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
# Fault tests: Toxiproxy is built with Go from the Go module proxy (scripts/toxiproxy.sh); when
# no `go` is on PATH, Debian's golang-go (1.19 on bookworm) is installed for it.
pkgs=(build-essential cmake ninja-build pkg-config
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev
      libsimdjson-dev libjansson-dev libcmocka-dev
      clang libclang-rt-14-dev
      librdkafka-dev libyaml-dev libmicrohttpd-dev
      libcurl4-openssl-dev prometheus curl openssl
      openjdk-17-jre-headless openjdk-17-jdk-headless maven kcat
      clang-format)

# shellcheck source=lib.sh
. "$here/scripts/lib.sh"
command -v go >/dev/null || pkgs+=(golang-go)
apt_install_missing "${pkgs[@]}"

if [[ "${1:-}" != "--no-python" ]]; then
  "$here/scripts/setup-python.sh"
fi
