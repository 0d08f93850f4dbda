"""fireworks-ai 1.2.9 (the pin many programs carry) against drydock: a subprocess in
.venv-fw129 drives the real 1.2.9 TrainerJobManager against a ServerThread of this process, in
the server's virtual time (drydock.testing.remote_virtual_time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drydock.emulator import Emulator, FaultPlan, JobState, Preempt, Timings

ROOT = Path(__file__).resolve().parents[2]
PY129 = ROOT / ".venv-fw129" / "bin" / "python"
DRIVER = Path(__file__).parent / "fw129" / "control_plane_driver.py"
SCENARIOS = ["create_and_wait", "get", "reconnect", "resume", "delete", "shape"]
SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"

pytestmark = pytest.mark.skipif(not PY129.exists(),
                                reason=".venv-fw129 is missing (run scripts/setup.sh)")


@pytest.fixture(scope="module")
def fw129():
    """Run every scenario in one subprocess (importing 1.2.9 takes seconds) against one server."""
    plan = FaultPlan.of(Preempt(job="fw129-reconnect", after_running_s=60),
                        Preempt(job="fw129-resume", after_running_s=60))
    with Emulator(seed=129, timings=Timings(provision_s=600), faults=plan,
                  admin_token="fw129-admin") as emu, emu.serve() as server:
        env = {**os.environ, "FIREWORKS_API_KEY": emu.api_key,
               "DRYDOCK_ADMIN_TOKEN": "fw129-admin"}
        proc = subprocess.run([str(PY129), str(DRIVER), server.url, *SCENARIOS], env=env,
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRYDOCK_RESULT ")]
        if proc.returncode != 0 or not lines:
            pytest.fail(f"1.2.9 driver failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n"
                        f"{proc.stderr[-5000:]}")
        results = json.loads(lines[-1][len("DRYDOCK_RESULT "):])
        print(json.dumps({k: {"virtual_s": v["virtual_s"], "wall_s": v["wall_s"]}
                          for k, v in results.items()}, indent=1), file=sys.stderr)
        yield results, emu, server


def _ok(results: dict, name: str) -> dict:
    res = results[name]
    assert "error" not in res, res.get("traceback", res.get("error"))
    return res


def test_create_and_wait(fw129):
    results, emu, server = fw129
    res = _ok(results, "create_and_wait")
    assert res["job_id"] == "fw129-wait"
    # 1.2.9 builds the trainer URL from base_url (no trainer_gateway_url argument)
    gateway = f"{server.url}/training/v1/rlorTrainerJobs/{emu.account_id}"
    assert res["base_url"] == f"{gateway}/fw129-wait"
    assert res["max_context_length"] == 131072
    assert 600 <= res["virtual_s"] < 610 and res["boot_time_s"] >= 600
    assert res["wall_s"] < 60  # loose: ten virtual minutes, not ten real ones


def test_get(fw129):
    results, emu, _ = fw129
    res = _ok(results, "get")
    assert res["state"] == "JOB_STATE_RUNNING"
    assert res["name"] == f"accounts/{emu.account_id}/rlorTrainerJobs/fw129-wait"
    assert res["missing"] is None
    assert "Trainer job fw129-missing was not found" in res["missing_error"]


def test_reconnect_and_wait_after_preemption(fw129):
    results, emu, _ = fw129
    res = _ok(results, "reconnect")
    assert res["after_preempt"] == "JOB_STATE_FAILED"
    assert res["status"]["message"] == "preempted"
    assert res["final"] == "JOB_STATE_RUNNING"
    job = emu.control_plane.get_job(emu.account_id, "fw129-reconnect")
    assert (job.preemptions, job.resumes) == (1, 1)


def test_resume_and_wait_after_preemption(fw129):
    results, emu, _ = fw129
    res = _ok(results, "resume")
    assert (res["after_preempt"], res["final"]) == ("JOB_STATE_FAILED", "JOB_STATE_RUNNING")
    job = emu.control_plane.get_job(emu.account_id, "fw129-resume")
    assert job.state is JobState.RUNNING and job.resumes == 1


def test_delete_leaves_an_unrecreatable_tombstone(fw129):
    results, _, _ = fw129
    res = _ok(results, "delete")
    assert (res["after_delete"], res["later"]) == ("JOB_STATE_DELETING", "JOB_STATE_DELETED")
    assert "archived and cannot be recreated" in res["recreate_error"]


def test_shape_path_sends_the_resolved_version(fw129):
    """Spec §7: 1.2.9 passes `profile.training_shape_version` (1.2.28 the parent shape)."""
    results, emu, _ = fw129
    res = _ok(results, "shape")
    latest = emu.control_plane.catalog.shape(SHAPE)[0].latest_validated()
    assert res["training_shape_version"] == f"{SHAPE}/versions/{latest.version}"
    job = emu.control_plane.get_job(emu.account_id, "fw129-shape")
    assert job.spec.training_shape == res["training_shape_version"]  # the ?trainingShape= query
    assert res["wire_training_shape"] == res["training_shape_version"]
