#!/usr/bin/env bash
# Python environment for training, fixtures, parity tests and benchmarks (not needed to run
# fraudd). Debian's CPU PyTorch and scikit-learn serve /usr/bin/python3 only; onnxruntime
# comes from PyPI. So: a venv at .venv over /usr/bin/python3 with --system-site-packages,
# plus the pinned PyPI packages of requirements.txt. Idempotent: a stamp holding the hash of
# requirements.txt skips the work when nothing changed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
pkgs=(python3 python3-venv python3-pip python3-numpy python3-torch python3-sklearn)
# shellcheck source=lib.sh
. "$here/scripts/lib.sh"
apt_install_missing "${pkgs[@]}"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.fraudd-stamp" 2>/dev/null)" = "$want" ]; then
  echo "setup-python: .venv up to date"
  exit 0
fi
echo "setup-python: creating $venv"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
# --ignore-installed: the venv's onnx/numpy must shadow Debian's older python3-onnx if present
"$venv/bin/pip" install -q --disable-pip-version-check --ignore-installed -r "$here/requirements.txt"
"$venv/bin/python" -c "import torch, sklearn, onnx, onnxruntime, skl2onnx; print('setup-python: torch', torch.__version__, 'onnxruntime', onnxruntime.__version__)"
echo "$want" > "$venv/.fraudd-stamp"
