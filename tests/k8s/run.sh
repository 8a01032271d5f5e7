#!/usr/bin/env bash
# Checks the Kubernetes manifests (k8s/) against the real API types: `go test` in
# this module builds the base and each overlay with kustomize's own builder,
# decodes every object strictly into its k8s.io/api, Prometheus Operator or KEDA type,
# and runs the rules of checks.go, each as its own subtest.
#   tests/k8s/run.sh [FRAUDD]
# FRAUDD, a fraudd binary: also runs `fraudd check-config` on each ConfigMap's
# fraudd.yaml (skipped, and said so, without it). The first run fills the Go
# module cache from the module proxy; go.sum pins every module.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if (($# > 0)); then
  [[ -x "$1" ]] || { echo "run.sh: $1 is not an executable fraudd" >&2; exit 2; }
  FRAUDD=$(realpath "$1")
  export FRAUDD
fi
# Go 1.26 or newer: the one on PATH, else fetched once from the module proxy (scripts/go.sh)
go=$("$here/../../scripts/go.sh") || { echo "run.sh: no Go 1.26 or newer (scripts/go.sh)" >&2; exit 1; }
export GOTOOLCHAIN=local
cd "$here"
"$go" version
"$go" test -count=1 -v ./...
