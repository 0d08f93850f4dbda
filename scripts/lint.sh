#!/usr/bin/env bash
# Lint, format, types and layers (what .ci/run checks): ruff, ruff format, mypy, import-linter.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check wire sdk cli emulator trainer scenarios testing
.venv/bin/python -m mypy
.venv/bin/lint-imports
