"""drydock.sdk.TrainerJobManager against the emulator, in process and over HTTP (virtual time)."""

from __future__ import annotations

import httpx
import pytest

from drydock.emulator import CapacityStarvation, FaultPlan, HoldState, HttpFault, Preempt
from drydock.sdk import (
    AccountMismatchError,
    AuthenticationError,
    ConfigValidationError,
    JobDeletedError,
    JobFailedError,
    JobStuckError,
    NotFoundError,
    RateLimitedError,
    TrainerJobConfig,
    TrainerServiceEndpoint,
    WaitTimeoutError,
)

Q8 = "accounts/fireworks/models/qwen3-8b"


def cfg(job_id: str = "job-a", **kw) -> TrainerJobConfig:
    return TrainerJobConfig(base_model=Q8, requested_job_id=job_id, **kw)


def elapsed(emu) -> float:
    return emu.clock.elapsed()


def test_create_and_wait_runs_in_virtual_time_with_progress(emu, mgr):
    seen: list[tuple[str, float]] = []
    ep = mgr.create_and_wait(cfg(), on_progress=lambda s, e: seen.append((s, e)))
    assert isinstance(ep, TrainerServiceEndpoint)
    assert ep.job_id == "job-a" and ep.job_name == f"accounts/{emu.account_id}/rlorTrainerJobs/job-a"
    assert ep.base_url.endswith(f"/training/v1/rlorTrainerJobs/{emu.account_id}/job-a")
    assert ep.max_context_length == 131072
    # provisioning takes 30 virtual seconds; polled every 5 s, nothing slept for real
    assert elapsed(emu) == pytest.approx(30.0)
    assert seen[0] == ("JOB_STATE_CREATING", 0.0) and seen[-1] == ("JOB_STATE_RUNNING", 30.0)
    assert [e for _, e in seen] == [0, 5, 10, 15, 20, 25, 30]
    assert mgr.boot_time_s == pytest.approx(30.0)
    assert mgr.get("job-a")["state"] == "JOB_STATE_RUNNING"


def test_create_returns_at_once_and_wait_for_existing(emu, mgr):
    created = mgr.create(cfg())
    assert (created.job_id, elapsed(emu)) == ("job-a", 0.0)
    assert mgr.get("job-a").state == "JOB_STATE_CREATING"
    ep = mgr.wait_for_existing("job-a", poll_interval_s=7)
    assert ep.job_id == "job-a" and elapsed(emu) == pytest.approx(35.0)


def test_generated_job_id_is_kept_on_the_config(mgr):
    config = TrainerJobConfig(base_model=Q8)
    created = mgr.create(config)
    assert config.requested_job_id == created.job_id
    assert created.job_id.startswith("training-api-service-") and len(created.job_id) == 29
    # the same config again: 409 -> the existing job is adopted, not a second one
    assert mgr.create(config).job_id == created.job_id


def test_resume_after_preemption(emu, mgr):
    mgr.create_and_wait(cfg())
    emu.inject(FaultPlan.of(Preempt(job="job-a", at_s=elapsed(emu) + 1, reason="spot reclaimed")))
    emu.advance(2)
    with pytest.raises(JobFailedError) as err:
        mgr.wait_for_existing("job-a")
    assert isinstance(err.value, RuntimeError)
    assert err.value.state == "JOB_STATE_FAILED" and err.value.status_message == "spot reclaimed"
    ep = mgr.resume_and_wait("job-a")
    assert ep.job_id == "job-a" and mgr.get("job-a").state == "JOB_STATE_RUNNING"
    assert len(emu.events.filter("job.resume", "job-a")) == 1


def test_reconnect_resumes_failed_and_leaves_running_alone(emu, mgr):
    mgr.create_and_wait(cfg())
    mgr.reconnect_and_wait("job-a")  # RUNNING: no :resume
    assert emu.events.filter("job.resume") == []
    emu.inject(FaultPlan.of(Preempt(job="job-a", at_s=elapsed(emu) + 1)))
    emu.advance(2)
    states: list[str] = []
    mgr.reconnect_and_wait("job-a", on_progress=lambda s, e: states.append(s))
    assert states[0] == "JOB_STATE_FAILED" and states[-1] == "JOB_STATE_RUNNING"
    assert len(emu.events.filter("job.resume", "job-a")) == 1


