"""The list of event kinds that `expect.events` is checked against holds every kind the code logs."""

from __future__ import annotations

import re
from pathlib import Path

from drydock.emulator import default_dialects
from drydock.scenarios._event_kinds import event_kind_problem, known_event_kinds

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = ("job", "fault", "trainer", "checkpoint", "model", "scenario",
            *(d.name for d in default_dialects()), "deployment")
LOGGED = re.compile(r"""\.log\(\s*"((?:""" + "|".join(PREFIXES) + r""")\.[a-z_]+)\"""")
WORKLOAD = re.compile(r"""(?:ctx\.log|self\._log)\(\s*"([a-z_]+)\"""")


def _sources():
    for pkg in ("emulator", "trainer", "scenarios", "testing"):
        yield from (ROOT / pkg).rglob("*.py")


def test_every_logged_kind_is_known():
    known = set(known_event_kinds())
    logged, workload = set(), set()
    for path in _sources():
        text = path.read_text()
        logged |= set(LOGGED.findall(text))
        workload |= {f"workload.{k}" for k in WORKLOAD.findall(text)}
    assert logged and workload  # the scan found the log calls
    assert logged - known == set()
    assert workload - known == set()


def test_a_typo_is_named_with_the_known_kinds():
    msg = event_kind_problem("workload.stpe")
    assert msg and "did you mean 'workload.step'" in msg and "job.state" in msg
    assert event_kind_problem("trainer") is None and event_kind_problem("fault.http") is None
    assert event_kind_problem("workload.my_thing", custom_workload=True) is None
    assert event_kind_problem("workload.my_thing") is not None


def test_every_builtin_scenario_validates_even_without_optional_dialects():
    # a dialect whose libraries are missing here (SageMaker needs moto and mlflow) cannot list
    # its kinds: its namespace is accepted rather than the scenario refused
    from drydock.scenarios import builtin_names, load_builtin

    for name in builtin_names():
        load_builtin(name)
