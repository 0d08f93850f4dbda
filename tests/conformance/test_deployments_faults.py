"""Each deployment fault, observed by the real fireworks-ai 1.2.28 SDK as the spec says the real
service shows it: a hot-load that fails (and succeeds when retried), a deployment that stays
CREATING, a sampler 503/429 storm, a replica restart that drops to the base weights, and slow
tokens (virtual time). One trainer serves every deployment of the module."""

from __future__ import annotations

import asyncio

import pytest

fw = pytest.importorskip("fireworks.training.sdk")

from _deployments_support import PROMPT, RL  # noqa: E402

from drydock.emulator import Emulator  # noqa: E402
from drydock.emulator.faults import HoldState, HotLoadFailure, HttpFault, Preempt, TokenLatency  # noqa: E402
from drydock.testing import virtual_time  # noqa: E402
from drydock.trainer import thread_runtime  # noqa: E402

TRAINER = "fault-policy"


@pytest.fixture(scope="module")
def served():
    emu = Emulator(seed=13, runtime=thread_runtime(torch_threads=1))
    with emu, emu.serve() as server:
        first = RL(emu, server, TRAINER, "dep-first")
        try:
            yield emu, server, first
        finally:
            first.close()


def _rl(served, dep_id: str, **kw) -> RL:
    emu, server, _ = served
    return RL(emu, server, TRAINER, dep_id, trainer=False, **kw)


def test_hot_load_failure_then_retry(served) -> None:
    emu = served[0]
    rl = _rl(served, "dep-hotload")
    try:
        emu.inject(fw_plan(HotLoadFailure(job="deployment:dep-hotload", identity="try-0-*")))
        with pytest.raises(RuntimeError, match="Hotload failed for snapshot 'try-0-"):
            rl.sync("try-0")
        st = rl.status()
        assert st["loading_state"]["stage"] == "error" and st["current_snapshot_identity"] is None
        assert "Hotload failed for snapshot 'try-0-" in rl.deps.last_hotload_error_message
        # Retried (the fault fired once): the same snapshot loads.
        with virtual_time(emu):
            assert rl.syncer.hotload(_saved(rl, "try-0"), "base") is True
        assert rl.status()["current_snapshot_identity"].startswith("try-0-")
    finally:
        rl.close()


def _saved(rl: RL, name: str) -> str:
    return f"{name}-{rl.tc.session_id}"


def fw_plan(*faults):
    from drydock.emulator.faults import FaultPlan
    return FaultPlan.of(*faults)


def test_deployment_stays_creating(served) -> None:
    emu = served[0]
    emu.inject(fw_plan(HoldState(job="deployment:dep-slow", state="CREATING", seconds=900)))
    rl = _rl(served, "dep-slow", ready=False)
    try:
        assert rl.created.state == "CREATING"
        with virtual_time(emu):
            t0 = emu.clock.elapsed()
            # While CREATING the probe gets a fast 404: not ready, polled every 15 s.
            with pytest.raises(TimeoutError, match="not ready within"):
                rl.deps.wait_for_ready("dep-slow", timeout_s=120)
            assert 120 <= emu.clock.elapsed() - t0 < 150
            info = rl.deps.wait_for_ready("dep-slow", timeout_s=1800)
        assert info.state == "READY" and emu.clock.elapsed() - t0 >= 900
    finally:
        rl.close()


def test_sampler_503_429_storm_is_retried(served) -> None:
    emu, _, rl = served
    rl.sync("storm-0")
    emu.inject(fw_plan(HttpFault(route="fireworks.inference.completions", status=503, count=2),
                       HttpFault(route="fireworks.inference.completions", status=429, count=1)))
    rl.sampler._RETRY_BASE_BACKOFF_S = 0.01  # the SDK's own loop, with a short backoff
    result = asyncio.run(rl.sampler.sample_with_prompt_tokens_result(
        PROMPT, max_tokens=4, temperature=1.0, logprobs=True))
    assert result.attempts == 4 and len(result.completions) == 1
    statuses = [e.detail["status"] for e in emu.events.filter("fault.http")]
    assert statuses[-3:] == [503, 503, 429]
    # A non-retryable status fails at once with the SDK's HTTPStatusError.
    emu.inject(fw_plan(HttpFault(route="fireworks.inference.completions", status=400, count=1)))
    import httpx
    with pytest.raises(httpx.HTTPStatusError):
        asyncio.run(rl.sampler.sample_with_prompt_tokens(PROMPT, max_tokens=4, logprobs=True))


def test_replica_restart_drops_to_base_snapshot(served) -> None:
    emu = served[0]
    rl = _rl(served, "dep-restart")
    try:
        first = rl.sync("r-0")
        assert rl.status()["current_snapshot_identity"] == first
        emu.inject(fw_plan(Preempt(job="deployment:dep-restart", at_s=emu.clock.elapsed() + 1)))
        emu.advance(2)
        # The replica is restarting: the deployment reads UPDATING, the replica is not ready.
        assert rl.deps.get("dep-restart").state == "UPDATING"
        assert rl.status()["readiness"] is False
        emu.advance(60)
        assert rl.deps.get("dep-restart").state == "READY"
        st = rl.status()
        assert st["current_snapshot_identity"] is None and st["readiness"] is True
        # The syncer's next delta names a base the replica lost: the load fails clearly...
        with pytest.raises(RuntimeError, match="Hotload failed"):
            rl.sync("r-1")
        assert "based on" in emu.events.filter("deployment.hot_load_failed")[-1].detail["error"]
        # ...and a fresh chain (a base load) recovers.
        rl.syncer.reset_delta_chain()
        again = rl.sync("r-2")
        assert rl.status()["current_snapshot_identity"] == again
        s = rl.sample(n=1)[0]
        assert rl.trainer_logprobs(s.full_tokens)[-8:] == s.inference_logprobs
    finally:
        rl.close()


def test_slow_tokens_cost_virtual_time(served) -> None:
    emu, _, rl = served
    rl.sync("slow-0")
    emu.inject(fw_plan(TokenLatency(job="deployment:dep-first", per_token_s=0.25,
                                    until_s=emu.clock.elapsed() + 10_000)))
    t0 = emu.clock.elapsed()
    result = asyncio.run(rl.sampler.sample_with_prompt_tokens_result(
        PROMPT, max_tokens=8, temperature=1.0, logprobs=True))
    assert emu.clock.elapsed() - t0 == pytest.approx(8 * 0.25)
    assert result.completions[0].completion_len == 8
    metrics = rl.sampler.drain_metrics()
    assert metrics and metrics[-1].server_processing_time >= 2.0
