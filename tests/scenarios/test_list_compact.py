"""`drydock list` fits an 80-column terminal: one line per built-in scenario, none wrapped."""

from __future__ import annotations

import os
import subprocess
import sys

from drydock.scenarios import builtin_names


def test_list_fits_80_columns_one_line_per_scenario():
    env = {**os.environ, "COLUMNS": "80"}
    res = subprocess.run([sys.executable, "-m", "drydock.cli", "list"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    names = builtin_names()
    assert len(lines) == len(names) + 1  # a header, then one line per scenario
    for name, line in zip(names, lines[1:], strict=False):
        assert line.startswith(name + " ")
