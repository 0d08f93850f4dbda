"""schemathesis over every dialect's OpenAPI (tests/server/schemathesis_suite.py), in its own
pytest process: its pytest plugin replaces hypothesis' failing-example printer for the whole
session, so the main suite runs with `-p no:schemathesis` (pyproject addopts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_failure_on_any_operation() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
         "-p", "no:xdist", "tests/server/schemathesis_suite.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out and " failed" not in out, out[-2000:]
