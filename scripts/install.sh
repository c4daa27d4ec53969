#!/usr/bin/env bash
# Create .venv and install mmhvae into it (idempotent). Pins torch==2.13.0 in the SAME pip
# command as the rest, so machines that hold that CPU build locally use it instead of pulling
# a multi-GB CUDA build; elsewhere pip fetches torch 2.13.0 as usual. EXTRAS=dev adds the
# test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
spec="."
if [ -n "${EXTRAS:-}" ]; then spec=".[${EXTRAS}]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0" -e "$spec"
