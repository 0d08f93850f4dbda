"""The SFT loop without reconnect logic fails the preemption scenarios, with a report that says
what failed, the seed, and how to replay it."""

from __future__ import annotations

import pytest
from rich.console import Console

from drydock.scenarios import load_builtin, run_scenario
from drydock.scenarios.report import print_summary


def _broken(name: str):
    s = load_builtin(name)
    return s.model_copy(update={"workload": s.workload.model_copy(update={"name": "sft-broken"})})


@pytest.mark.parametrize("name", [
    "preempt-mid-step",
    pytest.param("preempt-during-checkpoint-write", marks=pytest.mark.slow),
])
def test_broken_client_fails_preemption_scenario(name):
    result = run_scenario(_broken(name), source=name)
    assert not result.passed
    assert result.outcome == "error"
    failed = {c.name for c in result.failures}
    assert "outcome" in failed and "min_steps" in failed
    assert not any(e.kind == "workload.resumed" for e in result.events)
    assert any(e.kind == "workload.interrupted" for e in result.events)
    console = Console(record=True, width=200)
    print_summary(console, result)
    text = console.export_text()
    assert f"FAIL {result.scenario.name}" in text
    assert f"seed {result.scenario.seed}" in text
    assert f"drydock run {name} --seed {result.scenario.seed}" in text
    assert "workload failed:" in text  # the outcome check says what went wrong
