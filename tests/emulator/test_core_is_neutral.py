"""The core knows no service: every service name lives in a dialect (emulator/dialects/)."""

from __future__ import annotations

import re
from pathlib import Path

import drydock.emulator

SERVICE_NAMES = re.compile(
    r"fireworks|rlor|tinker|kubeflow|kubernetes|k8s|sagemaker|\baws\b|amazon|trainingShapes",
    re.IGNORECASE)
CORE = Path(drydock.emulator.__file__).parent


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "dialects" not in p.relative_to(CORE).parts)


def test_no_service_name_in_the_core() -> None:
    hits = [f"{p.relative_to(CORE)}:{n}: {line.strip()}"
            for p in core_files()
            for n, line in enumerate(p.read_text().splitlines(), 1) if SERVICE_NAMES.search(line)]
    assert core_files(), "found no core modules to check"
    assert hits == [], "service names in the core:\n" + "\n".join(hits)


def test_the_check_catches_a_service_name(tmp_path: Path) -> None:
    assert SERVICE_NAMES.search('PUBLIC_ACCOUNT = "fireworks"')
    assert SERVICE_NAMES.search("job accounts/a/rlorTrainerJobs/j")
    assert not SERVICE_NAMES.search("job accounts/a/jobs/j is RUNNING")
