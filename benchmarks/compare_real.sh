#!/bin/sh
# k-fold comparison on the real data (26 patients, split by patient; see make_folds.py).
# Usage: benchmarks/compare_real.sh OUT [FOLD] [FOLDS] [MINUTES] [METHODS] [extra compare args]
# Example (one fold on the CPU, 3 minutes per method):
#   benchmarks/compare_real.sh /tmp/real 0 5 3 mmhvae,mvae,unet
set -eu
OUT=${1:?usage: compare_real.sh OUT [FOLD] [FOLDS] [MINUTES] [METHODS]}
FOLD=${2:-0}
FOLDS=${3:-5}
MINUTES=${4:-5}
METHODS=${5:-mmhvae,mvae,mmvae,mopoe,mhvae,unet,mmhvae-nogan,mmhvae-nomix,mmhvae-flat}
[ $# -gt 5 ] && shift 5 || shift $#
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-$HERE/../.venv/bin/python}
"$PY" "$HERE/make_folds.py" "$OUT/fold$FOLD" --folds "$FOLDS" --fold "$FOLD" --drop-rate 0.2 --seed 0
"$PY" -m mmhvae compare --train "$OUT/fold$FOLD/train.csv" --test "$OUT/fold$FOLD/test.csv" \
  --methods "$METHODS" --budget-minutes "$MINUTES" --config tiny --out "$OUT/fold$FOLD/compare" \
  --set "data.cache_dir=$OUT/cache" --seed 0 "$@"
