"""The GRPO example: its mean reward rises over 30 steps on CPU, and it survives the preemption of
its policy trainer in the middle (resuming from its newest state, re-syncing the deployment)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("fireworks.training.sdk")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_grpo_reward_rises_and_survives_a_preemption(capsys):
    out = load("grpo_fireworks_sdk").run(["--steps", "30", "--preempt-at-step", "15"])
    assert out["final_step"] == 30 and out["recoveries"] == 1
    assert out["restored"] == ["state-10"]
    r = out["rewards"]
    assert sorted(r) == list(range(30))
    first, last = sum(r[i] for i in range(5)) / 5, sum(r[i] for i in range(25, 30)) / 5
    assert first < 0.7 and last > first + 0.2, r
    printed = capsys.readouterr().out
    assert "trainer preempted" in printed and "deployment keeps serving" in printed
