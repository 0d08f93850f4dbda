"""The code in docs/kubeflow.md runs as written: the in-process pytest example, and the
`drydock serve` example against a served emulator (its URL swapped in; its polls in virtual
time)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("kubeflow.trainer")

from drydock.emulator.dialects.kubeflow import kubeflow_emulator, kubernetes_datetimes
from drydock.testing import virtual_time

DOC = Path(__file__).resolve().parents[2] / "docs" / "kubeflow.md"


def snippet(tag: str) -> str:
    text = DOC.read_text()
    m = re.search(rf"<!-- tested: tests/conformance/test_kubeflow_docs.py \({tag}\) -->\n"
                  r"```python\n(.*?)```", text, re.S)
    assert m, f"docs/kubeflow.md lacks the tested {tag} example"
    return m.group(1)


def test_in_process_example_passes(tmp_path, monkeypatch):
    # inspect.getsource (the SDK reads the function's source) needs a real file.
    module = tmp_path / "test_doc_example.py"
    module.write_text(snippet("in-process"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("test_doc_example")
    mod.test_two_node_job_completes()


def test_serve_example_runs_against_drydock_serve(tmp_path, capsys, monkeypatch):
    # A served emulator on a virtual clock stands in for `drydock serve` (scaled clock), so
    # the example's 2-second polls take no real time.
    emu = kubeflow_emulator(seed=0)
    with emu, emu.serve() as server:
        code = snippet("serve").replace("http://127.0.0.1:8765", server.url)
        module = tmp_path / "serve_example.py"
        module.write_text(code)
        monkeypatch.syspath_prepend(str(tmp_path))
        with virtual_time(emu), kubernetes_datetimes():
            import importlib

            importlib.import_module("serve_example")
    out = capsys.readouterr().out.splitlines()
    assert "torch-distributed" in out[0]
    assert out[-2:] == ["Complete", "['hello from a drydock pod']"]
