"""The real fireworks-ai 1.2.28 TrainerJobManager against drydock: capacity queueing, HTTP
faults and retries, auth failures, in virtual time."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("fireworks.training.sdk.trainer")

from _cp_support import config, fireworks_env

from drydock.emulator import FaultPlan, HttpFault, JobState, default_catalog
from drydock.emulator.shapes import CapacityPool
from drydock.testing import virtual_time

S = JobState


def _small_h100_pool(accelerators: int = 8):
    catalog = default_catalog()
    pools = [p for p in catalog.pools if p.accelerator_type != "NVIDIA_H100_80GB"]
    pools.append(CapacityPool(region=catalog.default_region, accelerator_type="NVIDIA_H100_80GB",
                              accelerators=accelerators))
    return catalog.model_copy(update={"pools": pools})


def _h100x8(job_id: str):
    return config(requested_job_id=job_id, accelerator_type="NVIDIA_H100_80GB", accelerator_count=8)


def test_a_job_beyond_capacity_waits_pending_and_starts_when_the_first_is_deleted():
    with fireworks_env(catalog=_small_h100_pool(8)) as env:
        with virtual_time(env.emu) as vt:
            env.mgr.create_and_wait(_h100x8("first"))
            env.mgr.create(_h100x8("second"))
            assert env.mgr.get("second")["state"] == "JOB_STATE_PENDING"
            # the pending budget runs out while the pool stays full
            t0 = vt.elapsed()
            with pytest.raises(TimeoutError, match="remained pending for capacity"):
                env.mgr.wait_for_ready("second", pending_timeout_s=120)
            assert 120 <= vt.elapsed() - t0 <= 126
            assert env.state("second") is S.PENDING
            env.mgr.delete("first")  # frees the pool: the queued job starts provisioning
            assert env.mgr.get("second")["state"] == "JOB_STATE_CREATING"
            ep = env.mgr.wait_for_ready("second")
        assert ep.job_id == "second" and env.state("second") is S.RUNNING
        starts = [(e.job, e.detail["dst"]) for e in env.emu.events.filter("job.state")
                  if e.detail["dst"] in ("RUNNING", "DELETING")]
        assert starts == [("first", "RUNNING"), ("first", "DELETING"), ("second", "RUNNING")]


def test_create_is_retry_safe_when_the_response_is_lost():
    plan = FaultPlan.of(HttpFault(route="jobs.create", method="POST", status=503,
                                  lose_response=True))
    with fireworks_env(faults=plan) as env:
        with virtual_time(env.emu) as vt:
            created = env.mgr.create(config(requested_job_id="job-lost"))
        # 503 (committed anyway) -> 1 s backoff -> POST again -> 409 -> GET the existing job
        assert created.job_id == "job-lost"
        assert list(env.emu.control_plane.jobs) == [(env.account, "job-lost")]
        assert len(env.emu.events.filter("job.created")) == 1
        assert [e.detail["status"] for e in env.emu.events.filter("fault.http")] == [503]
        assert vt.slept == pytest.approx(1.0)


@pytest.mark.parametrize("status", [429, 503])
def test_transient_errors_on_get_are_retried_with_backoff(status):
    plan = FaultPlan.of(HttpFault(route="jobs.get", status=status, count=2))
    with fireworks_env(faults=plan) as env:
        env.mgr.create(config(requested_job_id="job-flaky"))
        with virtual_time(env.emu) as vt:
            job = env.mgr.get("job-flaky")
        assert job["name"].endswith("/job-flaky")
        assert len(env.emu.events.filter("fault.http")) == 2
        assert vt.sleeps == 2 and vt.slept == pytest.approx(1 + 2)  # the SDK's 1 s, 2 s backoff


def test_persistent_5xx_on_get_ends_after_the_sdks_retry_budget():
    plan = FaultPlan.of(HttpFault(route="jobs.get", status=500, count=0))
    with fireworks_env(faults=plan) as env:
        env.mgr.create(config(requested_job_id="job-down"))
        with virtual_time(env.emu) as vt:
            with pytest.raises(RuntimeError, match=r"Failed to get RLOR job job-down \(HTTP 500\)"):
                env.mgr.get("job-down")
        assert vt.slept == pytest.approx(300)  # MAX_WAIT_TIME, the last sleep clipped


def test_a_wrong_api_key_fails_fast_with_401():
    from fireworks.training.sdk.trainer import TrainerJobManager

    with fireworks_env() as env:
        bad = TrainerJobManager(api_key="not-a-key", base_url=env.server.url)
        try:
            with virtual_time(env.emu) as vt:
                with pytest.raises(httpx.HTTPStatusError, match="401 Unauthorized"):
                    bad.get("anything")
                bad.delete("anything")  # delete swallows even the account-resolution error
            assert vt.sleeps == 0  # no retry loop: 401 is final
        finally:
            bad.close()
