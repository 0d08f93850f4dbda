"""The job state machine: every legal path, FIFO capacity queueing, tombstones, resume rules,
and the checked transition table."""

from __future__ import annotations

import itertools

import pytest
from _emu_helpers import ACCOUNT, JOBS, assert_error, create, spec, state

from drydock.emulator import ControlPlane, JobState
from drydock.emulator.errors import FailedPrecondition, IllegalTransition, NotFound
from drydock.emulator.states import RESUMABLE, TRANSITIONS, check_transition

S = JobState
A = ACCOUNT


def states(cp: ControlPlane, job_id: str) -> list[str]:
    return [e.detail["dst"] for e in cp.events.filter("job.state", job=job_id)]


# ---------------------------------------------------------------------------- create / run
def test_create_goes_creating_then_running_after_provisioning(cp: ControlPlane) -> None:
    job = cp.create_job(A, "j1", spec())
    assert job.state == S.CREATING
    cp.clock.advance(29.9)
    assert cp.get_job(A, "j1").state == S.CREATING
    cp.clock.advance(0.1)
    assert cp.get_job(A, "j1").state == S.RUNNING
    assert cp.runtime.is_ready(job)
    assert states(cp, "j1") == ["CREATING", "RUNNING"]


def test_http_create_reads_creating_then_running(emu, client) -> None:
    r = create(client, "j1")
    assert r.status_code == 200 and r.json()["name"] == f"accounts/{A}/rlorTrainerJobs/j1"
    assert r.json()["state"] == "JOB_STATE_CREATING"
    emu.advance(30)
    assert state(client, "j1") == "JOB_STATE_RUNNING"
    assert client.get(f"/training/v1/rlorTrainerJobs/{A}/j1/api/v1/healthz").status_code == 200


# ---------------------------------------------------------------------------- capacity queue
def test_full_pool_queues_pending_and_starts_fifo_without_overtaking(cp: ControlPlane) -> None:
    cp.create_job(A, "big", spec(48))
    cp.create_job(A, "mid", spec(16))          # pool of 64 is now full
    cp.create_job(A, "c32", spec(32))
    cp.create_job(A, "d8", spec(8))
    assert [cp.get_job(A, j).state for j in ("c32", "d8")] == [S.PENDING, S.PENDING]
    cp.clock.advance(30)
    cp.delete_job(A, "mid")                    # 16 free: c32 does not fit, d8 may not overtake
    assert cp.get_job(A, "c32").state == S.PENDING
    assert cp.get_job(A, "d8").state == S.PENDING
    cp.delete_job(A, "big")                    # 64 free: both start, in order
    assert cp.get_job(A, "c32").state == S.CREATING
    assert cp.get_job(A, "d8").state == S.CREATING
    starts = [e.job for e in cp.events.filter("job.state")
              if e.detail["dst"] == "CREATING" and e.job in ("c32", "d8")]
    assert starts == ["c32", "d8"]


def test_new_job_does_not_jump_a_non_empty_queue(cp: ControlPlane) -> None:
    cp.create_job(A, "big", spec(60))
    cp.create_job(A, "waits", spec(8))         # 4 free: queued
    cp.create_job(A, "tiny", spec(1))          # would fit, but someone is ahead
    assert cp.get_job(A, "tiny").state == S.PENDING
    # Another pool's queue is independent.
    other = cp.create_job(A, "h200", spec(1, accelerator_type="NVIDIA_H200_141GB"))
    assert other.state == S.CREATING


def test_removing_the_head_of_the_queue_lets_the_next_job_start(cp: ControlPlane) -> None:
    cp.create_job(A, "big", spec(48))
    cp.create_job(A, "head", spec(32))         # 16 free: queued
    cp.create_job(A, "next", spec(8))          # fits, but queued behind head
    assert cp.get_job(A, "next").state == S.PENDING
    cp.delete_job(A, "head")
    assert cp.get_job(A, "next").state == S.CREATING


