"""The event kinds `expect.events` is checked against: read from the code, so every kind the
core, the dialects and the built-in workloads log is known, and a typo is named."""

from __future__ import annotations

import re
from pathlib import Path

from drydock.emulator.faults import fault_kinds
from drydock.scenarios import builtin_names, load_builtin
from drydock.scenarios._event_kinds import event_kind_problem, known_event_kinds

ROOT = Path(__file__).resolve().parents[2]


def test_the_well_known_kinds_are_found():
    known = known_event_kinds()
    assert {"job.created", "job.state", "trainer.crashed", "checkpoint.saved", "scenario.start",
            "workload.step", "workload.saved", "workload.resumed", "fault.never_fired"} <= known
    assert {f"fault.{k}" for k in fault_kinds()} <= known


def test_every_kind_a_builtin_scenario_expects_is_known():
    # the built-ins pass their runs, so what they expect is really logged
    for name in builtin_names():
        s = load_builtin(name)  # would raise ScenarioFileError on an unknown kind
        for want in s.expect.events + s.expect.no_events:
            assert event_kind_problem(want.kind) is None, (name, want.kind)


def test_every_literal_log_call_is_known():
    pattern = re.compile(r"""\b_?log\(\s*"([a-z_]+\.[a-z_]+)\"""")
    logged = {k for pkg in ("emulator", "trainer", "scenarios")
              for p in (ROOT / pkg).rglob("*.py") for k in pattern.findall(p.read_text())}
    assert logged and logged <= known_event_kinds()


def test_a_typo_is_named_with_the_known_kinds():
    msg = event_kind_problem("workload.stpe")
    assert msg and "did you mean 'workload.step'" in msg and "job.state" in msg
    assert event_kind_problem("fault.preemt") and "did you mean 'fault.preempt'" in \
        event_kind_problem("fault.preemt")
    assert event_kind_problem("trainer") is None and event_kind_problem("fault.http") is None
    assert event_kind_problem("workload.my_thing", custom_workload=True) is None
    assert event_kind_problem("workload.my_thing") is not None
