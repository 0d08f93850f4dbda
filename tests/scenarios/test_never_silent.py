"""Faults that can never fire are reported, never silent: a job the run never created (a
warning in the run's output and a `fault.never_fired` event), a trainer that is missing (the
gateway's 503 names the fix), and the pytest plugin gives tests a trainer by default."""

from __future__ import annotations

import importlib.util
import time

import pytest
from typer.testing import CliRunner

from drydock.cli import app
from drydock.emulator import Emulator
from drydock.scenarios import load_builtin, parse_scenario, register_workload, run_scenario
from drydock.scenarios.workloads import LifecycleParams

pytest_plugins = ["pytester"]

# The plugin test runs in its own interpreter (runpytest_subprocess): torch cannot be imported
# twice in one, and pytester's in-process runs drop the modules they imported.
_TORCH = importlib.util.find_spec("torch") is not None


@register_workload("test-idle", LifecycleParams, description="sleeps; creates no job")
def _idle(ctx, p):
    time.sleep(120)  # virtual


GHOST = """\
name: ghost
jobs:
  - {id: ghost, base_model: accounts/fireworks/models/qwen3-0p6b}
faults:
  - {kind: preempt, job: ghost, after_running_s: 10}
  - {kind: cancel, job: ghost, at_s: 5}
workload: {name: test-idle}
"""


def test_a_job_never_created_is_a_warning_and_an_event():
    result = run_scenario(parse_scenario(GHOST))
    never = [e for e in result.events if e.kind == "fault.never_fired"]
    assert [(e.detail["index"], e.detail["fault"]) for e in never] == [(0, "preempt")]
    assert never[0].detail["reason"] == "job 'ghost' was never created"
    assert result.warnings == ["faults[0] (preempt) never fired: job 'ghost' was never created"]
    # the at_s cancel did fire (logged as not applied: no such job), so it is no warning
    again = run_scenario(parse_scenario(GHOST))
    assert again.events_jsonl() == result.events_jsonl()  # deterministic


def test_faults_that_fired_are_no_warning():
    # a flap acts through `fault.healthz_down` events; it fired, so no warning
    result = run_scenario(load_builtin("healthz-flapping"))
    assert result.passed and result.warnings == []
    assert not [e for e in result.events if e.kind == "fault.never_fired"]


def test_the_cli_prints_the_warning(tmp_path):
    path = tmp_path / "ghost.yaml"
    path.write_text(GHOST)
    res = CliRunner().invoke(app, ["run", str(path), "--no-live", "--timeline-limit", "0"])
    assert "warning: faults[0] (preempt) never fired: job 'ghost' was never created" in res.output


def test_gateway_without_a_trainer_answers_503_naming_the_fix():
    with Emulator(runtime=None) as emu, emu.client() as c:
        c.post("/v1/accounts/drydock/rlorTrainerJobs?rlorTrainerJobId=j1&skipValidations=true",
               json={"trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b"}})
        emu.advance(60)
        r = c.post("/training/v1/rlorTrainerJobs/drydock/j1/api/v1/create_session", json={})
        assert r.status_code == 503
        assert "no trainer runtime" in r.json()["message"] and "thread_runtime" in r.json()["message"]


def test_plugin_gives_a_thread_trainer_by_default_and_none_on_request(pytester):
    if not _TORCH:
        pytest.skip("torch is not installed: the default runtime is then none")
    pytester.makepyfile('''
import pytest
from drydock.emulator import NullRuntime


def test_default(drydock):
    rt = drydock.control_plane.runtime
    assert type(rt).__name__ == "TorchRuntime" and rt.mode == "thread"


@pytest.mark.drydock(runtime=None)
def test_none(drydock):
    assert isinstance(drydock.control_plane.runtime, NullRuntime)


@pytest.mark.drydock(runtime=NullRuntime)
def test_null_class(drydock):
    assert isinstance(drydock.control_plane.runtime, NullRuntime)
''')
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=3)


def test_marker_faults_that_could_never_fire_are_errors(pytester):
    pytester.makepyfile('''
import pytest
from drydock.emulator import HttpFault, Preempt


@pytest.mark.drydock(runtime=None, faults=[Preempt(at_step=3)])
def test_no_trainer(drydock):
    pass


@pytest.mark.drydock(runtime=None, faults=[HttpFault(route="jobs.gett", status=503)])
def test_route_typo(drydock):
    pass


@pytest.mark.drydock(runtime=None, faults=[HttpFault(route="jobs.get", status=503)])
def test_fine(drydock):
    pass
''')
    out = pytester.runpytest_subprocess("-q")
    out.assert_outcomes(passed=1, errors=2)
    text = out.stdout.str()
    assert "faults[0].at_step: at_step counts trainer steps" in text
    assert "did you mean 'jobs.get'" in text
