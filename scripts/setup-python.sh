#!/usr/bin/env bash
# Python environment for training, fixtures, parity tests and benchmarks (not needed to build or
# run fraudd). Run as root on Debian bookworm; idempotent.
#
#   1. Debian packages (installed only if missing, one apt-get update if any is):
#      python3-torch (CPU PyTorch; serves /usr/bin/python3 only), python3-sklearn,
#      python3-numpy, python3-venv, python3-pip.
#   2. A venv at $REPO/.venv over /usr/bin/python3 with --system-site-packages (to see torch),
#      with requirements.txt installed by pip --ignore-installed (the venv's numpy/onnx must
#      shadow Debian's; see requirements.txt for why each pin).
#   3. A stamp (.venv/.fraudd-stamp) holding the sha256 of requirements.txt: when it matches and
#      the venv's python exists, the script does nothing else (well under a second).
#
# Use the venv's python for every script: .venv/bin/python models/train_default.py
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.fraudd-stamp"
pkgs=(python3 python3-venv python3-pip python3-numpy python3-torch python3-sklearn)

# shellcheck source=lib.sh
. "$here/scripts/lib.sh"
apt_install_missing "${pkgs[@]}" # dpkg-query for each; apt-get update + install only if missing

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "setup-python: $venv up to date (requirements.txt sha256 ${want:0:12})"
  exit 0
fi

echo "setup-python: creating $venv (/usr/bin/python3 -m venv --system-site-packages)"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
echo "setup-python: pip install --ignore-installed -r requirements.txt"
"$venv/bin/pip" install -q --disable-pip-version-check --no-input --ignore-installed -r "$req"
"$venv/bin/python" - <<'EOF'
import numpy, onnx, onnxruntime, skl2onnx, sklearn, torch
print(f"setup-python: torch {torch.__version__}, numpy {numpy.__version__}, onnx {onnx.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, skl2onnx {skl2onnx.__version__}, scikit-learn {sklearn.__version__}")
EOF
echo "$want" > "$stamp"
echo "setup-python: done"