def test_cancelling_the_head_of_the_queue_lets_the_next_job_start(cp: ControlPlane) -> None:
    cp.create_job(A, "big", spec(48))
    cp.create_job(A, "head", spec(32))
    cp.create_job(A, "next", spec(8))
    cp.cancel_job(A, "head")
    assert cp.get_job(A, "next").state == S.CREATING


def test_capacity_never_overcommitted_while_jobs_come_and_go(cp: ControlPlane) -> None:
    for i in range(12):
        cp.create_job(A, f"j{i}", spec(8))
    assert cp.used("US_VIRGINIA_1", "NVIDIA_H100_80GB") == 64
    assert sum(cp.get_job(A, f"j{i}").state == S.PENDING for i in range(12)) == 4
    cp.clock.advance(30)
    cp.preempt_job(A, "j0")
    assert cp.used("US_VIRGINIA_1", "NVIDIA_H100_80GB") == 64
    assert cp.get_job(A, "j8").state == S.CREATING and cp.get_job(A, "j9").state == S.PENDING


# ---------------------------------------------------------------------------- delete
def test_delete_goes_deleting_then_deleted_tombstone_stays_readable(emu, client) -> None:
    create(client, "j1")
    emu.advance(30)
    emu.control_plane.record_checkpoint(A, "j1", "step-1", "TRAINING", False)
    assert client.delete(f"{JOBS}/j1").status_code == 200
    assert state(client, "j1") == "JOB_STATE_DELETING"
    emu.advance(5)
    assert state(client, "j1") == "JOB_STATE_DELETED"
    rows = client.get(f"{JOBS}/j1/checkpoints").json()["checkpoints"]
    assert [r["name"].rsplit("/", 1)[1] for r in rows] == ["step-1"]
    # A tombstone is never re-created or re-attached.
    assert_error(create(client, "j1"), 409, 6, "already exists")
    assert_error(client.post(f"{JOBS}/j1:resume"), 400, 9, "DELETED")
    assert_error(client.delete(f"{JOBS}/j1"), 404, 5)


def test_delete_is_idempotent_while_deleting(cp: ControlPlane) -> None:
    cp.create_job(A, "j1", spec())
    cp.delete_job(A, "j1")
    cp.clock.advance(3)
    cp.delete_job(A, "j1")  # must not restart the 5 s timer
    cp.clock.advance(2)
    assert cp.get_job(A, "j1").state == S.DELETED
    assert states(cp, "j1") == ["CREATING", "DELETING", "DELETED"]


def test_resume_of_deleting_job_is_failed_precondition(cp: ControlPlane) -> None:
    cp.create_job(A, "j1", spec())
    cp.delete_job(A, "j1")
    with pytest.raises(FailedPrecondition, match="DELETING"):
        cp.resume_job(A, "j1")


# ---------------------------------------------------------------------------- resume
def _to(cp: ControlPlane, job_id: str, target: S) -> None:
    cp.create_job(A, job_id, spec())
    cp.clock.advance(30)
    if target == S.FAILED:
        assert cp.preempt_job(A, job_id)
    elif target == S.CANCELLED:
        cp.cancel_job(A, job_id)
        cp.clock.advance(5)
    elif target == S.COMPLETED:
        assert cp.complete_job(A, job_id)
    elif target == S.PAUSED:
        from drydock.emulator import FaultPlan, IdleAutoStop
        cp.inject(FaultPlan.of(IdleAutoStop(job=job_id, after_s=60)))
        cp.clock.advance(60)
    assert cp.get_job(A, job_id).state == target


@pytest.mark.parametrize("src", [S.FAILED, S.CANCELLED, S.PAUSED, S.COMPLETED])
def test_resume_from_each_resumable_state_runs_again(cp: ControlPlane, src: S) -> None:
    _to(cp, "j1", src)
    job = cp.resume_job(A, "j1")
    assert job.state == S.CREATING and job.resumes == 1 and job.status_code == "OK"
    cp.clock.advance(30)
    assert cp.get_job(A, "j1").state == S.RUNNING
    assert states(cp, "j1")[-3:] == [src.value, "CREATING", "RUNNING"]


