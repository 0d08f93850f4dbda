"""Shared, cached scenario runs: one run of a built-in serves every test that only reads it."""

from __future__ import annotations

import functools

import pytest

from drydock.scenarios import RunResult, load_builtin, run_scenario


@functools.cache
def _run_builtin(name: str) -> RunResult:
    return run_scenario(load_builtin(name))


@pytest.fixture(scope="session")
def run_builtin():
    """`run_builtin(name)` -> the RunResult of that built-in with its own seed (run once)."""
    return _run_builtin
