#!/usr/bin/env bash
# Quick start 1: install, then run the main job on the embedded default (`mmhvae demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/mmhvae demo "$@"