def test_resume_with_full_pool_goes_pending_then_runs(cp: ControlPlane) -> None:
    _to(cp, "j1", S.FAILED)
    cp.create_job(A, "hog", spec(64))
    assert cp.resume_job(A, "j1").state == S.PENDING
    cp.delete_job(A, "hog")
    assert cp.get_job(A, "j1").state == S.CREATING


def test_resume_is_idempotent_on_live_jobs(emu, client) -> None:
    create(client, "j1")
    r = client.post(f"{JOBS}/j1:resume")
    assert r.status_code == 200 and r.json()["state"] == "JOB_STATE_CREATING"
    emu.advance(30)
    r = client.post(f"{JOBS}/j1:resume")
    assert r.status_code == 200 and r.json()["state"] == "JOB_STATE_RUNNING"
    assert emu.control_plane.get_job(A, "j1").resumes == 0
    assert emu.events.filter("job.resume") == []


def test_resume_after_preemption_over_http_never_reads_failed(emu, client) -> None:
    create(client, "j1")
    emu.advance(30)
    emu.control_plane.preempt_job(A, "j1")
    job = client.get(f"{JOBS}/j1").json()
    assert job["state"] == "JOB_STATE_FAILED" and job["status"]["code"] == "UNAVAILABLE"
    r = client.post(f"{JOBS}/j1:resume", content=b"")  # body-less, as the SDK sends it
    assert r.status_code == 200 and r.json()["state"] in ("JOB_STATE_CREATING", "JOB_STATE_PENDING")
    assert state(client, "j1") != "JOB_STATE_FAILED"


def test_resume_and_cancel_errors_over_http(emu, client) -> None:
    create(client, "j1")
    assert_error(client.post(f"{JOBS}/nope:resume"), 404, 5, "nope")
    assert_error(client.post(f"{JOBS}/j1:explode"), 404, 5, "explode")
    assert client.post(f"{JOBS}/j1:cancel").json()["state"] == "JOB_STATE_CANCELLING"
    assert_error(client.post(f"{JOBS}/j1:resume"), 400, 9, "CANCELLING")
    emu.advance(5)
    assert_error(client.post(f"{JOBS}/j1:cancel"), 400, 9, "CANCELLED")


def test_cancel_goes_cancelling_then_cancelled(cp: ControlPlane) -> None:
    cp.create_job(A, "j1", spec())
    cp.clock.advance(30)
    cp.cancel_job(A, "j1")
    assert cp.get_job(A, "j1").state == S.CANCELLING
    cp.clock.advance(5)
    assert cp.get_job(A, "j1").state == S.CANCELLED
    assert states(cp, "j1") == ["CREATING", "RUNNING", "CANCELLING", "CANCELLED"]


def test_get_of_unknown_job_is_not_found(cp: ControlPlane) -> None:
    with pytest.raises(NotFound):
        cp.get_job(A, "ghost")


# ---------------------------------------------------------------------------- the table
def test_check_transition_accepts_exactly_the_table() -> None:
    for src, dst in itertools.product([None, *S], S):
        if dst in TRANSITIONS[src]:
            check_transition(src, dst)
        else:
            with pytest.raises(IllegalTransition):
                check_transition(src, dst)


@pytest.mark.parametrize("src,dst", [
    (S.DELETED, S.CREATING), (S.DELETED, S.RUNNING), (S.FAILED, S.RUNNING),
    (S.PENDING, S.RUNNING), (None, S.RUNNING), (S.CANCELLED, S.FAILED), (S.DELETING, S.RUNNING),
])
def test_illegal_transitions_are_rejected(src, dst) -> None:
    with pytest.raises(IllegalTransition, match="illegal"):
        check_transition(src, dst)


def test_table_shape() -> None:
    assert TRANSITIONS[S.DELETED] == frozenset()
    assert all(S.DELETING in TRANSITIONS[s] for s in S if s not in (S.DELETED, S.DELETING))
    for s in RESUMABLE:
        assert {S.PENDING, S.CREATING} <= TRANSITIONS[s]
