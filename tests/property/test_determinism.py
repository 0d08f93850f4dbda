"""Same seed + same scripted calls + the same FaultPlan (Poisson preemptions included) => a
byte-identical event log; a different seed => a different log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from drydock.emulator import (
    CapacityStarvation,
    Emulator,
    FaultPlan,
    HoldState,
    HttpFault,
    Preempt,
    TrainerCrash,
)

A = "drydock"
JOBS = f"/v1/accounts/{A}/rlorTrainerJobs"
BODY = {"serviceMode": True, "keepAlive": False, "dataset": "",
        "trainingConfig": {"baseModel": "accounts/fireworks/models/qwen3-0p6b", "loraRank": 0,
                           "learningRate": 1e-05, "acceleratorType": "NVIDIA_H100_80GB",
                           "acceleratorCount": 16},
        "useReservation": True, "nodeCount": 1}


def plan() -> FaultPlan:
    return FaultPlan.of(
        Preempt(job="*", rate_per_hour=4, until_s=4 * 3600),
        Preempt(job="fixed", after_running_s=600, via="CREATING", hold_s=30),
        TrainerCrash(job="*", at_step=7),
        HoldState(state="CREATING", seconds=90, count=2),
        CapacityStarvation(at_s=3600, duration_s=900, accelerator_type="NVIDIA_H100_80GB"),
        HttpFault(route="jobs.get", latency_s=3, skip=5, count=4),
    )


def scenario(seed: int) -> str:
    """A scripted client: creates (one id server-generated), polls, resumes whatever failed,
    steps trainers, saves checkpoints, deletes. Returns the event log as JSON lines."""
    emu = Emulator(seed=seed)
    emu.inject(plan(), check=False)  # steps are reported below by hand (cp.on_step)
    cp = emu.control_plane
    with emu.client() as c:
        ids = ["fixed", "c", "d"]
        for job_id in ids:
            assert c.post(f"{JOBS}?rlorTrainerJobId={job_id}", json=BODY).status_code == 200
        generated = c.post(JOBS, json=BODY).json()["name"].rsplit("/", 1)[1]
        ids.append(generated)
        for tick in range(4 * 12):                   # four virtual hours, a poll every 5 minutes
            emu.advance(300)
            for job_id in ids:
                state = c.get(f"{JOBS}/{job_id}").json()["state"]
                if state in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
                    assert c.post(f"{JOBS}/{job_id}:resume").status_code == 200
                elif state == "JOB_STATE_RUNNING":
                    job = cp.get_job(A, job_id)
                    cp.on_step(A, job_id, job.steps + 1)
                    if tick % 6 == 0:
                        cp.record_checkpoint(A, job_id, f"step-{job.steps}", "TRAINING", False,
                                             step=job.steps)
            if tick == 25:
                c.post(f"{JOBS}/c:cancel")
            if tick == 40:
                c.delete(f"{JOBS}/d")
        return emu.events.to_jsonl()


_first_run: dict[int, str] = {}


def first_run(seed: int) -> str:
    if seed not in _first_run:
        _first_run[seed] = scenario(seed)
    return _first_run[seed]


def test_same_seed_same_calls_give_byte_identical_logs() -> None:
    first, second = first_run(11), scenario(11)
    assert first == second
    # The scenario really exercised the faults, so the comparison means something.
    assert first.count('"kind":"fault.preempt"') >= 5
    assert '"kind":"fault.trainer_crash"' in first and '"kind":"fault.http"' in first
    assert '"kind":"fault.hold_state"' in first and '"starving":true' in first
    assert first.count('"kind":"job.resume"') >= 5


def test_different_seed_gives_a_different_log() -> None:
    other = scenario(12)
    assert first_run(11) != other
    assert other.count('"kind":"fault.preempt"') >= 5


_CHILD = """
import sys
sys.path.insert(0, {here!r})
from test_determinism import scenario
sys.stdout.write(scenario(11))
"""


def test_log_does_not_depend_on_the_process_hash_seed() -> None:
    """Dict/set order keyed by str hashes must not leak into the log."""
    here = str(Path(__file__).parent)
    child = [sys.executable, "-c", _CHILD.format(here=here)]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(child, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout == first_run(11)
