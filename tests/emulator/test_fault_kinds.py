"""Every fault kind of faults.py (except HTTP faults, see test_http_faults.py): its effect on the
job and its event in the log."""

from __future__ import annotations

import pytest
from _emu_helpers import ACCOUNT, spec

from drydock.emulator import (
    CapacityStarvation,
    CheckpointWriteFailure,
    ControlPlane,
    Emulator,
    ExternalCancel,
    FaultPlan,
    HealthzFlap,
    HoldState,
    IdleAutoStop,
    JobState,
    NodeFailure,
    Preempt,
    TrainerCrash,
    VirtualClock,
    default_catalog,
)
from drydock.emulator.errors import FaultPlanError

S = JobState
A = ACCOUNT


def running(cp: ControlPlane, job_id: str = "j1", accelerators: int = 1) -> None:
    cp.create_job(A, job_id, spec(accelerators))
    cp.clock.advance(30)
    assert cp.get_job(A, job_id).state == S.RUNNING


def fault_events(cp: ControlPlane, kind: str, job: str | None = None):
    return [e for e in cp.events.filter(f"fault.{kind}") if job is None or e.job == job]


def dsts(cp: ControlPlane, job_id: str) -> list[tuple[float, str]]:
    return [(e.t, e.detail["dst"]) for e in cp.events.filter("job.state", job=job_id)]


# ---------------------------------------------------------------------------- preemption
def test_preempt_at_time(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(Preempt(job="j1", at_s=100)))
    assert [e.detail["fault"] for e in cp.events.filter("fault.injected")] == ["preempt"]
    cp.clock.advance(69)
    assert cp.get_job(A, "j1").state == S.RUNNING
    cp.clock.advance(1)
    job = cp.get_job(A, "j1")
    assert job.state == S.FAILED and job.status_code == "UNAVAILABLE" and job.preemptions == 1
    [ev] = fault_events(cp, "preempt", "j1")
    assert ev.t == 100 and ev.detail["fired"] is True
    assert (A, "j1", "preempted") in cp.runtime.stops
    assert not cp.runtime.is_ready(job)


def test_preempt_of_a_job_that_is_not_running_is_logged_as_not_fired(cp: ControlPlane) -> None:
    cp.create_job(A, "j1", spec())
    cp.inject(FaultPlan.of(Preempt(job="j1", at_s=10)))   # still CREATING at 10 s
    cp.clock.advance(10)
    [ev] = fault_events(cp, "preempt", "j1")
    assert ev.detail == {"fired": False, "state": "CREATING"}
    cp.clock.advance(20)
    assert cp.get_job(A, "j1").state == S.RUNNING


def test_preempt_after_running_fires_once_per_job(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(Preempt(job="*", after_running_s=50)))
    running(cp)                                        # RUNNING at 30
    cp.clock.advance(49)
    assert cp.get_job(A, "j1").state == S.RUNNING
    cp.clock.advance(1)
    assert cp.get_job(A, "j1").state == S.FAILED
    assert [e.t for e in fault_events(cp, "preempt", "j1")] == [80]
    cp.resume_job(A, "j1")
    cp.clock.advance(1000)
    assert cp.get_job(A, "j1").state == S.RUNNING     # not preempted a second time


def test_preempt_at_step_via_on_step(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(Preempt(job="j1", at_step=3)))
    cp.on_step(A, "j1", 1)
    cp.on_step(A, "j1", 2)
    assert cp.get_job(A, "j1").state == S.RUNNING
    cp.on_step(A, "j1", 3)
    job = cp.get_job(A, "j1")
    assert job.state == S.FAILED and job.steps == 3
    assert len(fault_events(cp, "preempt", "j1")) == 1


def test_preempt_via_a_transitional_state_then_failed(cp: ControlPlane) -> None:
    running(cp, "j1", 64)
    cp.create_job(A, "waiter", spec(1))
    cp.inject(FaultPlan.of(Preempt(job="j1", at_s=50, via="CREATING", hold_s=20)))
    cp.clock.advance(20)
    assert cp.get_job(A, "j1").state == S.CREATING
    assert cp.get_job(A, "waiter").state == S.PENDING      # CREATING still holds capacity
    cp.clock.advance(20)
    assert cp.get_job(A, "j1").state == S.FAILED
    assert dsts(cp, "j1")[-2:] == [(50, "CREATING"), (70, "FAILED")]
    assert cp.get_job(A, "waiter").state == S.CREATING


