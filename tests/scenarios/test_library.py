"""Every built-in scenario passes in virtual time, and a second run of its recorded log (replay)
is byte-identical. Scenarios marked `slow: true` in their file carry the pytest `slow` mark."""

from __future__ import annotations

import pytest

from drydock.scenarios import builtin_names, load_builtin, replay_log
from drydock.scenarios.workloads import get_workload, missing_extras


def _params():
    for name in builtin_names():
        s = load_builtin(name)
        marks = [pytest.mark.slow] if s.slow else []
        missing = missing_extras(get_workload(s.workload.name))
        if missing:  # e.g. the sagemaker SDK lives in .venv-sagemaker
            marks.append(pytest.mark.skip(reason="needs " + ", ".join(m for m, _ in missing)))
        yield pytest.param(name, id=name, marks=marks)


def test_library_is_big_enough_and_documented():
    names = builtin_names()
    assert len(names) >= 12
    for name in names:
        s = load_builtin(name)
        assert s.name == name, f"{name}.yaml declares name {s.name!r}"
        assert len(s.description.split()) >= 30, f"{name}: describe the real-world failure"
        assert s.faults, f"{name}: a scenario without faults models no failure"


@pytest.mark.parametrize("name", list(_params()))
def test_builtin_scenario_passes_and_replays_identically(name, tmp_path, run_builtin):
    scenario = load_builtin(name)
    result = run_builtin(name)
    assert result.passed, "\n".join(f"{c.name}: {c.detail}" for c in result.failures)
    assert result.events[0].kind == "scenario.start"
    assert result.events[0].detail["seed"] == scenario.seed
    for decl in scenario.jobs:  # ids come from the scenario, so logs are deterministic
        assert decl.id in result.jobs
    log = tmp_path / "events.jsonl"
    log.write_text(result.events_jsonl())
    again = replay_log(log)  # raises ReplayMismatch unless byte-identical
    assert again.events_jsonl() == result.events_jsonl()
    assert again.passed


def test_library_covers_the_failure_catalogue():
    faults = [f for n in builtin_names() for f in load_builtin(n).faults]
    assert {f.kind for f in faults} >= {"preempt", "checkpoint_write_failure", "capacity", "http",
                                         "healthz_flap", "cancel", "idle_stop", "trainer_crash",
                                         "node_failure"}
    # stuck transitional states: a preemption held in CREATING/DELETING past the SDK's 120 s
    assert {f.via for f in faults if f.kind == "preempt" and f.hold_s > 120} >= {"CREATING",
                                                                                 "DELETING"}
    assert any(f.kind == "preempt" and f.rate_per_hour and f.until_s >= 86400 for f in faults)
    assert any(f.kind == "http" and f.lose_response for f in faults)
    workloads = {load_builtin(n).workload.name for n in builtin_names()}
    assert "sft-fireworks" in workloads and "lifecycle" in workloads
    assert get_workload("sft-fireworks").needs_trainer


def test_library_readme_lists_every_builtin():
    from drydock.scenarios import LIBRARY_DIR

    text = (LIBRARY_DIR / "README.md").read_text()
    for name in builtin_names():
        assert f"## {name}\n" in text, f"scenarios/library/README.md lacks {name}"
