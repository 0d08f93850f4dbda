"""The SageMaker conformance suite runs in its own environment (.venv-sagemaker: the SDK's ~1.5 GB
mlflow stack stays out of .venv). From the main suite, this test runs it there, so the README's
test command covers it: the real sagemaker 3.27.0 SDK and both SageMaker scenarios."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv-sagemaker" / "bin" / "python"


@pytest.mark.skipif(not PY.exists(), reason=".venv-sagemaker missing: run scripts/setup.sh")
@pytest.mark.skipif(Path(sys.prefix).resolve() == (ROOT / ".venv-sagemaker").resolve(),
                    reason="already in .venv-sagemaker: test_sagemaker.py runs directly")
def test_the_sagemaker_suite_passes_in_its_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    proc = subprocess.run(
        [str(PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/conformance/test_sagemaker.py", "tests/scenarios/test_library.py",
         "-k", "sagemaker or test_sagemaker"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, tail
    summary = [ln for ln in proc.stdout.splitlines() if " passed" in ln]
    assert summary and "skipped" not in summary[-1].split(" passed")[0], tail
    passed = int(summary[-1].split(" passed")[0].split()[-1])
    assert passed >= 13, tail  # the SDK suite and both scenarios ran, none skipped
