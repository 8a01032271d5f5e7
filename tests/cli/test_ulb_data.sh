#!/usr/bin/env bash
# The ULB training data in the repository is byte-identical to the original (data/ulb/README.md),
# so the committed models and the generator's profile stay reproducible from it.
# Usage: test_ulb_data.sh [FRAUDD [CSV]]   (ctest passes FRAUDD, unused here; CSV defaults to the
# repository's data/ulb/creditcard_legit_train.csv)
set -euo pipefail
src=${FR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
csv=${2:-$src/data/ulb/creditcard_legit_train.csv}
want=4240be22cd8f7a8f415be5d051bd807ac2e4777e40a5936efb838f50efc4884d
[ -f "$csv" ] || { echo "FAIL: $csv is missing"; exit 1; }
got=$(sha256sum <"$csv" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "FAIL: $csv has sha256 $got, expected $want (the data must stay byte-identical)"; exit 1; }
echo "ok: $csv sha256 $want"