def poisson_times(seed: int, inject_at: float = 0.0) -> list[float]:
    cp = ControlPlane(VirtualClock(), seed=seed, catalog=default_catalog())
    cp.add_account(A, "key")
    cp.clock.advance(inject_at)
    cp.inject(FaultPlan.of(Preempt(rate_per_hour=20, until_s=inject_at + 7200)))
    cp.clock.advance(7200)
    return [e.t for e in fault_events(cp, "preempt")]


def test_poisson_preemptions_are_deterministic_per_seed_and_bounded() -> None:
    a, b, other = poisson_times(1), poisson_times(1), poisson_times(2)
    assert a == b
    assert a != other
    assert a == sorted(a) and all(0 <= t < 7200 for t in a)
    assert 10 <= len(a) <= 80       # 40 expected; far outside means the rate is wrong


def test_poisson_arrivals_never_land_before_injection() -> None:
    times = poisson_times(3, inject_at=5000)
    assert times and min(times) > 5000


def test_poisson_preemptions_hit_running_jobs() -> None:
    cp = ControlPlane(VirtualClock(), seed=5, catalog=default_catalog())
    cp.add_account(A, "key")
    running(cp)
    cp.inject(FaultPlan.of(Preempt(job="j1", rate_per_hour=60, until_s=3600)))
    failures = 0
    for _ in range(3600 // 10):
        cp.clock.advance(10)
        if cp.get_job(A, "j1").state == S.FAILED:
            failures += 1
            cp.resume_job(A, "j1")
    fired = [e for e in fault_events(cp, "preempt", "j1") if e.detail["fired"]]
    assert failures == len(fired) == cp.get_job(A, "j1").preemptions > 0


def test_preempt_rate_needs_until() -> None:
    with pytest.raises(ValueError, match="until_s"):
        Preempt(rate_per_hour=1)
    with pytest.raises(ValueError, match="exactly one"):
        Preempt(at_s=1, at_step=2)


# ---------------------------------------------------------------------------- other failures
def test_node_failure_fails_the_job_with_internal(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(NodeFailure(job="j1", at_s=40, node=1)))
    cp.clock.advance(10)
    job = cp.get_job(A, "j1")
    assert job.state == S.FAILED and job.status_code == "INTERNAL"
    assert "node 1 failed" in job.status_message
    assert fault_events(cp, "node_failure", "j1")[0].detail["fired"] is True


def test_trainer_crash_loop_repeats_count_times(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(TrainerCrash(job="j1", at_step=5, count=2, exit_code=3)))
    for attempt in range(3):
        for step in range(1, 7):
            cp.on_step(A, "j1", step)
            if cp.get_job(A, "j1").state != S.RUNNING:
                break
        job = cp.get_job(A, "j1")
        if attempt < 2:
            assert job.state == S.FAILED and job.steps == 5
            assert job.status_code == "INTERNAL" and "code 3" in job.status_message
            cp.resume_job(A, "j1")
            cp.clock.advance(30)
        else:
            assert job.state == S.RUNNING and job.steps == 6
    assert len(fault_events(cp, "trainer_crash", "j1")) == 2


def test_external_cancel(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(ExternalCancel(job="j1", at_s=60)))
    cp.clock.advance(30)
    job = cp.get_job(A, "j1")
    assert job.state == S.CANCELLING and job.status_message == "cancelled externally"
    cp.clock.advance(5)
    assert cp.get_job(A, "j1").state == S.CANCELLED
    assert fault_events(cp, "cancel", "j1")[0].detail["fired"] is True


def test_external_cancel_of_a_finished_job_is_logged_as_not_fired(cp: ControlPlane) -> None:
    running(cp)
    cp.complete_job(A, "j1")
    cp.inject(FaultPlan.of(ExternalCancel(job="j1", at_s=60)))
    cp.clock.advance(30)
    assert cp.get_job(A, "j1").state == S.COMPLETED
    assert fault_events(cp, "cancel", "j1")[0].detail == {"fired": False, "state": "COMPLETED"}


def test_checkpoint_write_failure_hits_the_nth_save(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(CheckpointWriteFailure(job="j1", nth=2, kill_trainer=True)))
    assert cp.checkpoint_write_fails(A, "j1") is None
    f = cp.checkpoint_write_fails(A, "j1")
    assert isinstance(f, CheckpointWriteFailure) and f.kill_trainer
    assert cp.checkpoint_write_fails(A, "j1") is None
    [ev] = fault_events(cp, "checkpoint_write_failure", "j1")
    assert ev.detail == {"nth": 2}


# ---------------------------------------------------------------------------- holds and capacity
def test_hold_state_stretches_creating_for_count_jobs(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(HoldState(state="CREATING", seconds=300, count=1)))
    cp.create_job(A, "slow", spec())
    cp.create_job(A, "normal", spec())
    cp.clock.advance(30)
    assert cp.get_job(A, "slow").state == S.CREATING
    assert cp.get_job(A, "normal").state == S.RUNNING
    cp.clock.advance(270)
    assert cp.get_job(A, "slow").state == S.RUNNING
    [ev] = fault_events(cp, "hold_state")
    assert ev.job == "slow" and ev.detail == {"state": "CREATING", "seconds": 300}


def test_hold_state_pending_keeps_a_job_queued_despite_free_capacity(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(HoldState(job="j1", state="PENDING", seconds=120)))
    cp.create_job(A, "j1", spec())
    cp.create_job(A, "j2", spec())            # FIFO: behind the held job
    cp.clock.advance(119)
    assert [cp.get_job(A, j).state for j in ("j1", "j2")] == [S.PENDING, S.PENDING]
    cp.clock.advance(1)
    assert [cp.get_job(A, j).state for j in ("j1", "j2")] == [S.CREATING, S.CREATING]


def test_hold_state_deleting(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(HoldState(state="DELETING", seconds=600)))
    cp.create_job(A, "j1", spec())
    cp.delete_job(A, "j1")
    cp.clock.advance(599)
    assert cp.get_job(A, "j1").state == S.DELETING
    cp.clock.advance(1)
    assert cp.get_job(A, "j1").state == S.DELETED


def test_capacity_starvation_keeps_jobs_pending_until_it_ends(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(CapacityStarvation(at_s=0, duration_s=600,
                                              accelerator_type="NVIDIA_H100_80GB")))
    cp.create_job(A, "j1", spec())
    cp.create_job(A, "j2", spec())
    other = cp.create_job(A, "h200", spec(1, accelerator_type="NVIDIA_H200_141GB"))
    assert other.state == S.CREATING                       # another pool is not starved
    cp.clock.advance(599)
    assert [cp.get_job(A, j).state for j in ("j1", "j2")] == [S.PENDING, S.PENDING]
    cp.clock.advance(1)
    assert [cp.get_job(A, j).state for j in ("j1", "j2")] == [S.CREATING, S.CREATING]
    assert [e.detail["starving"] for e in fault_events(cp, "capacity")] == [True, False]


def test_capacity_starvation_does_not_evict_running_jobs(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(CapacityStarvation(at_s=30, duration_s=60)))
    cp.clock.advance(30)
    assert cp.get_job(A, "j1").state == S.RUNNING
    cp.create_job(A, "j2", spec())
    assert cp.get_job(A, "j2").state == S.PENDING


# ---------------------------------------------------------------------------- healthz, idle
def test_healthz_flap(cp: ControlPlane) -> None:
    running(cp)                                            # t = 30
    cp.inject(FaultPlan.of(HealthzFlap(job="j1", at_s=40, period_s=60, down_s=20)))
    seen = []
    for _ in range(8):                                     # t = 30, 40, ..., 100
        seen.append(cp.trainer_healthy(A, "j1"))
        cp.clock.advance(10)
    assert seen == [True, False, False, True, True, True, True, False]
    assert len(fault_events(cp, "healthz_down", "j1")) == 3


def test_healthz_is_down_unless_running(emu: Emulator, client) -> None:
    from _emu_helpers import create
    create(client, "j1")
    url = f"/training/v1/rlorTrainerJobs/{A}/j1/api/v1/healthz"
    r = client.get(url)
    assert r.status_code == 503 and r.json()["code"] == 14
    emu.advance(30)
    assert client.get(url).status_code == 200
    emu.inject(FaultPlan.of(HealthzFlap(job="j1", at_s=30, period_s=10, down_s=5)))
    assert client.get(url).status_code == 503


def test_idle_auto_stop_pauses_and_touch_defers_it(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(IdleAutoStop(job="*", after_s=600)))
    running(cp)                                            # RUNNING at 30
    cp.clock.advance(500)
    cp.touch(A, "j1")                                      # activity at 530
    cp.clock.advance(599)
    assert cp.get_job(A, "j1").state == S.RUNNING
    cp.clock.advance(1)                                    # 1130 = 530 + 600
    job = cp.get_job(A, "j1")
    assert job.state == S.PAUSED and "inactivity" in job.status_message
    [ev] = fault_events(cp, "idle_stop", "j1")
    assert ev.t == 1130 and ev.detail == {"idle_s": 600}


def test_idle_auto_stop_uses_the_jobs_inactivity_timeout(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(IdleAutoStop()))
    cp.create_job(A, "j1", spec(inactivity_timeout_s=120))
    cp.create_job(A, "forever", spec())                    # no timeout: never stopped
    cp.clock.advance(30 + 120)
    assert cp.get_job(A, "j1").state == S.PAUSED
    cp.clock.advance(10_000)
    assert cp.get_job(A, "forever").state == S.RUNNING


# ---------------------------------------------------------------------------- plans as data
def test_fault_plan_from_yaml_and_bad_yaml() -> None:
    plan = FaultPlan.from_yaml(
        "- {kind: preempt, job: j1, at_s: 10}\n- {kind: http, route: jobs.get, status: 503}\n")
    assert [f.kind for f in plan.faults] == ["preempt", "http"]
    with pytest.raises(FaultPlanError, match="invalid fault plan"):
        FaultPlan.from_yaml("- {kind: meteor_strike, at_s: 1}")
    with pytest.raises(FaultPlanError):
        FaultPlan.from_yaml("- {kind: preempt, at_s: 1, typo: 2}")
    with pytest.raises(FaultPlanError):
        FaultPlan.from_yaml("faults: [unclosed")


def test_overlapping_starvations_each_end_only_their_own(cp: ControlPlane) -> None:
    cp.inject(FaultPlan.of(CapacityStarvation(at_s=0, duration_s=100, accelerators=0),
                           CapacityStarvation(at_s=50, duration_s=100, accelerators=8)))
    cp.create_job(A, "j1", spec(4))
    cp.clock.advance(100)                   # the first ended; the second (8 free) still holds
    assert cp.capacity("US_VIRGINIA_1", "NVIDIA_H100_80GB") == 8
    assert cp.get_job(A, "j1").state == S.CREATING
    cp.create_job(A, "j2", spec(8))
    assert cp.get_job(A, "j2").state == S.PENDING
    cp.clock.advance(50)
    assert cp.capacity("US_VIRGINIA_1", "NVIDIA_H100_80GB") == 64
    assert cp.get_job(A, "j2").state == S.CREATING


def test_client_delete_during_a_preemption_through_deleting_wins(cp: ControlPlane) -> None:
    running(cp)
    cp.inject(FaultPlan.of(Preempt(job="j1", at_s=40, via="DELETING", hold_s=60)))
    cp.clock.advance(10)
    assert cp.get_job(A, "j1").state == S.DELETING
    cp.delete_job(A, "j1")
    cp.clock.advance(5)
    assert cp.get_job(A, "j1").state == S.DELETED
    cp.clock.advance(100)
    assert cp.get_job(A, "j1").state == S.DELETED
    assert [d for _, d in dsts(cp, "j1")] == ["CREATING", "RUNNING", "DELETING", "DELETED"]
