"""The serverless example in docs/fireworks-training.md runs as written (and really goes
through a preemption)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

pytest.importorskip("fireworks.training.sdk")

DOC = Path(__file__).resolve().parents[2] / "docs" / "fireworks-training.md"


def test_serverless_docs_example_passes(tmp_path, monkeypatch):
    m = re.search(
        r"<!-- tested: tests/conformance/test_fireworks_serverless_docs.py -->\n"
        r"```python\n(.*?)```",
        DOC.read_text(),
        re.S,
    )
    assert m, "docs/fireworks-training.md lacks the tested serverless example"
    (tmp_path / "serverless_doc_example.py").write_text(m.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("serverless_doc_example")
    seen: list = []
    real = mod.Emulator

    def recording(*a, **kw):
        emu = real(*a, **kw)
        seen.append(emu)
        return emu

    monkeypatch.setattr(mod, "Emulator", recording)
    mod.test_serverless_run_resumes_after_preemption()
    kinds = [e.kind for e in seen[0].events]
    assert kinds.count("fault.preempt") == 1 and kinds.count("serverless.session_created") == 2
