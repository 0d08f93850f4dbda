"""A user's own workload module, outside the drydock package, runs as a scenario from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from drydock.scenarios import ScenarioFileError, parse_scenario
from drydock.scenarios.workloads import WorkloadEvents, get_workload

pytest.importorskip("fireworks.training.sdk")

LOOP = '''
import time
from pydantic import BaseModel
from fireworks.training.sdk.trainer import TrainerJobManager
from drydock.scenarios import workload


class Params(BaseModel):
    steps: int = 3


@workload(needs_trainer=False)
def poll_loop(ctx, p: Params):
    """Create the job, 'train' by polling it, log the contract's events."""
    ev = ctx.events
    mgr = TrainerJobManager(api_key=ctx.api_key, base_url=ctx.base_url)
    job = ctx.jobs[0]
    try:
        ev.create(job.id)
        from drydock.scenarios.workloads import fireworks_config
        mgr.create_and_wait(fireworks_config(job), poll_interval_s=5)
        ev.ready(job.id)
        for step in range(1, p.steps + 1):
            time.sleep(60)  # virtual
            assert mgr.get(job.id)["state"] == "JOB_STATE_RUNNING"
            ev.step(job.id, step, loss=1.0 / step)
        ev.trained(job.id, p.steps)
    finally:
        mgr.delete(job.id)
        ev.delete(job.id)
        mgr.close()


def plain(ctx, params):
    ctx.log("step", "", step=params["n"])
'''

SCENARIO = """\
name: mine
seed: 5
jobs:
  - {id: my-job, base_model: accounts/fireworks/models/qwen3-0p6b}
workload: {name: "myorch.loop:poll_loop", params: {steps: 4}}
expect:
  outcome: ok
  min_steps: 4
  events:
    - {kind: workload.step, job: my-job, min: 4}
  jobs:
    my-job: {final_state: DELETED}
"""


@pytest.fixture
def user_pkg(tmp_path, monkeypatch):
    pkg = tmp_path / "src" / "myorch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "loop.py").write_text(textwrap.dedent(LOOP))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield tmp_path
    for mod in [m for m in sys.modules if m == "myorch" or m.startswith("myorch.")]:
        del sys.modules[mod]


def test_user_workload_runs_from_the_cli(user_pkg):
    scenario = user_pkg / "mine.yaml"
    scenario.write_text(SCENARIO)
    out = user_pkg / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(user_pkg / "src"), os.environ.get("PYTHONPATH", "")]), "COLUMNS": "200"}
    res = subprocess.run([sys.executable, "-m", "drydock.cli", "run", str(scenario),
                          "--no-live", "--out", str(out)], env=env, cwd=str(user_pkg),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["jobs"]["my-job"]["final_state"] == "DELETED"
    kinds = [json.loads(line)["kind"] for line in (out / "events.jsonl").read_text().splitlines()]
    assert kinds.count("workload.step") == 4 and "workload.trained" in kinds


def test_undecorated_function_gets_a_dict_and_needs_a_trainer(user_pkg):
    info = get_workload("myorch.loop:plain")
    assert info.needs_trainer and info.params.model_validate({"n": 2}).model_dump() == {"n": 2}
    decorated = get_workload("myorch.loop:poll_loop")
    assert not decorated.needs_trainer and decorated.params.__name__ == "Params"


@pytest.mark.parametrize("name, words", [
    ("nomodule_xyz.loop:fn", ["cannot import 'nomodule_xyz.loop'", "PYTHONPATH"]),
    ("myorch.loop:missing", ["has no function 'missing'"]),
    ("lifecyle", ["did you mean 'lifecycle'"]),
])
def test_bad_workload_names_are_file_errors(user_pkg, name, words):
    text = SCENARIO.replace('"myorch.loop:poll_loop"', f'"{name}"')
    with pytest.raises(ScenarioFileError) as exc:
        parse_scenario(text, "mine.yaml")
    msg = str(exc.value)
    assert "mine.yaml:5: workload.name:" in msg
    for w in words:
        assert w in msg


def test_workload_events_emit_the_contract():
    logged = []

    class Ctx:
        def log(self, kind, job="", **detail):
            logged.append((kind, job, detail))

    ev = WorkloadEvents(Ctx())
    ev.step("j", 3, loss=0.1234567)
    ev.saved("j", "step-3", 3)
    ev.resumed("j", "step-3", 3)
    assert logged == [("step", "j", {"step": 3, "loss": 0.123457}),
                      ("saved", "j", {"name": "step-3", "step": 3}),
                      ("resumed", "j", {"name": "step-3", "step": 3})]
