"""The real fireworks-ai 1.2.28 TrainerJobManager against drydock over loopback HTTP, in
virtual time: create, wait, get, delete, resume, reconnect."""

from __future__ import annotations

import pytest

pytest.importorskip("fireworks.training.sdk.trainer")

from _cp_support import QWEN3_8B, config, fireworks_env, wall

from drydock.emulator import ExternalCancel, FaultPlan, IdleAutoStop, JobState, Preempt, Timings
from drydock.testing import virtual_time

S = JobState


def test_create_honours_the_requested_id_and_echoes_the_body():
    with fireworks_env() as env:
        created = env.mgr.create(config(requested_job_id="job-alpha", display_name="probe",
                                        max_context_length=4096))
        assert created.job_id == "job-alpha"
        assert created.job_name == f"accounts/{env.account}/rlorTrainerJobs/job-alpha"
        job = env.mgr.get("job-alpha")
        assert job["state"] == "JOB_STATE_CREATING"
        assert job["displayName"] == "probe"
        assert job["trainingConfig"]["baseModel"] == QWEN3_8B
        assert job["trainingConfig"]["maxContextLength"] == 4096


def test_create_generates_a_retry_safe_id_when_none_is_given():
    with fireworks_env() as env:
        cfg = config()
        created = env.mgr.create(cfg)
        assert created.job_id == cfg.requested_job_id
        assert created.job_id.startswith("training-api-service-")
        # the same config again reuses the id: the SDK gets 409 and adopts the existing job
        again = env.mgr.create(cfg)
        assert again.job_id == created.job_id
        assert len(env.emu.control_plane.jobs) == 1


def test_create_and_wait_sees_ten_virtual_minutes_of_provisioning_in_real_milliseconds():
    with fireworks_env(timings=Timings(provision_s=600)) as env:
        w0 = wall()
        with virtual_time(env.emu) as vt:
            ep = env.mgr.create_and_wait(config(), poll_interval_s=5, timeout_s=900)
        real = wall() - w0
        print(f"create_and_wait: {vt.elapsed():.0f} virtual s in {real:.3f} wall s")
        assert 600 <= vt.elapsed() < 610
        assert vt.sleeps == pytest.approx(600 / 5, abs=2)
        assert env.state(ep.job_id) is S.RUNNING
        assert ep.base_url == env.gateway(ep.job_id)
        assert ep.max_context_length == 131072  # the base model's context, as a JSON number
        assert env.mgr.boot_time_s == pytest.approx(600, abs=5)
        assert real < 20  # loose: the point is "not 600 s"


def test_wait_for_ready_and_wait_for_existing_return_the_endpoint():
    with fireworks_env() as env:
        created = env.mgr.create(config())
        with virtual_time(env.emu) as vt:
            ep = env.mgr.wait_for_ready(created.job_id)
            assert ep.job_name == created.job_name and vt.elapsed() >= 30
            ep2 = env.mgr.wait_for_existing(created.job_id)
        assert ep2.base_url == ep.base_url == env.gateway(created.job_id)


def test_get_and_try_get_on_a_missing_job():
    with fireworks_env() as env:
        assert env.mgr.try_get("no-such-job") is None
        with pytest.raises(RuntimeError, match="Trainer job no-such-job was not found"):
            env.mgr.get("no-such-job")


def test_delete_leaves_a_tombstone_that_cannot_be_recreated():
    with fireworks_env() as env:
        cfg = config(requested_job_id="job-tomb")
        with virtual_time(env.emu):
            env.mgr.create_and_wait(cfg)
            env.mgr.delete("job-tomb")
            assert env.mgr.get("job-tomb")["state"] == "JOB_STATE_DELETING"
            env.emu.advance(10)
            assert env.mgr.get("job-tomb")["state"] == "JOB_STATE_DELETED"
            with pytest.raises(RuntimeError, match="archived and cannot be recreated"):
                env.mgr.create(cfg)
            with pytest.raises(RuntimeError, match="archived"):
                env.mgr.wait_for_existing("job-tomb")
        env.mgr.delete("no-such-job")  # never raises (the SDK swallows the 404)
        assert len(env.emu.control_plane.jobs) == 1


@pytest.mark.parametrize("fault, stopped", [
    (Preempt(after_running_s=60), S.FAILED),
    (ExternalCancel(after_running_s=60), S.CANCELLED),
    (IdleAutoStop(after_s=600), S.PAUSED),
], ids=["failed", "cancelled", "paused"])
def test_resume_and_wait_brings_a_stopped_job_back(fault, stopped):
    with fireworks_env(faults=FaultPlan.of(fault)) as env:
        with virtual_time(env.emu) as vt:
            ep = env.mgr.create_and_wait(config())
            env.emu.advance(700)
            assert env.state(ep.job_id) is stopped
            assert env.mgr.get(ep.job_id)["state"] == f"JOB_STATE_{stopped.value}"
            t0 = vt.elapsed()
            ep2 = env.mgr.resume_and_wait(ep.job_id)
            assert vt.elapsed() - t0 >= 30  # provisioning again takes virtual time
        assert ep2.base_url == ep.base_url
        assert env.state(ep.job_id) is S.RUNNING and env.job(ep.job_id).resumes == 1


