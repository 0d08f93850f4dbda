"""Workloads: drydock.sdk's loop recovers too; users can register their own client programs."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel, ConfigDict

from drydock.scenarios import (
    ScenarioFileError,
    get_workload,
    load_builtin,
    parse_scenario,
    register_workload,
    run_scenario,
    workload_names,
)
from drydock.scenarios.workloads_sft import SftParams, corpus_batch


def test_builtin_workloads_are_registered():
    assert {"lifecycle", "sft-fireworks", "sft-drydock", "sft-broken"} <= set(workload_names())
    with pytest.raises(KeyError):
        get_workload("nope")


def test_sft_drydock_recovers_from_preemption_mid_step():
    s = load_builtin("preempt-mid-step")
    s = s.model_copy(update={"workload": s.workload.model_copy(update={"name": "sft-drydock"})})
    result = run_scenario(s)
    assert result.passed, [f"{c.name}: {c.detail}" for c in result.failures]
    resumed = [e for e in result.events if e.kind == "workload.resumed"]
    assert [(e.detail["name"], e.detail["step"]) for e in resumed] == [("step-5", 5)]


def test_corpus_depends_only_on_step():
    p = SftParams(batch_size=3, seq_len=5, alphabet=7)
    assert corpus_batch(p, 4) == corpus_batch(p, 4)
    assert corpus_batch(p, 4) != corpus_batch(p, 5)
    for seq in corpus_batch(p, 4):
        assert len(seq) == 5 and all(1 <= t <= 7 for t in seq)
        assert all((b - a) % 7 == 1 for a, b in zip(seq, seq[1:], strict=False))  # counting: learnable


class _TickParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticks: int = 3


@register_workload("test-ticker", _TickParams, description="sleeps 60 virtual s per tick")
def _ticker(ctx, p: _TickParams) -> None:
    for i in range(p.ticks):
        time.sleep(60)  # client-side virtual time: advances the emulator clock
        ctx.log("tick", n=i + 1)


SCENARIO = """\
name: ticks
faults:
  - {kind: capacity, at_s: 30, accelerators: 0, duration_s: 60}
workload: {name: test-ticker, params: {ticks: 4}}
expect:
  finished_within_s: 240
  events:
    - {kind: workload.tick, min: 4, max: 4}
    - {kind: fault.capacity, detail: {starving: false}}
"""


def test_custom_workload_runs_in_virtual_time_and_validates_params():
    result = run_scenario(parse_scenario(SCENARIO))
    assert result.passed, [f"{c.name}: {c.detail}" for c in result.failures]
    ticks = [e.t for e in result.events if e.kind == "workload.tick"]
    assert ticks == [60.0, 120.0, 180.0, 240.0]
    with pytest.raises(ScenarioFileError, match=r"t.yaml:4: workload.params.ticks"):
        parse_scenario(SCENARIO.replace("ticks: 4", "ticks: four"), "t.yaml")
