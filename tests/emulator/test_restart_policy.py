"""RestartPolicy: what the core does when a job fails under it (none / restart / resume)."""

from __future__ import annotations

from _emu_helpers import ACCOUNT, spec

from drydock.emulator import ControlPlane, JobState, RestartPolicy
from drydock.emulator.records import JobSpec

S = JobState
A = ACCOUNT


def running(cp: ControlPlane, job_id: str, policy: RestartPolicy, s: JobSpec | None = None):
    job = cp.create_job(A, job_id, s or spec(), restart=policy)
    cp.clock.advance(cp.timings.provision_s)
    assert job.state == S.RUNNING
    return job


def test_no_policy_leaves_the_job_failed_for_the_client(cp: ControlPlane) -> None:
    job = running(cp, "j1", RestartPolicy())
    cp.preempt_job(A, "j1")
    cp.clock.advance(3600)
    assert (job.state, job.restarts) == (S.FAILED, 0)
    assert not cp.events.filter("job.restart", job="j1")


def test_restart_policy_restarts_up_to_its_limit_then_stays_failed(cp: ControlPlane) -> None:
    job = running(cp, "j1", RestartPolicy(mode="restart", max_restarts=2, backoff_s=10))
    for n in (1, 2):
        cp.preempt_job(A, "j1")
        assert job.state == S.FAILED  # FAILED first, as clients would see
        cp.clock.advance(9.9)
        assert job.state == S.FAILED  # the backoff holds it
        cp.clock.advance(0.1 + cp.timings.provision_s)
        assert (job.state, job.restarts) == (S.RUNNING, n)
    cp.crash_trainer(A, "j1", exit_code=3)
    cp.clock.advance(3600)
    assert (job.state, job.restarts) == (S.FAILED, 2)
    assert [e.kind for e in cp.events if e.kind.startswith("job.restart")] == [
        "job.restart",
        "job.restart",
        "job.restart_exhausted",
    ]
    assert all(e.detail["restore_from"] is None for e in cp.events.filter("job.restart"))


def test_resume_policy_restores_from_the_newest_training_checkpoint(cp: ControlPlane) -> None:
    job = running(cp, "j1", RestartPolicy(mode="resume", max_restarts=1))
    cp.record_checkpoint(A, "j1", "step-1", "TRAINING", False, location="/ck/step-1", step=1)
    cp.record_checkpoint(A, "j1", "step-2", "TRAINING", False, location="/ck/step-2", step=2)
    cp.record_checkpoint(A, "j1", "sampler-2", "INFERENCE_BASE", True, location="/ck/s2", step=2)
    cp.preempt_job(A, "j1")
    assert job.restore_from == "/ck/step-2"
    cp.clock.advance(cp.timings.provision_s)
    assert job.state == S.RUNNING
    assert cp.events.filter("job.restart", job="j1")[0].detail["mode"] == "resume"


def test_a_client_delete_during_the_backoff_wins(cp: ControlPlane) -> None:
    job = running(cp, "j1", RestartPolicy(mode="restart", max_restarts=5, backoff_s=60))
    cp.preempt_job(A, "j1")
    cp.delete_job(A, "j1")
    cp.clock.advance(3600)
    assert job.state == S.DELETED


def test_a_preemption_through_a_transitional_state_restarts_after_failed(cp: ControlPlane) -> None:
    job = running(cp, "j1", RestartPolicy(mode="restart", max_restarts=1))
    cp.preempt_job(A, "j1", via="DELETING", hold_s=20)
    cp.clock.advance(19)
    assert job.state == S.DELETING and job.restarts == 0
    cp.clock.advance(1 + cp.timings.provision_s)
    assert (job.state, job.restarts) == (S.RUNNING, 1)


def test_a_policy_covers_only_the_failures_it_names(cp: ControlPlane) -> None:
    job = running(
        cp, "j1", RestartPolicy(mode="resume", max_restarts=3, on=frozenset({"preemption"}))
    )
    cp.crash_trainer(A, "j1", exit_code=2)  # a crash is the job's own bug: no restart
    cp.clock.advance(3600)
    assert (job.state, job.restarts) == (S.FAILED, 0)
    cp.resume_job(A, "j1")
    cp.clock.advance(cp.timings.provision_s)
    cp.preempt_job(A, "j1")
    cp.clock.advance(cp.timings.provision_s)
    assert (job.state, job.restarts) == (S.RUNNING, 1)


def test_fail_job_reports_a_dialects_failure_and_forget_job_frees_the_name(
    cp: ControlPlane,
) -> None:
    job = running(cp, "j1", RestartPolicy(mode="restart", max_restarts=3))
    assert cp.fail_job(A, "j1", "deadline exceeded", code="DEADLINE_EXCEEDED")
    cp.clock.advance(3600)
    assert (job.state, job.status_message, job.restarts) == (S.FAILED, "deadline exceeded", 0)
    assert not cp.fail_job(A, "j1", "again")  # already failed: nothing to do
    assert not cp.forget_job(A, "j1")  # not a tombstone
    cp.delete_job(A, "j1")
    cp.clock.advance(cp.timings.delete_s)
    assert cp.forget_job(A, "j1")
    assert cp.create_job(A, "j1", spec()).state in (S.CREATING, S.PENDING)  # the name is free
