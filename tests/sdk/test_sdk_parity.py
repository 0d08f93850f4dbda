"""Parity: drydock.sdk and the real fireworks-ai 1.2.28 SDK send the same HTTP requests (method,
path, query, JSON body), in the same order, for the same calls against the same emulator.

Both run over a real loopback server whose ASGI app records every request. The real SDK's sleeps
and clock reads are warped onto the emulator's virtual clock (drydock.testing.virtual_time);
drydock.sdk uses EmulatorClock. Expected failures are caught: their *requests* must match too.
"""

from __future__ import annotations

import json
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest

fw_sdk = pytest.importorskip("fireworks.training.sdk")

from drydock.emulator import Emulator, FaultPlan, HttpFault, Preempt, ServerThread  # noqa: E402
from drydock.sdk import EmulatorClock, TrainerJobConfig, TrainerJobManager  # noqa: E402
from drydock.testing import virtual_time  # noqa: E402

Q8 = "accounts/fireworks/models/qwen3-8b"
SHAPE = "accounts/fireworks/trainingShapes/qwen3-8b-128k-h200"


class Recorder:
    """ASGI wrapper: records (method, path, query, json body) and replays the body downstream."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str, str, Any]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:
            msg = await receive()
            messages.append(msg)
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.calls.append((scope["method"], scope["path"], scope["query_string"].decode(),
                           json.loads(body) if body else None))
        pending = iter(messages)

        async def replay():
            return next(pending, None) or await receive()

        return await self.app(scope, replay, send)


def _expect_error(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        return
    raise AssertionError("expected an error")


# Each scenario gets (mgr, Config class, emulator) and makes the same calls with either SDK.
def s_create_wait_get(m, C, emu):
    ep = m.create_and_wait(C(base_model=Q8, requested_job_id="job-a", display_name="parity",
                             lora_rank=8, max_context_length=4096, learning_rate=2e-5))
    m.get(ep.job_id)
    assert m.try_get("missing") is None
    m.wait_for_ready("job-a", job_name=ep.job_name, poll_interval_s=3)
    m.wait_for_existing("job-a")
    _expect_error(lambda: m.get("missing"))


def s_shape_path(m, C, emu):
    m.create(C(base_model=Q8, requested_job_id="job-s", training_shape_ref=SHAPE,
               skip_validations=True, hot_load_deployment_id="dep-1", region="US_VIRGINIA_1",
               extra_args=["--a 1", "--b"], forward_only=True, inactivity_timeout="1800s"))
    m.create(C(base_model=Q8, requested_job_id="job-t", auto_select_training_shape=True,
               max_context_length=8192))
    m.wait_for_existing("job-s", poll_interval_s=10)


def s_resume(m, C, emu):
    m.create_and_wait(C(base_model=Q8, requested_job_id="job-a"))
    emu.inject(FaultPlan.of(Preempt(job="job-a", at_s=emu.clock.elapsed() + 1)))
    emu.advance(2)
    _expect_error(lambda: m.wait_for_existing("job-a"))
    m.resume_and_wait("job-a", poll_interval_s=2)


def s_reconnect(m, C, emu):
    m.create_and_wait(C(base_model=Q8, requested_job_id="job-a"))
    m.reconnect_and_wait("job-a")
    emu.inject(FaultPlan.of(Preempt(job="job-a", at_s=emu.clock.elapsed() + 1, via="DELETING",
                                    hold_s=25)))
    emu.advance(2)
    m.reconnect_and_wait("job-a", poll_interval_s=4, timeout_s=300, max_wait_for_resumable_s=90)


def s_delete(m, C, emu):
    m.create_and_wait(C(base_model=Q8, requested_job_id="job-a"))
    m.delete("job-a")
    emu.advance(10)
    m.get("job-a")
    _expect_error(lambda: m.create(C(base_model=Q8, requested_job_id="job-a")))
    m.delete("never-existed")


def s_lost_create_response(m, C, emu):
    emu.inject(FaultPlan.of(HttpFault(route="jobs.create", status=503, lose_response=True)))
    m.create(C(base_model=Q8, requested_job_id="job-l"))


def s_checkpoints_promote(m, C, emu):
    m.create_and_wait(C(base_model=Q8, requested_job_id="job-a"))
    cp, acct = emu.control_plane, emu.account_id
    for name, kind, promotable in [("step-1", "TRAINING", False),
                                   ("s-1-0a0b0c0d", "INFERENCE_BASE", True),
                                   ("s-2-0a0b0c0d", "INFERENCE_BASE", True)]:
        cp.record_checkpoint(acct, "job-a", name, kind, promotable)
        emu.advance(1)
    rows = m.list_checkpoints("job-a", page_size=2)
    m.promote_checkpoint(name=rows[1]["name"], output_model_id="model-one", base_model=Q8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        m.promote_checkpoint("job-a", "s-2-0a0b0c0d", "model-two", Q8)
    _expect_error(lambda: m.promote_checkpoint(name=rows[0]["name"], output_model_id="model-3",
                                               base_model=Q8))


def s_shapes_models(m, C, emu):
    m.resolve_training_profile(SHAPE)
    m.resolve_training_profile(SHAPE + "/versions/1")
    m.model_is_moe("accounts/fireworks/models/qwen3-30b-a3b")
    _expect_error(lambda: m.model_is_moe("accounts/fireworks/models/no-such-model"))


SCENARIOS = [s_create_wait_get, s_shape_path, s_resume, s_reconnect, s_delete,
             s_lost_create_response, s_checkpoints_promote, s_shapes_models]


def _record(scenario, which: str) -> list[tuple[str, str, str, Any]]:
    emu = Emulator(seed=3)
    rec = Recorder(emu.app)
    server = ServerThread(types.SimpleNamespace(app=rec)).start()
    try:
        if which == "real":
            m = fw_sdk.TrainerJobManager(api_key=emu.api_key, base_url=server.url)
            with virtual_time(emu):
                scenario(m, fw_sdk.TrainerJobConfig, emu)
        else:
            m = TrainerJobManager(emu.api_key, base_url=server.url, clock=EmulatorClock(emu))
            scenario(m, TrainerJobConfig, emu)
        m.close()
    finally:
        server.stop()
        emu.close()
    return rec.calls


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__[2:])
def test_same_requests_as_the_real_sdk(scenario):
    real = _record(scenario, "real")
    ours = _record(scenario, "drydock")
    assert len(real) > 1
    for i, (a, b) in enumerate(zip(real, ours, strict=False)):
        assert a == b, f"request {i} differs:\n real:    {a}\n drydock: {b}"
    assert len(real) == len(ours)
