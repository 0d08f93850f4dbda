"""The async twin, and the retry policy on its own (MockTransport, fake clock)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from _fakes import FakeClock

from drydock.emulator import Emulator, FaultPlan, HttpFault, Preempt
from drydock.sdk import (
    AccountMismatchError,
    AsyncTrainerJobManager,
    JobFailedError,
    RetryPolicy,
    ServerError,
    TrainerJobConfig,
    TrainerJobManager,
    instant_retries,
)
from drydock.sdk._retry import retry_after_seconds

Q8 = "accounts/fireworks/models/qwen3-8b"



def test_async_manager_matches_the_sync_one():
    async def run(emu: Emulator) -> tuple[str, str]:
        async with AsyncTrainerJobManager.for_emulator(emu) as mgr:
            ep = await mgr.create_and_wait(TrainerJobConfig(base_model=Q8, requested_job_id="j"))
            emu.inject(FaultPlan.of(Preempt(job="j", at_s=emu.clock.elapsed() + 1)))
            emu.advance(2)
            with pytest.raises(JobFailedError):
                await mgr.wait_for_existing("j")
            await mgr.reconnect_and_wait("j")
            return ep.job_id, (await mgr.get("j")).state

    with Emulator(seed=0) as emu:
        assert asyncio.run(run(emu)) == ("j", "JOB_STATE_RUNNING")
        async_log = [(e.kind, e.detail) for e in emu.events]
    with Emulator(seed=0) as emu:  # the same calls through the sync manager: the same events
        mgr = TrainerJobManager.for_emulator(emu)
        mgr.create_and_wait(TrainerJobConfig(base_model=Q8, requested_job_id="j"))
        emu.inject(FaultPlan.of(Preempt(job="j", at_s=emu.clock.elapsed() + 1)))
        emu.advance(2)
        with pytest.raises(JobFailedError):
            mgr.wait_for_existing("j")
        mgr.reconnect_and_wait("j")
        assert [(e.kind, e.detail) for e in emu.events] == async_log


def _mgr(handler, clock, **kw) -> TrainerJobManager:
    return TrainerJobManager("k", base_url="http://cp.test", clock=clock,
                             http=httpx.Client(transport=httpx.MockTransport(handler)), **kw)


def _accounts_then(statuses: list[int], headers: dict | None = None):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/v1/accounts":
            return httpx.Response(200, json={"accounts": [{"name": "accounts/a"}]})
        status = statuses.pop(0) if statuses else 200
        body = {"name": "accounts/a/rlorTrainerJobs/j", "state": "JOB_STATE_RUNNING"}
        return httpx.Response(status, json=body if status == 200 else {"message": "no"},
                              headers=headers or {})
    return handler, seen


def test_async_manager_checks_account_id_too():
    async def run(emu: Emulator) -> str:
        async with AsyncTrainerJobManager.for_emulator(emu, account_id=emu.account_id) as same:
            assert await same.resolve_account_id() == emu.account_id
        async with AsyncTrainerJobManager.for_emulator(emu, account_id="elsewhere") as other:
            with pytest.raises(AccountMismatchError, match="'elsewhere' does not match"):
                await other.create(TrainerJobConfig(base_model=Q8, requested_job_id="j"))
        return "ok"

    with Emulator(seed=0) as emu:
        assert asyncio.run(run(emu)) == "ok"
        assert emu.control_plane.list_jobs(emu.account_id) == []


def test_default_backoff_is_1_2_4_without_retry_after():
    clock = FakeClock(1000.0)
    handler, seen = _accounts_then([503, 502, 500])
    assert _mgr(handler, clock).get("j").state == "JOB_STATE_RUNNING"
    assert clock.sleeps == [1, 2, 4] and len(seen) == 5


def test_budget_runs_out_with_the_last_response_as_a_typed_error():
    clock = FakeClock(1000.0)
    handler, _ = _accounts_then([503] * 100)
    with pytest.raises(ServerError) as err:
        _mgr(handler, clock, retry=RetryPolicy(budget_s=20)).get("j")
    assert err.value.status_code == 503
    assert clock.sleeps == [1, 2, 4, 8, 5]  # the last sleep is clipped to the budget


def test_instant_retries_keep_decisions_but_skip_waits():
    clock = FakeClock(1000.0)
    handler, seen = _accounts_then([429, 429])
    with instant_retries():
        _mgr(handler, clock).get("j")
    assert clock.sleeps == [0.0, 0.0] and len(seen) == 4


def test_connect_errors_are_retried_and_remote_protocol_errors_are_not():
    clock = FakeClock(1000.0)
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls["n"] == 2:
            return httpx.Response(200, json={"accounts": [{"name": "accounts/a"}]})
        raise httpx.RemoteProtocolError("dropped", request=request)

    with pytest.raises(httpx.RemoteProtocolError):
        _mgr(handler, clock).get("j")
    assert calls["n"] == 3 and clock.sleeps == [1]


def test_retry_after_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    resp = httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    assert 25 <= retry_after_seconds(resp) <= 31
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(httpx.Response(429)) is None


def test_http_fault_503_on_resume_is_retried_in_virtual_time():
    with Emulator(seed=0) as emu:
        mgr = TrainerJobManager.for_emulator(emu)
        mgr.create_and_wait(TrainerJobConfig(base_model=Q8, requested_job_id="j"))
        emu.inject(FaultPlan.of(Preempt(job="j", at_s=emu.clock.elapsed() + 1),
                                HttpFault(route="jobs.resume", status=503, count=2)))
        emu.advance(2)
        t0 = emu.clock.elapsed()
        mgr.resume_and_wait("j")
        assert len(emu.events.filter("job.resume", "j")) == 1
        assert emu.clock.elapsed() - t0 >= 3  # 1 s + 2 s of backoff, then provisioning


def test_promotion_polls_its_operation_every_10s_and_falls_back_without_async():
    clock = FakeClock(1000.0)
    bodies: list[dict] = []
    polls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            bodies.append(body)
            if "async_promotion" in body:  # an older server: unknown field
                return httpx.Response(400, json={"message": "unknown field async_promotion"})
            return httpx.Response(200, json={"operation": {"name": "accounts/a/operations/p1",
                                                           "done": False}})
        polls["n"] += 1
        done = polls["n"] >= 3
        return httpx.Response(200, json={"name": "accounts/a/operations/p1", "done": done,
                                         **({"response": {"@type": "x", "name": "m"}} if done
                                            else {})})

    model = _mgr(handler, clock).promote_checkpoint(
        name="accounts/a/rlorTrainerJobs/j/checkpoints/c-1", output_model_id="m",
        base_model=Q8)
    assert model == {"name": "m"}
    assert [("async_promotion" in b) for b in bodies] == [True, False]
    assert bodies[1] == {"output_model": "accounts/a/models/m",
                         "trainer_job_id": "accounts/a/rlorTrainerJobs/j", "base_model": Q8}
    assert clock.sleeps == [10.0, 10.0, 10.0] and polls["n"] == 3