def test_reconnect_waits_through_a_transitional_state(emu, mgr):
    mgr.create_and_wait(cfg())
    t0 = elapsed(emu)
    emu.inject(FaultPlan.of(Preempt(job="job-a", at_s=t0 + 1, via="DELETING", hold_s=25)))
    emu.advance(2)
    assert mgr.get("job-a").state == "JOB_STATE_DELETING"
    mgr.reconnect_and_wait("job-a")
    assert mgr.get("job-a").state == "JOB_STATE_RUNNING"
    # polled every 10 s while DELETING (until FAILED at +26 s), then resumed
    assert len(emu.events.filter("job.resume", "job-a")) == 1


def test_reconnect_stuck_in_pending_raises_after_max_wait(emu, mgr):
    emu.inject(FaultPlan.of(CapacityStarvation(at_s=0, accelerators=0)))
    mgr.create(cfg())
    with pytest.raises(JobStuckError) as err:
        mgr.reconnect_and_wait("job-a", max_wait_for_resumable_s=60)
    assert err.value.state == "JOB_STATE_PENDING"
    assert 60 < elapsed(emu) <= 80


def test_wait_timeout_carries_the_last_state(emu, mgr):
    emu.inject(FaultPlan.of(HoldState(state="CREATING", seconds=5000)))
    mgr.create(cfg())
    with pytest.raises(TimeoutError) as err:
        mgr.wait_for_existing("job-a", timeout_s=60)
    assert isinstance(err.value, WaitTimeoutError)
    assert err.value.last_state == "JOB_STATE_CREATING" and err.value.elapsed_s >= 60
    assert err.value.job["name"].endswith("/job-a")


def test_pending_timeout_is_separate(emu, mgr):
    emu.inject(FaultPlan.of(CapacityStarvation(at_s=0, accelerators=0)))
    mgr.create(cfg())
    with pytest.raises(WaitTimeoutError) as err:
        mgr.wait_for_existing("job-a", timeout_s=10, pending_timeout_s=100)
    assert err.value.last_state == "JOB_STATE_PENDING" and 100 <= err.value.elapsed_s < 110


def test_delete_leaves_a_tombstone_that_cannot_be_reused(emu, mgr):
    mgr.create_and_wait(cfg())
    assert mgr.delete("job-a") is None
    emu.advance(10)
    assert mgr.get("job-a").state == "JOB_STATE_DELETED"
    with pytest.raises(JobDeletedError):
        mgr.wait_for_existing("job-a")
    with pytest.raises(JobDeletedError) as err:
        mgr.create(cfg())
    assert "cannot be recreated" in str(err.value)
    mgr.delete("no-such-job")  # swallowed, like the real SDK
    with pytest.raises(NotFoundError):
        mgr.delete("no-such-job", raise_on_error=True)


def test_429_retry_after_is_honoured_in_virtual_time(emu, mgr):
    mgr.create(cfg())
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", status=429, retry_after_s=7, count=2)))
    t0 = elapsed(emu)
    assert mgr.get("job-a").state == "JOB_STATE_CREATING"
    # two 429s, each waited out for its Retry-After (7 s), not the default 1 s + 2 s backoff
    assert elapsed(emu) - t0 == pytest.approx(14.0)


def test_429_forever_ends_in_rate_limited_error_after_the_budget(emu, mgr):
    mgr.create(cfg())
    emu.inject(FaultPlan.of(HttpFault(route="jobs.get", status=429, retry_after_s=50, count=0)))
    t0 = elapsed(emu)
    with pytest.raises(RateLimitedError) as err:
        mgr.get("job-a")
    assert isinstance(err.value, RuntimeError) and err.value.status_code == 429
    assert err.value.retry_after_s == 50
    assert elapsed(emu) - t0 == pytest.approx(300.0)


def test_lost_create_response_makes_exactly_one_job(emu, mgr):
    emu.inject(FaultPlan.of(HttpFault(route="jobs.create", status=503, lose_response=True)))
    created = mgr.create(cfg("job-lost"))
    assert created.job_id == "job-lost"
    assert len(emu.events.filter("job.created")) == 1
    assert [j.id for j in emu.control_plane.list_jobs(emu.account_id)] == ["job-lost"]
    assert mgr.wait_for_existing("job-lost").job_id == "job-lost"