def test_reconnect_and_wait_resumes_after_a_preemption():
    with fireworks_env(faults=FaultPlan.of(Preempt(after_running_s=120))) as env:
        with virtual_time(env.emu):
            ep = env.mgr.create_and_wait(config())
            env.emu.advance(200)
            failed = env.mgr.get(ep.job_id)
            assert failed["state"] == "JOB_STATE_FAILED"
            assert failed["status"]["message"] == "preempted"
            ep2 = env.mgr.reconnect_and_wait(ep.job_id)
        job = env.job(ep.job_id)
        assert ep2.job_id == ep.job_id and job.state is S.RUNNING
        assert (job.preemptions, job.resumes) == (1, 1)


def test_reconnect_and_wait_on_a_running_job_does_not_resume():
    with fireworks_env() as env:
        with virtual_time(env.emu):
            ep = env.mgr.create_and_wait(config())
            env.mgr.reconnect_and_wait(ep.job_id)
        assert env.job(ep.job_id).resumes == 0
        assert not env.emu.events.filter("job.resume")


@pytest.mark.parametrize("via", ["CREATING", "DELETING"])
def test_reconnect_waits_through_a_transitional_state_then_resumes(via):
    plan = FaultPlan.of(Preempt(after_running_s=60, via=via, hold_s=45))
    with fireworks_env(faults=plan) as env:
        with virtual_time(env.emu) as vt:
            ep = env.mgr.create_and_wait(config())
            env.emu.advance(61)
            assert env.mgr.get(ep.job_id)["state"] == f"JOB_STATE_{via}"
            t0 = vt.elapsed()
            env.mgr.reconnect_and_wait(ep.job_id)
            # it polled every 10 s through the 45 s hold, then resumed and provisioned again
            assert vt.elapsed() - t0 >= 45 + 30
        path = [e.detail["dst"] for e in env.emu.events.filter("job.state", job=ep.job_id)]
        assert path == ["CREATING", "RUNNING", via, "FAILED", "CREATING", "RUNNING"]


def test_reconnect_gives_up_on_a_job_stuck_in_a_transitional_state():
    plan = FaultPlan.of(Preempt(after_running_s=60, via="CREATING", hold_s=10_000))
    with fireworks_env(faults=plan) as env:
        with virtual_time(env.emu) as vt:
            ep = env.mgr.create_and_wait(config())
            env.emu.advance(61)
            t0 = vt.elapsed()
            with pytest.raises(RuntimeError, match="stuck in JOB_STATE_CREATING"):
                env.mgr.reconnect_and_wait(ep.job_id, max_wait_for_resumable_s=120)
            assert 120 < vt.elapsed() - t0 <= 131
        assert env.job(ep.job_id).resumes == 0


def test_readiness_timeout_raises_the_sdks_timeout_error():
    with fireworks_env(timings=Timings(provision_s=5_000)) as env:
        with virtual_time(env.emu) as vt:
            with pytest.raises(TimeoutError, match="did not become ready within 300"):
                env.mgr.create_and_wait(config(), timeout_s=300)
            assert 300 <= vt.elapsed() <= 306


def test_a_preemption_during_the_wait_fails_it_at_once_with_the_grpc_status():
    with fireworks_env(faults=FaultPlan.of(Preempt(after_running_s=0))) as env:
        with virtual_time(env.emu) as vt:
            with pytest.raises(RuntimeError, match="failed") as err:
                env.mgr.create_and_wait(config(), timeout_s=900)
            assert vt.elapsed() < 60  # no settle window for FAILED
        carrier = getattr(err.value, "_fireworks_training_error_status", None)
        assert carrier is not None and carrier.status["code"] == 14  # UNAVAILABLE
        assert carrier.status["message"] == "preempted"


def test_an_sdk_driven_run_in_virtual_time_is_deterministic():
    def run() -> str:
        plan = FaultPlan.of(Preempt(after_running_s=300, via="CREATING", hold_s=20))
        with fireworks_env(seed=7, faults=plan) as env:
            with virtual_time(env.emu):
                ep = env.mgr.create_and_wait(config(requested_job_id="job-det"))
                env.emu.advance(400)
                env.mgr.reconnect_and_wait(ep.job_id)
                env.mgr.delete(ep.job_id)
            return env.emu.events.to_jsonl()

    first, second = run(), run()
    assert "fault.preempt" in first and first == second
