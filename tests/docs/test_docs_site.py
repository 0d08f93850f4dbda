"""The docs site builds with `mkdocs build --strict`, and the guides name only real API."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drydock.emulator import Emulator, EventLog

ROOT = Path(__file__).resolve().parents[2]


def _nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        for value in (item.values() if isinstance(item, dict) else [item]):
            out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_mkdocs_build_strict(tmp_path):
    missing = [m for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
               if importlib.util.find_spec(m.split(".")[0]) is None
               or (m == "mkdocstrings_handlers.python" and importlib.util.find_spec(m) is None)]
    if missing:
        pytest.skip(f"docs toolchain not installed ({', '.join(missing)}): "
                    "pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-d", str(tmp_path / "site")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    html = (tmp_path / "site" / "reference" / "emulator" / "index.html").read_text()
    assert "Emulator" in html and "advance" in html  # mkdocstrings rendered the API


def test_every_guide_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = set(_nav_pages(config["nav"]))
    for page in ("index.md", "getting-started.md", "testing.md", "emulator.md", "scenarios.md",
                 "serve.md", "faults.md"):
        assert page in pages and (ROOT / "docs" / page).is_file(), page


def test_emulator_guide_names_only_real_methods():
    text = (ROOT / "docs" / "emulator.md").read_text()
    emu_calls = set(re.findall(r"\bemu\.([a-z_]+)", text)) - {"events", "clock"}
    log_calls = set(re.findall(r"\bemu\.events\.([a-z_]+)", text))
    assert {"advance", "inject", "reset", "client", "serve"} <= emu_calls
    assert {"filter", "since", "to_jsonl", "subscribe"} <= log_calls
    assert all(hasattr(Emulator, name) for name in emu_calls), emu_calls
    assert all(hasattr(EventLog, name) for name in log_calls), log_calls


pytest_plugins = ["pytester"]


def test_getting_started_example_runs(pytester):
    pytest.importorskip("fireworks.training.sdk")
    text = (ROOT / "docs" / "getting-started.md").read_text()
    code = re.search(r"<!-- example:first-test -->\s*```python\n(.*?)```", text, re.S).group(1)
    pytester.makepyfile(test_first=code)
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=1)