def test_bad_key_is_authentication_error_without_retries(emu, make_mgr):
    mgr = make_mgr(api_key="wrong-key")
    with pytest.raises(AuthenticationError) as err:
        mgr.create(cfg())
    exc = err.value
    assert isinstance(exc, httpx.HTTPStatusError) and isinstance(exc, RuntimeError)
    assert exc.status_code == 401 and elapsed(emu) == 0.0
    with pytest.raises(AuthenticationError):
        mgr.reconnect_and_wait("job-a")  # fails fast: a bad key does not heal
    assert elapsed(emu) == 0.0


def test_unknown_job_is_not_found(mgr):
    assert mgr.try_get("nope") is None
    with pytest.raises(NotFoundError) as err:
        mgr.get("nope")
    assert isinstance(err.value, RuntimeError) and err.value.status_code == 404
    assert "Trainer job nope was not found" in str(err.value)


def test_account_id_is_resolved_once(emu, mgr):
    assert mgr.account_id == emu.account_id
    assert mgr.account_id == emu.account_id  # cached: the second read makes no request


def test_account_id_given_to_the_constructor_is_checked_against_the_keys(emu, make_mgr):
    # Seed 000's constructor takes account_id (fireworks-ai 1.2.28 refuses it: docs/sdk.md).
    same = make_mgr(account_id=emu.account_id)
    assert same.create(cfg("job-acct")).job_name == \
        f"accounts/{emu.account_id}/rlorTrainerJobs/job-acct"
    other = make_mgr(account_id="someone-else")
    with pytest.raises(AccountMismatchError) as err:
        other.create(cfg("job-other"))
    assert isinstance(err.value, ValueError)
    assert err.value.account_id == "someone-else" and err.value.key_accounts == [emu.account_id]
    assert "'someone-else' does not match the API key's account" in str(err.value)
    assert [j.id for j in emu.control_plane.list_jobs(emu.account_id)] == ["job-acct"]


def test_checkpoints_and_promotion(emu, mgr):
    mgr.create_and_wait(cfg())
    cp = emu.control_plane
    cp.record_checkpoint(emu.account_id, "job-a", "step-2", "TRAINING", False)
    emu.advance(1)
    cp.record_checkpoint(emu.account_id, "job-a", "sampler-2-0a1b2c3d", "INFERENCE_BASE", True)
    rows = mgr.list_checkpoints("job-a", page_size=1)  # two pages
    assert [r.checkpoint_id for r in rows] == ["step-2", "sampler-2-0a1b2c3d"]
    assert rows[0].is_training_state and not rows[0].promotable and rows[1].promotable
    model = mgr.promote_checkpoint(name=rows[1]["name"], output_model_id="my-model",
                                   base_model=Q8)
    assert model["name"] == f"accounts/{emu.account_id}/models/my-model"
    assert model["state"] == "READY" and "@type" not in model
    with pytest.raises(ConfigValidationError):
        mgr.promote_checkpoint(name=rows[1]["name"], output_model_id="Bad_Id", base_model=Q8)


def test_shapes_and_models(mgr):
    prof = mgr.resolve_training_profile("accounts/fireworks/trainingShapes/qwen3-8b-128k-h200")
    assert prof.training_shape_version.endswith("/versions/2")
    assert prof.training_shape == "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"
    assert prof.accelerator_type == "NVIDIA_H200_141GB" and prof.accelerator_count == 8
    pinned = mgr.resolve_training_profile(prof.training_shape + "/versions/1")
    assert pinned.trainer_image_tag == "0.0.0-drydock.1"
    with pytest.raises(ValueError):
        mgr.resolve_training_profile("qwen3-8b-128k-h200")
    assert mgr.model_is_moe("accounts/fireworks/models/qwen3-30b-a3b") is True
    assert mgr.model_is_moe(Q8) is False
    assert mgr.validate_output_model_id("ok-model") == []
    assert mgr.validate_output_model_id("Bad") != []
